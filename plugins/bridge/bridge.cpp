// bridge: a Linux bridge on the node (created on first use), one veth pair per pod: CNI_IFNAME in
// the pod, veth%08x on the bridge. Behaves as the reference plugin (containernetworking/plugins
// bridge), with ipMasq and macspoofchk done through libnftables in plexus's own tables, a full
// rollback on failure, and an L2 CHECK that works (see README.md for every difference).
#include "nftables.hpp"

#include <plexus/net/bridge.hpp>
#include <plexus/net/net.hpp>
#include <plexus/plugin.hpp>
#include <plexus/scope_guard.hpp>

#include <fmt/format.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <thread>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
namespace net = plexus::net;

// ---- config -------------------------------------------------------------------------------
struct BridgeConfig {
  std::string name;  // the network's
  std::string bridge = "cni0";
  bool is_gateway = false;  // also set by isDefaultGateway
  bool is_default_gateway = false;
  bool force_address = false;
  bool ip_masq = false;
  long long mtu = 0;
  bool hairpin_mode = false;
  bool promisc_mode = false;
  int vlan = 0;                      // access VLAN (pvid, untagged) of the port, 0: none
  std::vector<std::uint16_t> trunk;  // tagged VLANs of the port, sorted, unique
  bool preserve_default_vlan = false;
  bool mac_spoof_check = false;
  bool enable_dad = false;
  bool disable_container_interface = false;
  bool port_isolation = false;
  std::string mac;  // CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac
  std::string ipam_type;
  std::optional<cni::DNS> dns;

  bool vlan_filtering() const { return vlan != 0 || !trunk.empty(); }
};

// ---- parse / validate ---------------------------------------------------------------------
[[noreturn]] void config_error(std::string message) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, std::move(message));
}

// vlanTrunk: [{"id": n} | {"minID": a, "maxID": b}, ...] -> the VLAN ids, sorted and unique.
std::vector<std::uint16_t> parse_vlan_trunk(const cni::ordered_json& raw) {
  const auto* trunk = cni::find_key(raw, "vlanTrunk");
  if (trunk == nullptr) return {};
  if (!trunk->is_array()) {
    config_error("failed to load netconf: json: cannot unmarshal non-array into Go struct field NetConf.vlanTrunk of type []*main.VlanTrunk");
  }
  std::set<std::uint16_t> ids;
  for (const auto& item : *trunk) {
    if (item.is_null()) continue;
    const bool has_min = cni::find_key(item, "minID") != nullptr;
    const bool has_max = cni::find_key(item, "maxID") != nullptr;
    if (has_min && has_max) {
      const auto min_id = cni::int_field(item, "minID");
      if (min_id <= 0 || min_id > 4094) config_error("incorrect trunk minID parameter");
      const auto max_id = cni::int_field(item, "maxID");
      if (max_id <= 0 || max_id > 4094) config_error("incorrect trunk maxID parameter");
      if (max_id < min_id) config_error("minID is greater than maxID in trunk parameter");
      for (auto id = min_id; id <= max_id; ++id) ids.insert(static_cast<std::uint16_t>(id));
    } else if (has_max) {
      config_error("minID and maxID should be configured simultaneously, minID is missing");
    } else if (has_min) {
      config_error("minID and maxID should be configured simultaneously, maxID is missing");
    }
    if (cni::find_key(item, "id") != nullptr) {
      const auto id = cni::int_field(item, "id");
      if (id <= 0 || id > 4094) config_error("incorrect trunk id parameter");
      ids.insert(static_cast<std::uint16_t>(id));
    }
  }
  return {ids.begin(), ids.end()};
}

std::string normalized_mac(const std::string& text) {
  auto parsed = cni::parse_mac(text);
  if (!parsed) config_error(fmt::format("failed to make veth pair: address {}: invalid MAC address", text));
  return *parsed;
}

// The whole config, without looking at any namespace (DEL parses it too, so a bad CNI_ARGS fails
// there as in the reference).
BridgeConfig parse_config(const Call& call) {
  const auto& raw = call.conf().raw;
  BridgeConfig config;
  config.name = call.conf().name;
  config.bridge = cni::string_field(raw, "bridge", "cni0");
  if (config.bridge.empty()) config.bridge = "cni0";
  config.is_default_gateway = cni::bool_field(raw, "isDefaultGateway");
  config.is_gateway = cni::bool_field(raw, "isGateway") || config.is_default_gateway;
  config.force_address = cni::bool_field(raw, "forceAddress");
  config.ip_masq = cni::bool_field(raw, "ipMasq");
  cni::string_field(raw, "ipMasqBackend");  // type-checked only: plexus always uses nftables
  config.mtu = cni::int_field(raw, "mtu");
  config.hairpin_mode = cni::bool_field(raw, "hairpinMode");
  config.promisc_mode = cni::bool_field(raw, "promiscMode");
  const auto vlan = cni::int_field(raw, "vlan");
  if (vlan < 0 || vlan > 4094) config_error(fmt::format("invalid VLAN ID {} (must be between 0 and 4094)", vlan));
  config.vlan = static_cast<int>(vlan);
  config.trunk = parse_vlan_trunk(raw);
  if (config.vlan > 0 && !config.trunk.empty()) config_error("cannot set vlan and vlanTrunk at the same time");
  config.preserve_default_vlan = cni::bool_field(raw, "preserveDefaultVlan");
  config.mac_spoof_check = cni::bool_field(raw, "macspoofchk");
  config.enable_dad = cni::bool_field(raw, "enabledad");
  config.disable_container_interface = cni::bool_field(raw, "disableContainerInterface");
  config.port_isolation = cni::bool_field(raw, "portIsolation");
  config.ipam_type = call.conf().ipam_type();
  config.dns = call.conf().dns();

  const auto args = call.args();
  args.require_known({"MAC"});
  if (auto mac = args.get("MAC"); mac && !mac->empty()) config.mac = *mac;
  const auto conf_args = call.conf().args();
  if (const auto* cni_args = cni::find_key(conf_args, "cni")) {
    if (auto mac = cni::string_field(*cni_args, "mac"); !mac.empty()) config.mac = mac;
  }
  if (auto mac = cni::string_field(call.conf().runtime_config(), "mac"); !mac.empty()) config.mac = mac;
  if (!config.mac.empty()) config.mac = normalized_mac(config.mac);
  return config;
}

// The checks the reference makes at the start of ADD only.
void validate_for_add(const BridgeConfig& config) {
  if (!config.ipam_type.empty() && config.disable_container_interface) {
    config_error("cannot use IPAM when DisableContainerInterface flag is set");
  }
  if (config.hairpin_mode && config.promisc_mode) {
    config_error("cannot set hairpin mode and promiscuous mode at the same time");
  }
}

// ---- helpers ------------------------------------------------------------------------------
std::string go_quoted(std::string_view text) { return fmt::format("\"{}\"", text); }

// The cause of a failed netlink call as the reference prints it ("file exists").
std::string cause(const std::exception& e) {
  if (const auto* nl_error = dynamic_cast<const net::NetlinkError*>(&e)) return nl_error->kernel_message();
  return e.what();
}

// Best effort, as the reference's `_, _ = sysctl.Sysctl(...)`: IPv6 may be disabled.
void try_sysctl(const std::string& key, std::string_view value) {
  try {
    net::write_sysctl(key, value);
  } catch (const std::exception&) {
  }
}

net::Link bridge_by_name(net::Netlink& nl, const std::string& name) {
  auto link = nl.find_link(name);
  if (!link) throw cni::Error(cni::ErrorCode::Internal, fmt::format("could not lookup {}: Link not found", go_quoted(name)));
  if (link->kind != "bridge") throw cni::Error(cni::ErrorCode::Internal, fmt::format("{} already exists but is not a bridge", go_quoted(name)));
  return *link;
}

// What ensure_bridge changed on the node, so that a failed ADD can put it back.
struct BridgeChanges {
  bool created = false;
  bool set_promisc = false;
  bool set_up = false;
};

// ensureBridge: created with the MTU (and vlan_filtering) only when new; an existing bridge is
// taken as it is, as the reference does. Unlike the reference, a link of that name that is no
// bridge (the node's eth0, lo) is refused before anything touches it: the reference sets promisc
// on it first.
net::Link ensure_bridge(net::Netlink& nl, const BridgeConfig& config, BridgeChanges& changes) {
  const auto fail = [&](const std::string& why) {
    return cni::Error(cni::ErrorCode::Internal, fmt::format("failed to create bridge {}: {}", go_quoted(config.bridge), why));
  };
  if (const auto existing = nl.find_link(config.bridge); existing && existing->kind != "bridge") {
    throw fail(fmt::format("{} already exists but is not a bridge", go_quoted(config.bridge)));
  } else if (!existing) {
    try {
      nl.create_bridge({.name = config.bridge, .mtu = static_cast<unsigned>(config.mtu), .mac = ""});
      plexus::ScopeGuard remove_bridge([&] { nl.delete_link(config.bridge); });
      if (config.vlan_filtering()) net::set_bridge_vlan_filtering(nl.link(config.bridge).index, true);
      remove_bridge.dismiss();
      changes.created = true;
    } catch (const std::system_error& e) {
      if (!net::is_exists(e.code())) throw fail(fmt::format("could not add {}: {}", go_quoted(config.bridge), cause(e)));
    }
  }
  net::Link bridge;
  try {
    bridge = bridge_by_name(nl, config.bridge);  // made by another ADD since: still a bridge?
  } catch (const cni::Error& e) {
    throw fail(e.msg());
  }
  if (config.promisc_mode && (bridge.flags & IFF_PROMISC) == 0) {
    try {
      net::set_link_promisc(bridge.index, true);
      changes.set_promisc = true;
    } catch (const std::system_error& e) {
      throw fail(fmt::format("could not set promiscuous mode on {}: {}", go_quoted(config.bridge), cause(e)));
    }
  }
  try_sysctl(fmt::format("net/ipv6/conf/{}/accept_ra", config.bridge), "0");  // we own its routes
  return nl.link(bridge.index);
}

// The reference sets the bridge up in ensureBridge; plexus does it once every other step of ADD
// has worked, since a down link that went up keeps a trace (its qdisc) even when set down again.
void bring_bridge_up(net::Netlink& nl, const net::Link& bridge, BridgeChanges& changes) {
  if (nl.link(bridge.index).is_up()) return;
  nl.set_link_up(bridge.index);
  changes.set_up = true;
}

// A failed ADD's undo of ensure_bridge: a bridge it made goes, one it found gets its flags back;
// unless another pod's port joined it meanwhile, which then keeps it as it is.
void restore_bridge(net::Netlink& nl, int bridge_index, const BridgeChanges& changes) {
  const auto links = nl.links();
  if (std::any_of(links.begin(), links.end(), [&](const net::Link& l) { return l.master_index == bridge_index; })) return;
  if (changes.created) {
    nl.delete_link(bridge_index);
    return;
  }
  if (changes.set_promisc) net::set_link_promisc(bridge_index, false);
  if (changes.set_up) nl.set_link_down(bridge_index);
}

// The VLAN settings of a new bridge port (the pod's host veth, or a <br>.<vlan> gateway's peer).
void configure_port_vlans(const net::Link& port, int vlan, const std::vector<std::uint16_t>& trunk, bool preserve_default) {
  try {
    if ((vlan != 0 || !trunk.empty()) && !preserve_default) {
      for (const auto& existing : net::port_vlans(port.index)) net::delete_port_vlan(port.index, existing.vid);
    }
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to remove default vlan on interface {}: {}", go_quoted(port.name), cause(e)));
  }
  try {
    if (vlan != 0) net::add_port_vlan(port.index, {.vid = static_cast<std::uint16_t>(vlan), .pvid = true, .untagged = true});
    for (const auto id : trunk) net::add_port_vlan(port.index, {.vid = id, .pvid = false, .untagged = false});
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to setup vlan tag on interface {}: {}", go_quoted(port.name), cause(e)));
  }
}

// A host-side veth end just created: up, no router advertisements, then on the bridge with its
// hairpin, isolation and VLAN settings (the reference's SetupVeth + setupVeth tail).
net::Link attach_port(net::Netlink& nl, const std::string& name, const net::Link& bridge, bool hairpin, bool isolated,
                      int vlan, const std::vector<std::uint16_t>& trunk, bool preserve_default) {
  const auto port = nl.link(name);
  try {
    nl.set_link_up(port.index);
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to set {} up: {}", go_quoted(name), cause(e)));
  }
  try_sysctl(fmt::format("net/ipv6/conf/{}/accept_ra", name), "0");
  try {
    nl.set_link_master(port.index, bridge.index);
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to connect {} to bridge {}: {}", go_quoted(name), bridge.name, cause(e)));
  }
  try {
    net::set_port_hairpin(port.index, hairpin);
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to setup hairpin mode for {}: {}", name, cause(e)));
  }
  if (isolated) {
    try {
      net::set_port_isolated(port.index, true);
    } catch (const std::system_error& e) {
      throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to set isolation on {}: {}", name, cause(e)));
    }
  }
  configure_port_vlans(port, vlan, trunk, preserve_default);
  return nl.link(port.index);
}

// The pod's veth pair, made from inside the pod with the host end created directly in the host
// namespace (a name clash there gets another random name, up to 10 times, as ip.SetupVeth).
struct VethPair {
  cni::Interface host;
  cni::Interface container;
};

VethPair create_pod_veth(net::Netlink& host_nl, const net::Netns& host, const net::Netns& pod, const Call& call,
                         const BridgeConfig& config) {
  const std::string ifname = call.ifname();
  std::string peer;
  cni::Interface container = net::in_netns(pod, [&] {
    net::Netlink nl;
    for (int attempt = 0; attempt < 10; ++attempt) {
      peer = net::random_veth_name();
      try {
        nl.create_veth({.name = ifname, .peer_name = peer, .mtu = static_cast<unsigned>(config.mtu), .mac = config.mac,
                        .peer_mac = "", .peer_netns_fd = host.fd()});
        const auto link = nl.link(ifname);
        return cni::Interface{ifname, link.mac, std::nullopt, call.netns(), "", ""};
      } catch (const std::system_error& e) {
        if (!net::is_exists(e.code())) throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to make veth pair: {}", cause(e)));
        if (net::in_netns(host, [&] { return net::Netlink().find_link(peer).has_value(); })) continue;
        throw cni::Error(cni::ErrorCode::Internal,
                         fmt::format("container veth name ({}) peer provided ({}) already exists", go_quoted(ifname), go_quoted(peer)));
      }
    }
    throw cni::Error(cni::ErrorCode::Internal, "failed to find a unique veth name");
  });
  const auto host_link = host_nl.find_link(peer);
  if (!host_link) throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to lookup {}: Link not found", go_quoted(peer)));
  return {cni::Interface{peer, host_link->mac, std::nullopt, "", "", ""}, container};
}

// What ensure_address changed on a link, so that a failed ADD can put it back.
struct AddressChanges {
  int index = 0;
  std::optional<cni::IPNet> added;
  std::vector<cni::IPNet> removed;  // by forceAddress
};

// ensureAddr: the gateway address on the bridge (or its VLAN interface). An IPv4 address, or an
// overlapping IPv6 one, that differs is replaced only with forceAddress.
void ensure_address(net::Netlink& nl, const net::Link& link, const cni::IPNet& gateway, bool force_address,
                    AddressChanges& changes) {
  changes.index = link.index;
  const int family = gateway.ip().is_v4() ? AF_INET : AF_INET6;
  for (const auto& existing : nl.addresses(link.index, family)) {
    if (existing.address == gateway) return;
    const bool conflicts = family == AF_INET || existing.address.contains(gateway.ip()) || gateway.contains(existing.address.ip());
    if (!conflicts) continue;
    if (!force_address) {
      throw cni::Error(cni::ErrorCode::Internal,
                       fmt::format("{} already has an IP address different from {}", go_quoted(link.name), gateway.to_string()));
    }
    try {
      nl.delete_address(link.index, existing.address);
      changes.removed.push_back(existing.address);
    } catch (const std::system_error& e) {
      throw cni::Error(cni::ErrorCode::Internal, fmt::format("could not remove IP address from {}: {}", go_quoted(link.name), cause(e)));
    }
  }
  try {
    nl.add_address(link.index, gateway);
    changes.added = gateway;
  } catch (const std::system_error& e) {
    if (!net::is_exists(e.code())) {
      throw cni::Error(cni::ErrorCode::Internal, fmt::format("could not add IP address to {}: {}", go_quoted(link.name), cause(e)));
    }
  }
  // Pin the MAC: a bridge otherwise takes the lowest port MAC, which changes as pods come and go.
  // A bridge that had no port when it was looked up has the zero MAC, which cannot be set: then
  // pin the one it has now.
  const auto mac = link.mac == "00:00:00:00:00:00" ? nl.link(link.index).mac : link.mac;
  try {
    nl.set_link_mac(link.index, mac);
  } catch (const std::system_error& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("could not set bridge's mac: {}", cause(e)));
  }
}

// A failed ADD's undo of ensure_address: its gateway address goes, the ones it replaced come back.
void restore_addresses(net::Netlink& nl, const AddressChanges& changes) {
  if (changes.added) nl.delete_address(changes.index, *changes.added);
  for (const auto& address : changes.removed) nl.add_address(changes.index, address);
}

// ensureVlanInterface: "<bridge>.<vlan>", a veth whose peer is an access port of that VLAN; it
// carries the gateway address when a VLAN network has isGateway. Shared by every pod of the VLAN.
// `created` tells whether this call made it.
net::Link ensure_vlan_interface(net::Netlink& nl, const net::Link& bridge, const BridgeConfig& config, bool& created) {
  const auto name = fmt::format("{}.{}", bridge.name, config.vlan);
  created = false;
  if (auto existing = nl.find_link(name)) return *existing;
  try {
    const auto peer = net::random_veth_name();
    nl.create_veth({.name = name, .peer_name = peer, .mtu = bridge.mtu, .mac = "", .peer_mac = "", .peer_netns_fd = -1});
    attach_port(nl, peer, bridge, false, false, config.vlan, {}, config.preserve_default_vlan);
    created = true;
    nl.set_link_up(nl.link(name).index);
  } catch (const std::exception& e) {
    if (created) nl.delete_link(name);  // takes the peer along
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("faild to create vlan gateway {}: {}", go_quoted(name), cause(e)));
  }
  return nl.link(name);
}

cni::IPAddress first_host_address(const cni::IPNet& subnet) {
  const auto network = subnet.network().ip();
  std::array<std::uint8_t, 16> bytes{};
  std::copy_n(network.data(), network.size(), bytes.begin());
  for (auto i = static_cast<int>(network.size()) - 1; i >= 0; --i) {
    if (++bytes[static_cast<std::size_t>(i)] != 0) break;
  }
  if (network.is_v4()) return cni::IPAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return cni::IPAddress::v6(bytes);
}

// calcGateways: IPs point at the container interface (index 2); with isGateway a missing gateway
// is the subnet's first address; with isDefaultGateway a default route via it is added unless the
// IPAM already gave one. Returns the gateway addresses (with the pod's prefix) per family.
std::vector<cni::IPNet> compute_gateways(cni::Result& result, const BridgeConfig& config) {
  std::vector<cni::IPNet> gateways;
  bool default_found[2] = {false, false};
  for (auto& ip : result.ips) {
    const bool v4 = ip.address.ip().is_v4();
    ip.interface = 2;
    if (!ip.gateway && config.is_gateway) ip.gateway = first_host_address(ip.address);
    if (config.is_default_gateway) {
      const auto default_dst = *cni::IPNet::parse(v4 ? "0.0.0.0/0" : "::/0");
      auto& found = default_found[v4 ? 0 : 1];
      found = found || std::any_of(result.routes.begin(), result.routes.end(),
                                   [&](const cni::Route& r) { return r.gw && r.dst == default_dst; });
      if (!found) {
        result.routes.push_back(cni::Route{default_dst, ip.gateway, {}, {}, {}, {}, {}});
        found = true;
      }
    }
    if (config.is_gateway) gateways.emplace_back(*ip.gateway, ip.address.prefix());
  }
  return gateways;
}

// Port state: the host veth must reach operstate up within about 2.5 s.
void wait_for_port_up(int index) {
  for (const int sleep_ms : {0, 50, 500, 1000, 1000}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    if (net::link_operstate(index) == net::OperState::Up) return;
  }
  throw cni::Error(cni::ErrorCode::Internal,
                   fmt::format("bridge port in error state: {}", net::to_string(net::link_operstate(index))));
}

net::Netns open_pod_netns(const Call& call) {
  try {
    return net::Netns::open(call.netns());
  } catch (const net::NetnsError& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to open netns {}: {}", go_quoted(call.netns()), e.what()));
  }
}

std::string unique_id(const Call& call) { return call.container_id() + "-" + call.ifname(); }

// ---- commands -----------------------------------------------------------------------------
class Bridge final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "bridge";
  static constexpr const char* kVersion = "0.1.0";

  cni::Result add(const Call& call) override {
    const auto config = parse_config(call);
    validate_for_add(config);
    // Everything that can be checked is checked before the node is touched.
    const auto pod = open_pod_netns(call);
    net::Netlink host_nl;  // this thread's namespace: the node's
    const auto host = net::Netns::current();
    BridgeChanges bridge_changes;
    auto bridge = ensure_bridge(host_nl, config, bridge_changes);
    plexus::ScopeGuard restore_bridge_on_failure([&] { restore_bridge(host_nl, bridge.index, bridge_changes); });
    const std::string ifname = call.ifname();

    auto veth = create_pod_veth(host_nl, host, pod, call, config);
    plexus::ScopeGuard remove_veth([&] {
      net::in_netns(pod, [&] { net::Netlink().delete_link(ifname); });  // takes the host end along
    });
    const auto port = attach_port(host_nl, veth.host.name, bridge, config.hairpin_mode, config.port_isolation, config.vlan,
                                  config.trunk, config.preserve_default_vlan);

    cni::Result result;
    result.interfaces = {cni::Interface{bridge.name, bridge.mac, std::nullopt, "", "", ""}, veth.host, veth.container};

    std::optional<plexus::ScopeGuard> remove_spoof_check;
    if (config.mac_spoof_check) {
      plexus::nft::setup_spoof_check(veth.host.name, veth.container.mac, unique_id(call));
      remove_spoof_check.emplace([&] { plexus::nft::teardown_spoof_check(unique_id(call)); });
    }

    // The gateway addresses and VLAN interface a failed ADD put on the shared bridge go again.
    std::vector<AddressChanges> address_changes;
    plexus::ScopeGuard restore_gateway_addresses([&] {
      for (auto it = address_changes.rbegin(); it != address_changes.rend(); ++it) {
        try {
          restore_addresses(host_nl, *it);
        } catch (const std::exception&) {
          // the others still get theirs back
        }
      }
    });
    std::optional<plexus::ScopeGuard> remove_vlan_interface;
    std::optional<plexus::ScopeGuard> release_ip;
    std::optional<plexus::ScopeGuard> remove_masquerade;
    if (!config.ipam_type.empty()) {
      const auto ipam = call.delegate_add(config.ipam_type);
      release_ip.emplace([&] { call.delegate("DEL", config.ipam_type); });
      result.ips = ipam.ips;
      result.routes = ipam.routes;
      result.dns = ipam.dns;
      if (result.ips.empty()) throw cni::Error(cni::ErrorCode::Internal, "IPAM plugin returned missing IP config");
      const auto gateways = compute_gateways(result, config);

      net::in_netns(pod, [&] {
        if (config.enable_dad) {
          try_sysctl(fmt::format("net/ipv6/conf/{}/enhanced_dad", ifname), "1");
          try_sysctl(fmt::format("net/ipv6/conf/{}/accept_dad", ifname), "1");
        } else {
          try_sysctl(fmt::format("net/ipv6/conf/{}/accept_dad", ifname), "0");
        }
        try_sysctl(fmt::format("net/ipv4/conf/{}/arp_notify", ifname), "1");
        net::Netlink nl;
        net::configure_iface(nl, ifname, result);
      });

      if (config.is_gateway) {
        bool vlan_interface_listed = false;
        for (const int family : {4, 6}) {
          bool any = false;
          for (const auto& gateway : gateways) {
            if (gateway.ip().family() != family) continue;
            any = true;
            if (config.vlan != 0) {
              bool created = false;
              const auto vlan_link = ensure_vlan_interface(host_nl, bridge, config, created);
              if (created) remove_vlan_interface.emplace([&host_nl, name = vlan_link.name] { host_nl.delete_link(name); });
              if (!vlan_interface_listed) {
                result.interfaces.push_back(cni::Interface{vlan_link.name, vlan_link.mac, std::nullopt, "", "", ""});
                vlan_interface_listed = true;
              }
              try {
                ensure_address(host_nl, vlan_link, gateway, config.force_address, address_changes.emplace_back());
              } catch (const cni::Error& e) {
                throw cni::Error(e.code(), fmt::format("failed to set vlan interface for bridge with addr: {}", e.msg()));
              }
            } else {
              try {
                ensure_address(host_nl, bridge, gateway, config.force_address, address_changes.emplace_back());
              } catch (const cni::Error& e) {
                throw cni::Error(e.code(), fmt::format("failed to set bridge addr: {}", e.msg()));
              }
            }
          }
          if (!any) continue;
          try {
            net::write_sysctl(family == 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding", "1");
          } catch (const std::exception& e) {
            throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to enable forwarding: {}", e.what()));
          }
        }
      }

      if (config.ip_masq) {
        std::vector<cni::IPNet> addresses;
        for (const auto& ip : result.ips) addresses.push_back(ip.address);
        remove_masquerade.emplace([&] { plexus::nft::teardown_masquerade(config.name, call.container_id()); });
        plexus::nft::setup_masquerade(config.name, call.container_id(), addresses);
      }
    } else if (!config.disable_container_interface) {
      net::in_netns(pod, [&] {
        net::Netlink nl;
        auto link = nl.find_link(ifname);
        if (!link) throw cni::Error(cni::ErrorCode::Internal, "failed to retrieve link: Link not found");
        try {
          nl.set_link_up(link->index);  // L2: still the pod's end must be up
        } catch (const std::system_error& e) {
          throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to set {} up: {}", go_quoted(ifname), cause(e)));
        }
      });
    }

    bring_bridge_up(host_nl, bridge, bridge_changes);
    // A container end left down (disableContainerInterface) keeps the port down on purpose.
    if (!config.disable_container_interface) wait_for_port_up(port.index);

    // MACs as they are now: the host end may have changed, the bridge's may follow its ports.
    result.interfaces[1].mac = host_nl.link(port.index).mac;
    result.interfaces[0].mac = bridge_by_name(host_nl, config.bridge).mac;
    if (config.dns && !config.dns->empty()) result.dns = *config.dns;

    if (remove_masquerade) remove_masquerade->dismiss();
    if (release_ip) release_ip->dismiss();
    if (remove_vlan_interface) remove_vlan_interface->dismiss();
    restore_gateway_addresses.dismiss();
    if (remove_spoof_check) remove_spoof_check->dismiss();
    remove_veth.dismiss();
    restore_bridge_on_failure.dismiss();
    return result;
  }

  void del(const Call& call) override {
    const auto config = parse_config(call);
    // The rules are named after the network and container, so they go even when the pod's
    // namespace (and with it its addresses) is already gone.
    const auto remove_rules = [&] {
      if (config.mac_spoof_check) plexus::nft::teardown_spoof_check(unique_id(call));
      if (!config.ipam_type.empty() && config.ip_masq) plexus::nft::teardown_masquerade(config.name, call.container_id());
    };
    if (!call.netns().empty()) {
      try {
        net::in_netns(std::filesystem::path(call.netns()), [&] { net::Netlink().delete_link(call.ifname()); });
      } catch (const net::NetnsNotFound&) {
        // The runtime already removed the namespace, and the veth with it (kubernetes#43014).
      }
    }
    // IPAM after the device is gone (plugins#666).
    if (!config.ipam_type.empty()) call.delegate("DEL", config.ipam_type);
    remove_rules();
  }

  void check(const Call& call) override {
    const auto config = parse_config(call);
    const auto pod = open_pod_netns(call);
    // Unlike the reference, an L2 network (no IPAM) has nothing to ask an IPAM plugin about.
    if (!config.ipam_type.empty()) call.delegate("CHECK", config.ipam_type);
    const auto prev = call.conf().prev_result();
    if (!prev) config_error("Required prevResult missing");
    const auto result = cni::parse_result(*prev, call.version());

    cni::Interface bridge_entry;
    cni::Interface container_entry;
    for (const auto& iface : result.interfaces) {
      if (iface.name == config.bridge) {
        bridge_entry = iface;
      } else if (iface.name == call.ifname() && iface.sandbox == call.netns()) {
        container_entry = iface;
      }
    }

    net::Netlink host_nl;
    const auto bridge = check_bridge(host_nl, bridge_entry, config);
    if (call.netns() != container_entry.sandbox) {
      throw internal_error(fmt::format("Sandbox in prevResult {} doesn't match configured netns: {}", container_entry.sandbox, call.netns()));
    }
    const auto container = net::in_netns(pod, [&] {
      net::Netlink nl;
      return check_container(nl, container_entry);
    });

    bool veth_found = false;
    for (const auto& iface : result.interfaces) {
      if (iface.name == bridge_entry.name || iface.name == container_entry.name) continue;
      if (check_host_veth(host_nl, iface, bridge, container)) {
        veth_found = true;
        break;
      }
    }
    if (!veth_found) throw internal_error(fmt::format("CNI veth created for bridge {} was not found", config.bridge));

    net::in_netns(pod, [&] {
      net::Netlink nl;
      check_addresses_and_routes(nl, call.ifname(), result);
    });
  }

  // STATUS and GC concern the addresses, which the IPAM plugin owns.
  void status(const Call& call) override {
    if (const auto ipam_type = call.conf().ipam_type(); !ipam_type.empty()) call.delegate("STATUS", ipam_type);
  }
  void gc(const Call& call) override {
    if (const auto ipam_type = call.conf().ipam_type(); !ipam_type.empty()) call.delegate("GC", ipam_type);
  }

 private:
  static cni::Error internal_error(std::string message) { return cni::Error(cni::ErrorCode::Internal, std::move(message)); }

  // validateInterface: present, and in a sandbox exactly when expected.
  static net::Link find_entry(net::Netlink& nl, const cni::Interface& entry, bool expect_sandbox) {
    if (entry.name.empty()) throw internal_error("Interface name missing ");
    auto link = nl.find_link(entry.name);
    if (!link) throw internal_error(fmt::format("Interface name {} not found", entry.name));
    if (expect_sandbox && entry.sandbox.empty()) throw internal_error(fmt::format("Interface {} is expected to be in a sandbox", entry.name));
    if (!expect_sandbox && !entry.sandbox.empty()) throw internal_error(fmt::format("Interface {} should not be in sandbox", entry.name));
    return *link;
  }

  static net::Link check_bridge(net::Netlink& nl, const cni::Interface& entry, const BridgeConfig& config) {
    if (entry.name.empty()) throw internal_error(fmt::format("CNI created bridge {} in host namespace was not found", config.bridge));
    const auto link = find_entry(nl, entry, false);
    if (link.kind != "bridge") throw internal_error(fmt::format("Interface {} does not have link type of bridge", entry.name));
    if (!entry.mac.empty() && entry.mac != link.mac) {
      throw internal_error(fmt::format("Bridge interface {} Mac doesn't match: {}", entry.name, entry.mac));
    }
    const bool promisc = (link.flags & IFF_PROMISC) != 0;
    if (promisc != config.promisc_mode) {
      throw internal_error(fmt::format("Bridge interface {} configured Promisc Mode {} doesn't match current state: {} ", entry.name,
                                       config.promisc_mode, promisc));
    }
    return link;
  }

  static net::Link check_container(net::Netlink& nl, const cni::Interface& entry) {
    if (entry.name.empty()) throw internal_error("Interface name missing ");
    const auto link = find_entry(nl, entry, true);
    if (link.kind != "veth") throw internal_error(fmt::format("Error: Container interface {} not of type veth", link.name));
    if (link.parent_index == 0) throw internal_error(fmt::format("Unable to obtain veth peer index for veth {}", link.name));
    if (!entry.mac.empty() && entry.mac != link.mac) {
      throw internal_error(fmt::format("Interface {} Mac {} doesn't match container Mac: {}", entry.name, entry.mac, link.mac));
    }
    return link;
  }

  // validateCniVethInterface: true for the host veth whose peer is the container's and whose master
  // is the bridge; other interfaces (not veths, not ours) are skipped.
  static bool check_host_veth(net::Netlink& nl, const cni::Interface& entry, const net::Link& bridge, const net::Link& container) {
    const auto link = find_entry(nl, entry, false);
    if (link.kind != "veth") return false;
    if (link.parent_index == 0) throw internal_error(fmt::format("Unable to obtain veth peer index for veth {}", link.name));
    if (link.index != container.parent_index || container.index != link.parent_index || link.master_index != bridge.index) {
      return false;
    }
    if (!entry.mac.empty() && entry.mac != link.mac) {
      throw internal_error(fmt::format("Interface {} Mac doesn't match: {} not found", entry.name, entry.mac));
    }
    return true;
  }

  // ValidateExpectedInterfaceIPs and ValidateExpectedRoute, in the pod.
  static void check_addresses_and_routes(net::Netlink& nl, const std::string& ifname, const cni::Result& result) {
    const auto link = nl.find_link(ifname);
    if (!link) throw internal_error(fmt::format("Cannot find container link {}", ifname));
    const auto present = nl.addresses(link->index);
    for (const auto& ip : result.ips) {
      const bool found = std::any_of(present.begin(), present.end(), [&](const net::Address& a) { return a.address == ip.address; });
      if (!found) throw internal_error(fmt::format("Failed to match addr {}  on interface {}", ip.address.to_string(), ifname));
    }
    const auto routes = nl.routes({.family = 0, .index = 0, .table = 0});
    for (const auto& expected : result.routes) {
      const bool found = std::any_of(routes.begin(), routes.end(), [&](const net::Route& r) {
        if (r.dst.network() != expected.dst.network()) return false;
        if (!expected.gw) return true;
        return std::any_of(r.nexthops.begin(), r.nexthops.end(), [&](const net::Nexthop& h) { return h.gw == expected.gw; });
      });
      if (!found) {
        throw internal_error(fmt::format("Expected Route {} via {} not found in routing table", expected.dst.to_string(),
                                         expected.gw ? expected.gw->to_string() : std::string("<nil>")));
      }
    }
  }
};

}  // namespace

PLEXUS_PLUGIN(Bridge)
