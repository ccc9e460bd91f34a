// Bridge and bridge-port settings that libnl-route-3 (3.7) has no setter for: VLAN filtering,
// port VLAN entries (RTM_SETLINK/RTM_DELLINK AF_BRIDGE with IFLA_AF_SPEC), hairpin and isolation
// (IFLA_PROTINFO), promiscuous mode, and the operational state the bridge plugin waits on.
//
// Like sysctl.hpp, every function acts on the namespace of the calling thread (each opens its own
// short-lived NETLINK_ROUTE socket there): call them inside in_netns() to act on a container.
// Failures throw NetlinkError (error.hpp), so is_exists()/is_not_found() work on them.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace plexus::net {

// IFLA_BR_VLAN_FILTERING on bridge `bridge_index`.
void set_bridge_vlan_filtering(int bridge_index, bool enabled);

// IFF_PROMISC on any link.
void set_link_promisc(int index, bool enabled);

// IFLA_BRPORT_MODE (hairpin / reflective relay) on a bridge port.
void set_port_hairpin(int port_index, bool enabled);
// IFLA_BRPORT_ISOLATED on a bridge port.
void set_port_isolated(int port_index, bool enabled);

// One VLAN entry of a bridge port, as `bridge vlan show` lists it.
struct PortVlan {
  std::uint16_t vid = 0;
  bool pvid = false;      // BRIDGE_VLAN_INFO_PVID: untagged ingress goes to this VLAN
  bool untagged = false;  // BRIDGE_VLAN_INFO_UNTAGGED: egress leaves untagged

  friend bool operator==(const PortVlan&, const PortVlan&) = default;
};

// Adds (RTM_SETLINK) or removes (RTM_DELLINK) a VLAN on a port, addressed to its master bridge
// (BRIDGE_FLAGS_MASTER), as `bridge vlan add dev <port> vid <vid> [pvid] [untagged] master`.
void add_port_vlan(int port_index, const PortVlan& vlan);
void delete_port_vlan(int port_index, std::uint16_t vid);
// The VLANs configured on `port_index` (RTM_GETLINK dump, AF_BRIDGE, RTEXT_FILTER_BRVLAN), in the
// kernel's order. Empty when the port has none (or the bridge does no VLAN filtering).
std::vector<PortVlan> port_vlans(int port_index);

// IF_OPER_* (RFC 2863), as the kernel reports IFLA_OPERSTATE.
enum class OperState : std::uint8_t {
  Unknown = 0,
  NotPresent = 1,
  Down = 2,
  LowerLayerDown = 3,
  Testing = 4,
  Dormant = 5,
  Up = 6,
};
OperState link_operstate(int index);
// As the reference plugins print it (vishvananda/netlink's LinkOperState): "up",
// "lower-layer-down", "down", ...
std::string_view to_string(OperState state);

}  // namespace plexus::net
