// Links, addresses and routes over one rtnetlink socket (libnl-route-3).
//
// A Netlink is bound to the network namespace of the thread that constructs it: build it inside
// in_netns() to act on a container, on the caller's own thread to act on the host. Every
// failure is a NetlinkError (a std::system_error in netlink_category(), see error.hpp):
// is_exists() and is_not_found() tell the cases a plugin must treat specially, kernel_message()
// words the cause as the reference plugins print it. One Netlink per thread.
#pragma once

#include <plexus/cni/ip.hpp>
#include <plexus/net/handles.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::net {

class Netns;

enum class MacvlanMode : std::uint32_t {  // MACVLAN_MODE_*
  Private = 1,
  Vepa = 2,
  Bridge = 4,
  Passthru = 8,
  Source = 16,
};
// "bridge", "private", "vepa", "passthru", "source"; nullopt for anything else.
std::optional<MacvlanMode> parse_macvlan_mode(std::string_view text);
std::string_view to_string(MacvlanMode mode);

// "veth" + 8 random hex digits: the temporary name the reference plugins create links under.
std::string random_veth_name();

// A snapshot of one link as the kernel reported it.
struct Link {
  int index = 0;
  std::string name{};
  std::string kind{};                   // IFLA_INFO_KIND: "macvlan", "veth", "bridge", "" ...
  std::string mac{};                    // "aa:bb:cc:dd:ee:ff" (lower case), "" if none
  unsigned mtu = 0;
  unsigned flags = 0;                   // IFF_*
  int master_index = 0;                 // IFLA_MASTER (bridge), 0 when none
  int parent_index = 0;                 // IFLA_LINK (macvlan master, veth peer), 0 when none
  std::optional<MacvlanMode> macvlan_mode{}; // for kind "macvlan"

  bool is_up() const noexcept;          // IFF_UP
};

struct MacvlanSpec {
  std::string name{};                   // usually random_veth_name(), renamed once in place
  int master_index = 0;                 // in the namespace of the Netlink socket
  MacvlanMode mode = MacvlanMode::Bridge;
  unsigned mtu = 0;                     // 0: the kernel's default (the master's)
  std::string mac{};                    // empty: kernel-chosen
  int netns_fd = -1;                    // >= 0: created directly in that namespace (IFLA_NET_NS_FD)
};

struct VethSpec {
  std::string name{};                   // the end in the socket's namespace
  std::string peer_name{};
  unsigned mtu = 0;                     // both ends; 0: default
  std::string mac{};                    // of `name`; empty: random
  std::string peer_mac{};               // of `peer_name`; empty: random
  int peer_netns_fd = -1;               // >= 0: the peer is created in that namespace
};

struct BridgeSpec {
  std::string name{};
  unsigned mtu = 0;
  std::string mac{};
};

// One address on a link.
struct Address {
  int index = 0;                        // link index
  cni::IPNet address{};                 // local address with its prefix length
  std::optional<cni::IPAddress> broadcast{};
  int scope = 0;                        // RT_SCOPE_*
  unsigned flags = 0;                   // IFA_F_*
  std::string label{};

  bool is_tentative() const noexcept;   // IFA_F_TENTATIVE: DAD still running
  bool dad_failed() const noexcept;     // IFA_F_DADFAILED
};

// What to add or delete. gw and index make the (single) nexthop.
struct RouteSpec {
  cni::IPNet dst{};                     // 0.0.0.0/0 or ::/0 for a default route
  std::optional<cni::IPAddress> gw{};
  int index = 0;                        // output link, 0: none
  std::optional<std::uint32_t> priority{}; // metric; unset: kernel default
  std::optional<std::uint32_t> table{}; // unset: main
  std::optional<std::uint8_t> scope{};  // unset: RT_SCOPE_UNIVERSE, as the reference sends
};

struct Nexthop {
  std::optional<cni::IPAddress> gw{};
  int index = 0;
  int weight = 1;                       // rtnh_hops + 1 for multipath nexthops
};

// One kernel route. A multipath (ECMP) route has several nexthops.
struct Route {
  int family = 0;                       // AF_INET, AF_INET6
  cni::IPNet dst{};
  std::uint32_t table = 0;
  std::uint32_t priority = 0;
  std::uint8_t scope = 0;
  std::uint8_t protocol = 0;            // RTPROT_*
  std::uint8_t type = 0;                // RTN_*
  std::vector<Nexthop> nexthops{};
};

struct RouteFilter {
  int family = 0;                       // 0: both
  int index = 0;                        // 0: any link (a route matches if any nexthop does)
  std::uint32_t table = 254;            // RT_TABLE_MAIN, as netlink.RouteList; 0: every table
};

class Netlink {
 public:
  // Allocates and connects a NETLINK_ROUTE socket in the calling thread's namespace.
  Netlink();

  nl_sock* socket() const noexcept { return sock_.get(); }

  // ---- links
  std::optional<Link> find_link(std::string_view name);
  std::optional<Link> find_link(int index);
  // As find_link, but a missing link throws NLE_OBJ_NOTFOUND ("<what>: Object not found").
  Link link(std::string_view name);
  Link link(int index);
  std::vector<Link> links();

  void create_macvlan(const MacvlanSpec& spec);
  void create_veth(const VethSpec& spec);
  void create_bridge(const BridgeSpec& spec);

  void rename_link(int index, std::string_view new_name); // the link must be down
  void set_link_up(int index);
  void set_link_down(int index);
  void set_link_mtu(int index, unsigned mtu);
  void set_link_mac(int index, std::string_view mac);
  void set_link_master(int index, int master_index); // 0 releases it (nomaster)
  void move_link_to_netns(int index, int netns_fd);
  void move_link_to_netns(int index, const Netns& target);
  // Idempotent: false when there was no such link.
  bool delete_link(std::string_view name);
  bool delete_link(int index);

  // ---- addresses
  // NLM_F_EXCL, as netlink.AddrAdd: an address already there throws is_exists(). An IPv4 address
  // with prefix < 31 gets the subnet broadcast unless one is given (as netlink.AddrAdd does).
  void add_address(int index, const cni::IPNet& address,
                   std::optional<cni::IPAddress> broadcast = std::nullopt);
  // family: AF_UNSPEC (0), AF_INET, AF_INET6.
  std::vector<Address> addresses(int index, int family = 0);
  // Idempotent: false when the address was not there.
  bool delete_address(int index, const cni::IPNet& address);

  // ---- routes
  // NLM_F_EXCL (netlink.RouteAdd): any route to dst with that metric and table throws is_exists().
  void add_route(const RouteSpec& route);
  // NLM_F_APPEND (netlink.RouteAddEcmp): the same dst with another gateway is added next to the
  // first (IPv6 merges it into one multipath route; IPv4 keeps a second route); only an exact
  // duplicate throws is_exists().
  void add_route_ecmp(const RouteSpec& route);
  // Idempotent: false when no such route.
  bool delete_route(const RouteSpec& route);
  std::vector<Route> routes(const RouteFilter& filter = {});

 private:
  // Throws NetlinkError (with the errno the kernel sent, if any) when err < 0.
  void check(int err, const std::string& what);
  // True (and the kernel errno forgotten) when err says "not found".
  bool is_gone(int err);
  RtnlLinkPtr get_link(int index, const char* name, const std::string& what);
  void change_link(int index, rtnl_link* changes, const std::string& what);
  void add_route_flags(const RouteSpec& route, int flags, const char* verb);

  NlSockPtr sock_;
  // Written by the socket's error callback; on the heap so a moved Netlink keeps it valid.
  std::unique_ptr<int> kernel_errno_ = std::make_unique<int>(0);
};

}  // namespace plexus::net
