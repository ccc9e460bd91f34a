// RAII owners for the libnl handles. Every libnl object is owned from the moment it exists; the
// deleters call the matching put/free. Use these when the typed operations in netlink.hpp do
// not cover a case.
#pragma once

#include <memory>

struct nl_sock;
struct nl_cache;
struct nl_addr;
struct rtnl_link;
struct rtnl_addr;
struct rtnl_route;

namespace plexus::net {

struct NlSockDeleter { void operator()(nl_sock* sock) const noexcept; };
struct NlCacheDeleter { void operator()(nl_cache* cache) const noexcept; };
struct NlAddrDeleter { void operator()(nl_addr* addr) const noexcept; };
struct RtnlLinkDeleter { void operator()(rtnl_link* link) const noexcept; };
struct RtnlAddrDeleter { void operator()(rtnl_addr* addr) const noexcept; };
struct RtnlRouteDeleter { void operator()(rtnl_route* route) const noexcept; };

using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;
using NlCachePtr = std::unique_ptr<nl_cache, NlCacheDeleter>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using RtnlLinkPtr = std::unique_ptr<rtnl_link, RtnlLinkDeleter>;
using RtnlAddrPtr = std::unique_ptr<rtnl_addr, RtnlAddrDeleter>;
using RtnlRoutePtr = std::unique_ptr<rtnl_route, RtnlRouteDeleter>;

}  // namespace plexus::net
