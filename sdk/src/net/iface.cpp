#include <plexus/net/error.hpp>
#include <plexus/net/iface.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/sysctl.hpp>

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace plexus::net {
namespace {

constexpr auto kSettleInterval = std::chrono::milliseconds(50);
constexpr auto kDadSettleTimeout = std::chrono::seconds(5);

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

// The cause as the reference appends it: the kernel's errno in Go's words ("file exists") for a
// netlink error, the code's message for another system error (our what() repeats the operation,
// which the caller's own wording already says).
std::string cause(const std::exception& error) {
  if (const auto* netlink = dynamic_cast<const NetlinkError*>(&error)) return netlink->kernel_message();
  if (const auto* system = dynamic_cast<const std::system_error*>(&error)) {
    if (system->code().category() == std::generic_category()) return errno_text(system->code().value());
    return system->code().message();
  }
  return error.what();
}

std::string scope_name(std::uint8_t scope) {
  switch (scope) {
    case RT_SCOPE_UNIVERSE: return "universe";
    case RT_SCOPE_SITE: return "site";
    case RT_SCOPE_LINK: return "link";
    case RT_SCOPE_HOST: return "host";
    case RT_SCOPE_NOWHERE: return "nowhere";
    default: return std::to_string(scope);
  }
}

Link lookup(Netlink& nl, std::string_view ifname, const char* prefix) {
  std::optional<Link> link;
  try {
    link = nl.find_link(ifname);
  } catch (const std::exception& error) {
    throw std::runtime_error(prefix + cause(error));
  }
  if (!link) throw std::runtime_error(std::string(prefix) + "Link not found");  // netlink's words
  return *link;
}

// disable_ipv6=0 on lo and ifname (a failed read is only reported, as the reference does), then
// keep_addr_on_down=1 so the addresses survive the link going down.
void enable_ipv6(std::string_view ifname) {
  for (const std::string& iface : {std::string("lo"), std::string(ifname)}) {
    const std::string key = "net/ipv6/conf/" + iface + "/disable_ipv6";
    std::string value;
    try {
      value = read_sysctl(key);
    } catch (const std::exception& error) {
      std::cerr << "ipam_linux: failed to read sysctl " << in_quotes(key) << ": " << cause(error) << "\n";
      continue;
    }
    if (value == "0") continue;
    try {
      write_sysctl(key, "0");
    } catch (const std::exception& error) {
      throw std::runtime_error("failed to enable IPv6 for interface " + in_quotes(iface) + " (" + key + "=" + value +
                               "): " + cause(error));
    }
  }
  try {
    write_sysctl("net/ipv6/conf/" + std::string(ifname) + "/keep_addr_on_down", "1");
  } catch (const std::exception& error) {
    throw std::runtime_error("failed to enable keep_addr_on_down for interface " + in_quotes(ifname) + ": " +
                             cause(error));
  }
}

}  // namespace

void settle_addresses(Netlink& nl, std::string_view ifname, std::chrono::milliseconds timeout) {
  const Link link = lookup(nl, ifname, "failed to retrieve link: ");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<Address> addresses;
    try {
      addresses = nl.addresses(link.index, AF_INET6);
    } catch (const std::exception& error) {
      throw std::runtime_error("could not list addresses: " + cause(error));
    }
    bool settled = true;
    for (const Address& address : addresses) {
      if (address.dad_failed()) {
        throw std::runtime_error("link " + std::string(ifname) + " has address " + address.address.ip().to_string() +
                                 " in DADFAILED state");
      }
      if (address.is_tentative()) settled = false;
    }
    if (settled) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("link " + std::string(ifname) + " still has tentative addresses after " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                               " seconds");
    }
    std::this_thread::sleep_for(kSettleInterval);
  }
}

void configure_iface(std::string_view ifname, const cni::Result& result) {
  Netlink nl;
  configure_iface(nl, ifname, result);
}

void configure_iface(Netlink& nl, std::string_view ifname, const cni::Result& result) {
  if (result.interfaces.empty()) throw std::runtime_error("no interfaces to configure");
  const Link link = lookup(nl, ifname, ("failed to lookup " + in_quotes(ifname) + ": ").c_str());

  std::optional<cni::IPAddress> v4_gateway;
  std::optional<cni::IPAddress> v6_gateway;
  bool ipv6_enabled = false;
  for (const cni::IPConfig& ip : result.ips) {
    if (!ip.interface) continue;  // not for any interface of this plugin
    const int position = *ip.interface;
    if (position < 0 || static_cast<std::size_t>(position) >= result.interfaces.size() ||
        result.interfaces[static_cast<std::size_t>(position)].name != ifname) {
      throw std::runtime_error("failed to add IP addr " + ip.address.to_string() + " to " + in_quotes(ifname) +
                               ": invalid interface index");
    }
    if (!ipv6_enabled && ip.address.ip().is_v6()) {
      enable_ipv6(ifname);
      ipv6_enabled = true;
    }
    try {
      nl.add_address(link.index, ip.address);
    } catch (const std::exception& error) {
      throw std::runtime_error("failed to add IP addr " + ip.address.to_string() + " to " + in_quotes(ifname) + ": " +
                               cause(error));
    }
    if (ip.gateway && ip.gateway->is_v4() && !v4_gateway) v4_gateway = ip.gateway;
    if (ip.gateway && ip.gateway->is_v6() && !v6_gateway) v6_gateway = ip.gateway;
  }

  try {
    nl.set_link_up(link.index);
  } catch (const std::exception& error) {
    throw std::runtime_error("failed to set " + in_quotes(ifname) + " UP: " + cause(error));
  }

  if (v6_gateway) {
    try {
      settle_addresses(nl, ifname, kDadSettleTimeout);
    } catch (const std::exception& error) {
      throw std::runtime_error("failed to settle addresses for " + in_quotes(ifname) + ": " + error.what());
    }
  }

  for (const cni::Route& route : result.routes) {
    RouteSpec spec;
    spec.dst = route.dst;
    spec.index = link.index;
    spec.gw = route.gw ? route.gw : (route.dst.ip().is_v4() ? v4_gateway : v6_gateway);
    if (route.priority) spec.priority = static_cast<std::uint32_t>(*route.priority);
    if (route.table) spec.table = static_cast<std::uint32_t>(*route.table);
    if (route.scope) spec.scope = static_cast<std::uint8_t>(*route.scope);
    try {
      nl.add_route_ecmp(spec);
    } catch (const std::exception& error) {
      throw std::runtime_error("failed to add route '" + route.dst.to_string() + " via " +
                               (spec.gw ? spec.gw->to_string() : std::string("<nil>")) + " dev " +
                               std::string(ifname) + " metric " + std::to_string(route.priority.value_or(0)) +
                               " (Scope: " + scope_name(spec.scope.value_or(RT_SCOPE_UNIVERSE)) +
                               ", Table: " + std::to_string(route.table.value_or(0)) + ")': " + cause(error));
    }
  }
}

}  // namespace plexus::net
