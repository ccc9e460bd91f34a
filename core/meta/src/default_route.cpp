#include <plexus/meta/default_route.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/invoke/chain.hpp>
#include <plexus/net/error.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/socket.h>

namespace plexus::meta {
namespace {

bool is_default_route(const cni::IPNet& dst) { return dst.prefix() == 0 && dst.ip().is_unspecified(); }

cni::IPNet default_destination(const cni::IPAddress& gateway) {
  return gateway.is_v4() ? cni::IPNet(cni::IPAddress::v4({}), 0) : cni::IPNet(cni::IPAddress::v6({}), 0);
}

std::vector<cni::IPAddress> gateways_of(const Delegate& delegate) {
  std::vector<cni::IPAddress> gateways;
  for (const auto& text : delegate.default_route) {
    const auto gateway = cni::IPAddress::parse(text);
    if (!gateway) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("network \"{}\": invalid IP address \"{}\" in \"default-route\"", delegate.network_name, text));
    }
    gateways.push_back(*gateway);
  }
  return gateways;
}

// In the pod's namespace: the default routes (main table, both families) on `ifname` go, then a
// default route via each gateway is added on it. A missing link has no routes to delete (multus
// would then delete every default route of the namespace; plexus does not).
void rewrite_kernel_default_routes(const std::string& ifname, const std::vector<cni::IPAddress>& gateways) {
  net::Netlink nl;
  const auto link = nl.find_link(ifname);
  if (!link) {
    if (gateways.empty()) return;
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("cannot set the default route: no interface {} in the pod", ifname));
  }
  net::RouteFilter filter;
  filter.index = link->index;
  for (const auto& route : nl.routes(filter)) {
    if (!is_default_route(route.dst)) continue;
    net::RouteSpec spec;
    spec.dst = route.dst;
    if (!route.nexthops.empty()) spec.gw = route.nexthops.front().gw;
    spec.index = link->index;
    spec.priority = route.priority;
    spec.table = route.table;
    try {
      nl.delete_route(spec);
    } catch (const std::exception& e) {
      throw cni::Error(cni::ErrorCode::Internal, fmt::format("error deleting the default route on {}: {}", ifname, e.what()));
    }
  }
  for (const auto& gateway : gateways) {
    net::RouteSpec spec;
    spec.dst = default_destination(gateway);
    spec.gw = gateway;
    spec.index = link->index;
    try {
      nl.add_route(spec);
    } catch (const net::NetlinkError& e) {
      if (net::is_exists(e.code())) continue;  // already there: what was asked for holds
      throw cni::Error(cni::ErrorCode::Internal,
                       fmt::format("error setting the default gateway {} on {}: {}", gateway.to_string(), ifname, e.what()));
    }
  }
}

}  // namespace

void replace_default_routes(cni::Result& result, const std::vector<cni::IPAddress>& gateways) {
  std::erase_if(result.routes, [](const cni::Route& route) { return is_default_route(route.dst); });
  for (const auto& gateway : gateways) {
    cni::Route route;
    route.dst = default_destination(gateway);
    route.gw = gateway;
    result.routes.push_back(route);
  }
}

DefaultRoutePolicy::DefaultRoutePolicy(const std::vector<Delegate>& delegates) {
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (const auto& delegate : delegates) {
    for (const auto& gateway : gateways_of(delegate)) (gateway.is_v4() ? v4 : v6).push_back(gateway.to_string());
    active_ = active_ || !delegate.default_route.empty();
  }
  if (v4.size() > 1 || v6.size() > 1) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("\"default-route\" asks for more than one IPv{} default gateway ({}): ECMP default routes "
                                 "are not supported",
                                 v4.size() > 1 ? 4 : 6, fmt::join(v4.size() > 1 ? v4 : v6, ", ")));
  }
}

void DefaultRoutePolicy::apply(const std::string& netns, const std::string& container_id, const Delegate& delegate,
                               cni::Result& result, const invoke::ResultCache& cache) const {
  if (!active_) return;
  // Some plugins create nothing and return an empty result: nothing of theirs to route.
  if (result.interfaces.empty() && result.ips.empty()) return;
  const auto gateways = gateways_of(delegate);
  net::in_netns(std::filesystem::path(netns), [&] { rewrite_kernel_default_routes(delegate.ifname, gateways); });

  replace_default_routes(result, gateways);
  // libcni's cache entry, so DEL's prevResult and CHECK see the routes the pod has (multus's
  // DeleteDefaultGWCache / AddDefaultGWCache).
  const auto network = invoke::Network::parse(delegate.config);
  if (auto entry = cache.read(network.list.name, container_id, delegate.ifname); entry && entry->result.is_object()) {
    const auto* version = cni::find_key(entry->result, "cniVersion");
    const std::string cached_version = version != nullptr && version->is_string() ? version->get<std::string>() : result.cni_version;
    auto cached = cni::parse_result(entry->result, cached_version);
    replace_default_routes(cached, gateways);
    entry->result = cni::result_to_json(cached, cached_version);
    cache.write(*entry);
  }
}

}  // namespace plexus::meta
