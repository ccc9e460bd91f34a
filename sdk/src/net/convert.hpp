// Internal: conversions between plexus::cni addresses and libnl's nl_addr, and the one place
// where a libnl return code becomes an exception.
#pragma once

#include <plexus/cni/ip.hpp>
#include <plexus/net/error.hpp>
#include <plexus/net/handles.hpp>

#include <string>
#include <string_view>

namespace plexus::net::internal {

// Throws std::system_error in netlink_category() when err < 0.
inline void check(int err, const std::string& what) {
  if (err < 0) throw_netlink_error(err, what);
}

int family_of(const cni::IPAddress& ip);  // AF_INET / AF_INET6

// An nl_addr holding `ip`, with `prefix` set when >= 0.
NlAddrPtr to_nl_addr(const cni::IPAddress& ip, int prefix = -1);
// The IP in `addr` (an empty nl_addr of family F is F's zero address).
cni::IPAddress from_nl_addr(const nl_addr* addr, int family);

// A 6-byte link-layer nl_addr from "aa:bb:cc:dd:ee:ff" (or dashes). Throws std::invalid_argument.
NlAddrPtr mac_to_nl_addr(std::string_view mac);
// "aa:bb:cc:dd:ee:ff", "" for a null or empty address.
std::string mac_from_nl_addr(const nl_addr* addr);

}  // namespace plexus::net::internal
