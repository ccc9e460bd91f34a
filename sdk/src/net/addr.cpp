#include <plexus/net/netlink.hpp>

#include "convert.hpp"

#include <linux/if_addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>

#include <array>
#include <cstdint>

namespace plexus::net {
namespace {

RtnlAddrPtr addr_object(int index, const cni::IPNet& address) {
  RtnlAddrPtr addr(rtnl_addr_alloc());
  if (!addr) throw std::bad_alloc();
  rtnl_addr_set_ifindex(addr.get(), index);
  rtnl_addr_set_family(addr.get(), internal::family_of(address.ip()));
  internal::check(rtnl_addr_set_local(addr.get(), internal::to_nl_addr(address.ip(), address.prefix()).get()),
        "failed to build address " + address.to_string());
  rtnl_addr_set_prefixlen(addr.get(), address.prefix());
  return addr;
}

// The subnet broadcast of an IPv4 address: host bits all ones.
cni::IPAddress broadcast_of(const cni::IPNet& address) {
  std::array<std::uint8_t, 4> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits_in_byte = std::max(0, std::min(8, address.prefix() - static_cast<int>(i) * 8));
    const auto host_mask = static_cast<std::uint8_t>(0xffU >> bits_in_byte);
    bytes[i] = static_cast<std::uint8_t>(address.ip().data()[i] | host_mask);
  }
  return cni::IPAddress::v4(bytes);
}

}  // namespace

bool Address::is_tentative() const noexcept { return (flags & IFA_F_TENTATIVE) != 0; }
bool Address::dad_failed() const noexcept { return (flags & IFA_F_DADFAILED) != 0; }

void Netlink::add_address(int index, const cni::IPNet& address, std::optional<cni::IPAddress> broadcast) {
  const RtnlAddrPtr addr = addr_object(index, address);
  if (!broadcast && address.ip().is_v4() && address.prefix() < 31) broadcast = broadcast_of(address);
  if (broadcast) {
    internal::check(rtnl_addr_set_broadcast(addr.get(), internal::to_nl_addr(*broadcast).get()),
          "failed to build broadcast " + broadcast->to_string());
  }
  check(rtnl_addr_add(sock_.get(), addr.get(), NLM_F_EXCL),
        "failed to add address " + address.to_string() + " to link " + std::to_string(index));
}

std::vector<Address> Netlink::addresses(int index, int family) {
  nl_cache* raw = nullptr;
  const int err = rtnl_addr_alloc_cache(sock_.get(), &raw);
  NlCachePtr cache(raw);
  check(err, "failed to list addresses");
  std::vector<Address> out;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr; object = nl_cache_get_next(object)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(object);
    const int addr_family = rtnl_addr_get_family(addr);
    if (rtnl_addr_get_ifindex(addr) != index) continue;
    if (family != AF_UNSPEC && addr_family != family) continue;
    if (addr_family != AF_INET && addr_family != AF_INET6) continue;
    Address entry;
    entry.index = index;
    entry.address = cni::IPNet(internal::from_nl_addr(rtnl_addr_get_local(addr), addr_family),
                               rtnl_addr_get_prefixlen(addr));
    if (const nl_addr* brd = rtnl_addr_get_broadcast(addr); brd != nullptr && nl_addr_get_len(brd) != 0) {
      entry.broadcast = internal::from_nl_addr(brd, addr_family);
    }
    entry.scope = rtnl_addr_get_scope(addr);
    entry.flags = rtnl_addr_get_flags(addr);
    if (const char* label = rtnl_addr_get_label(addr)) entry.label = label;
    out.push_back(std::move(entry));
  }
  return out;
}

bool Netlink::delete_address(int index, const cni::IPNet& address) {
  const RtnlAddrPtr addr = addr_object(index, address);
  const int err = rtnl_addr_delete(sock_.get(), addr.get(), 0);
  if (is_gone(err)) return false;
  check(err, "failed to delete address " + address.to_string() + " from link " + std::to_string(index));
  return true;
}

}  // namespace plexus::net
