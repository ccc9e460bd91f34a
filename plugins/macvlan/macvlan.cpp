// macvlan: a macvlan link on a node interface, moved into the pod as CNI_IFNAME, addressed by its
// IPAM plugin. Behaves as the reference plugin (containernetworking/plugins macvlan), except that
// a failure after the link exists removes the link and releases the IP (see README.md).
#include <plexus/net/net.hpp>
#include <plexus/plugin.hpp>
#include <plexus/scope_guard.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
namespace net = plexus::net;

// ---- config -------------------------------------------------------------------------------
struct MacvlanConfig {
  std::string master;  // resolved: the default-route interface when the config names none
  net::MacvlanMode mode = net::MacvlanMode::Bridge;
  std::string mode_name = "bridge";
  long long mtu = 0;  // checked against the master's: [0, master MTU]
  std::string mac;  // runtimeConfig.mac > CNI_ARGS MAC > config mac
  bool link_in_container = false;
  std::string ipam_type;
  std::optional<cni::DNS> dns;
};

// ---- parse / validate ---------------------------------------------------------------------
std::pair<net::MacvlanMode, std::string> parse_mode(const std::string& text) {
  if (text.empty() || text == "bridge") return {net::MacvlanMode::Bridge, "bridge"};
  if (text == "private") return {net::MacvlanMode::Private, text};
  if (text == "vepa") return {net::MacvlanMode::Vepa, text};
  if (text == "passthru") return {net::MacvlanMode::Passthru, text};
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("unknown macvlan mode: \"{}\"", text));
}

// The config as written, without looking at any namespace (all DEL needs).
MacvlanConfig parse_config(const Call& call) {
  const auto& raw = call.conf().raw;
  MacvlanConfig config;
  config.master = cni::string_field(raw, "master");
  std::tie(config.mode, config.mode_name) = parse_mode(cni::string_field(raw, "mode"));
  config.mtu = cni::int_field(raw, "mtu");
  config.link_in_container = cni::bool_field(raw, "linkInContainer");
  config.ipam_type = call.conf().ipam_type();
  config.dns = call.conf().dns();

  config.mac = cni::string_field(raw, "mac");
  const auto args = call.args();
  args.require_known({"MAC"});
  if (auto mac = args.get("MAC"); mac && !mac->empty()) config.mac = *mac;
  const auto runtime = call.conf().runtime_config();
  if (auto mac = cni::string_field(runtime, "mac"); !mac.empty()) config.mac = mac;
  if (!config.mac.empty()) {
    auto parsed = cni::parse_mac(config.mac);
    if (!parsed) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("invalid args {} for MAC addr: address {}: invalid MAC address", config.mac, config.mac));
    }
    config.mac = *parsed;
  }
  return config;
}

// The interface of the first default route (a route with a zero-length destination), as the
// reference's getDefaultRouteInterfaceName, in the namespace of the calling thread.
std::string default_route_interface(net::Netlink& nl) {
  for (const auto& route : nl.routes({.family = 0, .index = 0, .table = 254})) {
    if (route.dst.prefix() != 0 || route.nexthops.empty() || route.nexthops.front().index == 0) continue;
    return nl.link(route.nexthops.front().index).name;
  }
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "no default route interface found");
}

// Runs fn with a Netlink in the namespace where the master lives.
template <typename Fn>
auto in_master_netns(const MacvlanConfig& config, const net::Netns& pod, Fn&& fn) {
  if (!config.link_in_container) {
    net::Netlink nl;
    return fn(nl);
  }
  return net::in_netns(pod, [&] {
    net::Netlink nl;
    return fn(nl);
  });
}

// Resolves the master and checks the MTU against it (ADD and CHECK).
net::Link resolve_master(MacvlanConfig& config, const net::Netns& pod) {
  return in_master_netns(config, pod, [&](net::Netlink& nl) {
    if (config.master.empty()) config.master = default_route_interface(nl);
    auto master = nl.find_link(config.master);
    // The reference's loadConf returns netlink's error unwrapped, for ADD and CHECK alike.
    if (!master) throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "Link not found");
    if (config.mtu < 0 || config.mtu > static_cast<long long>(master->mtu)) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("invalid MTU {}, must be [0, master MTU({})]", config.mtu, master->mtu));
    }
    return *master;
  });
}

net::Netns open_pod_netns(const Call& call) {
  try {
    return net::Netns::open(call.netns());
  } catch (const net::NetnsError& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to open netns \"{}\": {}", call.netns(), e.what()));
  }
}

// ---- commands -----------------------------------------------------------------------------
class Macvlan final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "macvlan";
  static constexpr const char* kVersion = "0.1.0";

  cni::Result add(const Call& call) override {
    auto config = parse_config(call);
    const auto pod = open_pod_netns(call);
    const auto master = resolve_master(config, pod);
    const std::string ifname = call.ifname();

    // The link is created under a temporary name directly in the pod (a name clash on the host
    // cannot happen), then renamed in place.
    const auto temp_name = net::random_veth_name();
    in_master_netns(config, pod, [&](net::Netlink& nl) {
      nl.create_macvlan({.name = temp_name, .master_index = master.index, .mode = config.mode,
                         .mtu = static_cast<unsigned>(config.mtu), .mac = config.mac,
                         .netns_fd = config.link_in_container ? -1 : pod.fd()});
      return 0;
    });
    // The rollback names the link by its index in the pod once known, never by CNI_IFNAME: on a
    // duplicate ADD that name belongs to the first attachment, which must survive this failure.
    int link_index = 0;
    plexus::ScopeGuard remove_link([&] {
      net::in_netns(pod, [&] {
        net::Netlink nl;
        if (link_index != 0) {
          nl.delete_link(link_index);
        } else {
          nl.delete_link(temp_name);
        }
      });
    });

    cni::Interface iface = net::in_netns(pod, [&] {
      net::Netlink nl;
      link_index = nl.link(temp_name).index;
      try {
        nl.rename_link(link_index, ifname);
      } catch (const std::system_error& e) {
        const std::string cause = net::is_exists(e.code()) ? "file exists" : e.code().message();
        throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to rename macvlan to \"{}\": {}", ifname, cause));
      }
      return cni::Interface{ifname, nl.link(link_index).mac, std::nullopt, call.netns(), "", ""};
    });

    cni::Result result;
    result.interfaces.push_back(iface);
    if (!config.ipam_type.empty()) {
      const auto ipam = call.delegate_add(config.ipam_type);
      plexus::ScopeGuard release_ip([&] { call.delegate("DEL", config.ipam_type); });
      if (ipam.ips.empty()) throw cni::Error(cni::ErrorCode::Internal, "IPAM plugin returned missing IP config");
      result.ips = ipam.ips;
      result.routes = ipam.routes;
      for (auto& ip : result.ips) ip.interface = 0;
      net::in_netns(pod, [&] {
        // The kernel sends gratuitous ARP / unsolicited NA when the link comes up.
        for (const auto& key : {fmt::format("net/ipv4/conf/{}/arp_notify", ifname),
                                fmt::format("net/ipv6/conf/{}/ndisc_notify", ifname)}) {
          try {
            net::write_sysctl(key, "1");
          } catch (const std::exception&) {
            // As the reference: best effort (IPv6 may be disabled).
          }
        }
        net::Netlink nl;
        net::configure_iface(nl, ifname, result);
      });
      release_ip.dismiss();
    } else {
      net::in_netns(pod, [&] {
        net::Netlink nl;
        nl.set_link_up(nl.link(ifname).index);
      });
    }
    // The config's own dns, not the IPAM's (as the reference).
    result.dns = config.dns.value_or(cni::DNS{});
    remove_link.dismiss();
    call.log(plexus::LogLevel::info, fmt::format("macvlan {} on {} (mode {}, mac {}) in {}", ifname, config.master,
                                                 config.mode_name, iface.mac, call.netns()));
    return result;
  }

  void del(const Call& call) override {
    const auto ipam_type = call.conf().ipam_type();
    // IPAM first: the address must be released even if the link is already gone.
    if (!ipam_type.empty()) call.delegate("DEL", ipam_type);
    if (call.netns().empty()) return;
    try {
      net::in_netns(std::filesystem::path(call.netns()), [&] {
        net::Netlink nl;
        nl.delete_link(call.ifname());
      });
    } catch (const net::NetnsNotFound&) {
      // The runtime already removed the namespace, and the link with it.
    }
  }

  void check(const Call& call) override {
    auto config = parse_config(call);
    const auto pod = open_pod_netns(call);
    if (!config.ipam_type.empty()) call.delegate("CHECK", config.ipam_type);
    const auto prev = call.conf().prev_result();
    if (!prev) throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "required prevResult missing");
    const auto result = cni::parse_result(*prev, call.version());

    const auto own = std::find_if(result.interfaces.begin(), result.interfaces.end(), [&](const cni::Interface& i) {
      return i.name == call.ifname() && i.sandbox == call.netns();
    });
    if (own == result.interfaces.end()) {
      throw cni::Error(cni::ErrorCode::Internal,
                       fmt::format("sandbox in prevResult  doesn't match configured netns: {}", call.netns()));
    }
    resolve_master(config, pod);
    net::in_netns(pod, [&] {
      net::Netlink nl;
      const auto link = nl.find_link(own->name);
      if (!link) throw cni::Error(cni::ErrorCode::Internal, fmt::format("container Interface name in prevResult: {} not found", own->name));
      if (link->kind != "macvlan") {
        throw cni::Error(cni::ErrorCode::Internal, fmt::format("error: Container interface {} not of type macvlan", link->name));
      }
      if (link->macvlan_mode != config.mode) {
        const auto actual = link->macvlan_mode ? std::string(net::to_string(*link->macvlan_mode)) : std::string("unknown");
        throw cni::Error(cni::ErrorCode::Internal,
                         fmt::format("container macvlan mode {} does not match expected value: {}", actual, config.mode_name));
      }
      if (!own->mac.empty() && own->mac != link->mac) {
        throw cni::Error(cni::ErrorCode::Internal,
                         fmt::format("interface {} Mac {} doesn't match container Mac: {}", own->name, own->mac, link->mac));
      }
      const auto present = nl.addresses(link->index);
      for (const auto& ip : result.ips) {
        if (ip.interface && (*ip.interface < 0 || static_cast<std::size_t>(*ip.interface) >= result.interfaces.size() ||
                             result.interfaces[static_cast<std::size_t>(*ip.interface)].name != own->name)) {
          continue;
        }
        const bool found = std::any_of(present.begin(), present.end(), [&](const net::Address& a) { return a.address == ip.address; });
        if (!found) throw cni::Error(cni::ErrorCode::Internal, fmt::format("Failed to match addr {} on interface {}", ip.address.to_string(), own->name));
      }
      const auto routes = nl.routes({.family = 0, .index = 0, .table = 0});
      for (const auto& expected : result.routes) {
        const bool found = std::any_of(routes.begin(), routes.end(), [&](const net::Route& r) {
          if (r.dst.network() != expected.dst.network()) return false;
          if (!expected.gw) return true;
          return std::any_of(r.nexthops.begin(), r.nexthops.end(), [&](const net::Nexthop& h) { return h.gw == expected.gw; });
        });
        if (!found) throw cni::Error(cni::ErrorCode::Internal, fmt::format("Failed to match route {} on interface {}", expected.dst.to_string(), own->name));
      }
    });
  }

  // STATUS and GC concern the addresses, which the IPAM plugin owns.
  void status(const Call& call) override {
    if (const auto ipam_type = call.conf().ipam_type(); !ipam_type.empty()) call.delegate("STATUS", ipam_type);
  }
  void gc(const Call& call) override {
    if (const auto ipam_type = call.conf().ipam_type(); !ipam_type.empty()) call.delegate("GC", ipam_type);
  }
};

}  // namespace

PLEXUS_PLUGIN(Macvlan)
