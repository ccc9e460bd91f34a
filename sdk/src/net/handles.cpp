#include <plexus/net/handles.hpp>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

namespace plexus::net {

void NlSockDeleter::operator()(nl_sock* sock) const noexcept { nl_socket_free(sock); }
void NlCacheDeleter::operator()(nl_cache* cache) const noexcept { nl_cache_free(cache); }
void NlAddrDeleter::operator()(nl_addr* addr) const noexcept { nl_addr_put(addr); }
void RtnlLinkDeleter::operator()(rtnl_link* link) const noexcept { rtnl_link_put(link); }
void RtnlAddrDeleter::operator()(rtnl_addr* addr) const noexcept { rtnl_addr_put(addr); }
void RtnlRouteDeleter::operator()(rtnl_route* route) const noexcept { rtnl_route_put(route); }

}  // namespace plexus::net
