// The "sticky" IPAM pool: a fixed, ordered list of slots (address + optional MAC) read from a
// network's "ipam" object. Slot k is replica k of a StatefulSet on every restart and every node.
// One parser for both sides: core/meta claims a slot before any delegate runs, plugins/sticky
// serves the claimed address. Keys (see plugins/sticky/README.md):
//   "pool"        claim namespace shared by every NAD naming it (DNS-1123 label; default "default")
//   "subnet"      CIDR; with "rangeStart"/"rangeEnd" (default: its first/last host)
//   "range"       "A-B" or "A-B/prefix" (the prefix may come from "subnet" instead)
//   "addresses"   explicit list of "ip/prefix"
//   "gateway"     IP (skipped when a range holds it), "routes", "dns"
//   "mac"         {"prefix": "20:01:02:03:04", "start": 5}: slot k gets prefix + (start + k)
//   "macs"        explicit list, one per address
//   "allowDynamic" pods outside a StatefulSet get the first free slot, released on DEL
#pragma once

#include <plexus/cni/ip.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/cni/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::ipam {

inline constexpr std::string_view kStickyType = "sticky";
// A bound on every list the pool materialises, so a "/8" range cannot exhaust memory.
inline constexpr std::size_t kMaxStickySlots = 65536;

struct StickyPool {
  std::string pool = "default";
  std::vector<cni::IPNet> addresses;  // slot k -> address with its prefix
  std::vector<std::string> macs;      // empty, or one per address, normalised lower-case
  std::optional<cni::IPAddress> gateway;
  std::vector<cni::Route> routes;
  cni::DNS dns;
  bool allow_dynamic = false;

  std::size_t size() const { return addresses.size(); }
  std::optional<std::string> mac_for(std::size_t slot) const;
  // The slot holding `address` (prefix ignored), if any.
  std::optional<std::size_t> slot_of(const cni::IPAddress& address) const;
};

// Parses and validates a network's "ipam" object. Every problem is a code 7 cni::Error naming the
// key and the value ("ipam.rangeEnd \"10.0.0.5\" is before ipam.rangeStart \"10.0.0.9\"").
StickyPool parse_sticky_pool(const cni::ordered_json& ipam);

// Whether a plugin config (one conf, or one plugin of a conflist) has ipam.type "sticky".
bool uses_sticky_ipam(const cni::ordered_json& plugin);

// A DNS-1123 name fragment for `address`: "192-168-111-10", "fd00--1".
std::string address_label(const cni::IPAddress& address);

}  // namespace plexus::ipam
