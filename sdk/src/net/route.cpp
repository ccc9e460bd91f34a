#include <plexus/net/netlink.hpp>

#include "convert.hpp"

#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

namespace plexus::net {
namespace {

std::string describe(const RouteSpec& spec) {
  std::string text = spec.dst.to_string();
  if (spec.gw) text += " via " + spec.gw->to_string();
  if (spec.index != 0) text += " dev " + std::to_string(spec.index);
  if (spec.priority) text += " metric " + std::to_string(*spec.priority);
  if (spec.table) text += " table " + std::to_string(*spec.table);
  return text;
}

// libnl cannot send RT_SCOPE_NOWHERE (it guesses a scope instead), so the scope is always
// explicit: what the spec says, else `scope`.
RtnlRoutePtr route_object(const RouteSpec& spec, std::uint8_t scope, std::uint8_t protocol) {
  RtnlRoutePtr route(rtnl_route_alloc());
  if (!route) throw std::bad_alloc();
  const int family = internal::family_of(spec.dst.ip());
  rtnl_route_set_family(route.get(), static_cast<std::uint8_t>(family));
  internal::check(rtnl_route_set_dst(route.get(), internal::to_nl_addr(spec.dst.ip(), spec.dst.prefix()).get()),
        "failed to build route " + describe(spec));
  rtnl_route_set_table(route.get(), spec.table.value_or(RT_TABLE_MAIN));
  rtnl_route_set_scope(route.get(), spec.scope.value_or(scope));
  rtnl_route_set_protocol(route.get(), protocol);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  if (spec.priority) rtnl_route_set_priority(route.get(), *spec.priority);
  if (spec.gw || spec.index != 0) {
    rtnl_nexthop* nexthop = rtnl_route_nh_alloc();
    if (nexthop == nullptr) throw std::bad_alloc();
    rtnl_route_add_nexthop(route.get(), nexthop);  // the route owns it from here
    if (spec.index != 0) rtnl_route_nh_set_ifindex(nexthop, spec.index);
    if (spec.gw) rtnl_route_nh_set_gateway(nexthop, internal::to_nl_addr(*spec.gw).get());
  }
  return route;
}

}  // namespace

// Scope universe and protocol "boot" are what vishvananda/netlink sends for a route without
// them, so routes look in `ip route` as the reference plugins leave them.
void Netlink::add_route_flags(const RouteSpec& spec, int flags, const char* verb) {
  const RtnlRoutePtr route = route_object(spec, RT_SCOPE_UNIVERSE, RTPROT_BOOT);
  check(rtnl_route_add(sock_.get(), route.get(), flags), std::string(verb) + describe(spec));
}

void Netlink::add_route(const RouteSpec& spec) { add_route_flags(spec, NLM_F_EXCL, "failed to add route "); }

void Netlink::add_route_ecmp(const RouteSpec& spec) {
  add_route_flags(spec, NLM_F_APPEND, "failed to add route ");
}

bool Netlink::delete_route(const RouteSpec& spec) {
  // IPv4 matches the scope on delete and libnl cannot send "any scope": without one given, try
  // the scopes a route to a device can have, universe first (what add_route sends).
  const std::uint8_t scopes[] = {RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST};
  int err = 0;
  for (const std::uint8_t scope : scopes) {
    const RtnlRoutePtr route = route_object(spec, scope, RTPROT_UNSPEC);
    err = rtnl_route_delete(sock_.get(), route.get(), 0);
    if (err >= 0 || !is_not_found(make_netlink_error(err)) || spec.scope) break;
  }
  if (is_gone(err)) return false;
  check(err, "failed to delete route " + describe(spec));
  return true;
}

std::vector<Route> Netlink::routes(const RouteFilter& filter) {
  nl_cache* raw = nullptr;
  const int err = rtnl_route_alloc_cache(sock_.get(), filter.family, 0, &raw);
  NlCachePtr cache(raw);
  check(err, "failed to list routes");
  std::vector<Route> out;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr; object = nl_cache_get_next(object)) {
    auto* route = reinterpret_cast<rtnl_route*>(object);
    const int family = rtnl_route_get_family(route);
    if (family != AF_INET && family != AF_INET6) continue;
    if (filter.table != 0 && rtnl_route_get_table(route) != filter.table) continue;
    Route entry;
    entry.family = family;
    const nl_addr* dst = rtnl_route_get_dst(route);
    entry.dst = cni::IPNet(internal::from_nl_addr(dst, family), dst != nullptr ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0);
    entry.table = rtnl_route_get_table(route);
    entry.priority = rtnl_route_get_priority(route);
    entry.scope = rtnl_route_get_scope(route);
    entry.protocol = rtnl_route_get_protocol(route);
    entry.type = rtnl_route_get_type(route);
    bool on_link = filter.index == 0;
    for (int i = 0; i < rtnl_route_get_nnexthops(route); ++i) {
      rtnl_nexthop* nexthop = rtnl_route_nexthop_n(route, i);
      Nexthop hop;
      if (const nl_addr* gw = rtnl_route_nh_get_gateway(nexthop); gw != nullptr && nl_addr_get_len(gw) != 0) {
        hop.gw = internal::from_nl_addr(gw, family);
      }
      hop.index = rtnl_route_nh_get_ifindex(nexthop);
      hop.weight = rtnl_route_nh_get_weight(nexthop) + 1;
      on_link = on_link || hop.index == filter.index;
      entry.nexthops.push_back(hop);
    }
    if (!on_link) continue;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace plexus::net
