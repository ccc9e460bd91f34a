#include "convert.hpp"

#include <netlink/addr.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace plexus::net::internal {

int family_of(const cni::IPAddress& ip) { return ip.is_v4() ? AF_INET : AF_INET6; }

NlAddrPtr to_nl_addr(const cni::IPAddress& ip, int prefix) {
  if (ip.family() == 0) throw std::invalid_argument("netlink: empty IP address");
  NlAddrPtr addr(nl_addr_build(family_of(ip), ip.data(), ip.size()));
  if (!addr) throw std::bad_alloc();
  if (prefix >= 0) nl_addr_set_prefixlen(addr.get(), prefix);
  return addr;
}

cni::IPAddress from_nl_addr(const nl_addr* addr, int family) {
  const unsigned len = addr != nullptr ? nl_addr_get_len(addr) : 0U;
  const auto* bytes = addr != nullptr ? static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(addr)) : nullptr;
  if (family == AF_INET) {
    std::array<std::uint8_t, 4> v4{};
    if (len == v4.size()) std::memcpy(v4.data(), bytes, v4.size());
    return cni::IPAddress::v4(v4);
  }
  std::array<std::uint8_t, 16> v6{};
  if (len == v6.size()) std::memcpy(v6.data(), bytes, v6.size());
  return cni::IPAddress::v6(v6);
}

NlAddrPtr mac_to_nl_addr(std::string_view mac) {
  const auto normalised = cni::parse_mac(mac);
  std::array<std::uint8_t, 6> bytes{};
  if (!normalised || normalised->size() != 17) {
    throw std::invalid_argument("invalid MAC address: \"" + std::string(mac) + "\"");
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(std::stoul(normalised->substr(i * 3, 2), nullptr, 16));
  }
  NlAddrPtr addr(nl_addr_build(AF_LLC, bytes.data(), bytes.size()));
  if (!addr) throw std::bad_alloc();
  return addr;
}

std::string mac_from_nl_addr(const nl_addr* addr) {
  if (addr == nullptr || nl_addr_get_len(addr) == 0) return {};
  const auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(addr));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned i = 0; i < nl_addr_get_len(addr); ++i) {
    if (i != 0) text += ':';
    text += kHex[bytes[i] >> 4];
    text += kHex[bytes[i] & 0x0f];
  }
  return text;
}

}  // namespace plexus::net::internal
