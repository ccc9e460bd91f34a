#include <plexus/ipam/sticky_pool.hpp>

#include <plexus/cni/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace plexus::ipam {
namespace {

using cni::IPAddress;
using cni::IPNet;
using cni::ordered_json;
using Bytes = std::array<std::uint8_t, 16>;

[[noreturn]] void invalid(std::string message) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, std::move(message));
}

Bytes bytes_of(const IPAddress& ip) {
  Bytes out{};
  std::copy(ip.data(), ip.data() + ip.size(), out.begin());
  return out;
}

IPAddress address_of(const Bytes& bytes, int family) {
  if (family == 4) return IPAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return IPAddress::v6(bytes);
}

// Big-endian compare over the family's bytes.
int compare(const IPAddress& a, const IPAddress& b) {
  const auto x = bytes_of(a);
  const auto y = bytes_of(b);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

IPAddress next(const IPAddress& ip) {
  auto bytes = bytes_of(ip);
  for (std::size_t i = ip.size(); i-- > 0;) {
    if (++bytes[i] != 0) break;
  }
  return address_of(bytes, ip.family());
}

// The subnet's first and last usable host: IPv4 skips the network and broadcast address (except
// for /31 and /32), IPv6 only the subnet-router anycast address.
std::pair<IPAddress, IPAddress> host_bounds(const IPNet& subnet) {
  const auto network = subnet.network().ip();
  auto last = bytes_of(network);
  const std::size_t bits = network.size() * 8;
  for (auto bit = static_cast<std::size_t>(subnet.prefix()); bit < bits; ++bit) {
    last[bit / 8] = static_cast<std::uint8_t>(last[bit / 8] | (0x80U >> (bit % 8)));
  }
  auto last_ip = address_of(last, network.family());
  if (network.is_v4() && subnet.prefix() >= 31) return {network, last_ip};
  if (network.is_v4()) {
    last[3] = static_cast<std::uint8_t>(last[3] - 1);
    last_ip = address_of(last, 4);
  }
  return {next(network), last_ip};
}

const ordered_json* member(const ordered_json& object, std::string_view key) {
  const auto* value = cni::find_key(object, key);
  return value == nullptr || value->is_null() ? nullptr : value;
}

std::string string_member(const ordered_json& object, std::string_view key) {
  const auto* value = member(object, key);
  if (value == nullptr) return {};
  if (!value->is_string()) invalid(fmt::format("ipam.{} must be a string, got {}", key, value->dump()));
  return value->get<std::string>();
}

std::vector<std::string> string_list_member(const ordered_json& object, std::string_view key) {
  std::vector<std::string> out;
  const auto* value = member(object, key);
  if (value == nullptr) return out;
  if (!value->is_array()) invalid(fmt::format("ipam.{} must be a list of strings, got {}", key, value->dump()));
  for (const auto& item : *value) {
    if (!item.is_string()) invalid(fmt::format("ipam.{} must be a list of strings, got {}", key, item.dump()));
    out.push_back(item.get<std::string>());
  }
  if (out.size() > kMaxStickySlots) invalid(fmt::format("ipam.{} has {} entries, at most {}", key, out.size(), kMaxStickySlots));
  return out;
}

IPAddress parse_ip(std::string_view key, std::string_view text) {
  const auto ip = IPAddress::parse(text);
  if (!ip) invalid(fmt::format("ipam.{} \"{}\" is not an IP address", key, text));
  return *ip;
}

bool is_dns1123_label(std::string_view text) {
  if (text.empty() || text.size() > 40) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(text.front()) || !alnum(text.back())) return false;
  return std::all_of(text.begin(), text.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// Every address from `first` to `last` inside `subnet`, the gateway skipped.
std::vector<IPNet> expand_range(const IPAddress& first, const IPAddress& last, const IPNet& subnet,
                                const std::optional<IPAddress>& gateway, std::string_view what) {
  if (first.family() != subnet.ip().family() || last.family() != subnet.ip().family()) {
    invalid(fmt::format("ipam.{}: {} and {} are not both of the subnet {}'s family", what, first.to_string(),
                        last.to_string(), subnet.to_string()));
  }
  for (const auto* ip : {&first, &last}) {
    if (!subnet.contains(*ip)) invalid(fmt::format("ipam.{}: {} is outside the subnet {}", what, ip->to_string(), subnet.network().to_string()));
  }
  if (compare(first, last) > 0) invalid(fmt::format("ipam.{}: the range end {} is before its start {}", what, last.to_string(), first.to_string()));
  std::vector<IPNet> out;
  for (auto ip = first;; ip = next(ip)) {
    if (!gateway || !(*gateway == ip)) {
      if (out.size() == kMaxStickySlots) invalid(fmt::format("ipam.{}: more than {} addresses", what, kMaxStickySlots));
      out.emplace_back(ip, subnet.prefix());
    }
    if (ip == last) break;
  }
  return out;
}

std::vector<IPNet> parse_addresses(const ordered_json& ipam, const std::optional<IPAddress>& gateway) {
  const auto listed = string_list_member(ipam, "addresses");
  const auto range = string_member(ipam, "range");
  const auto subnet_text = string_member(ipam, "subnet");
  const auto start_text = string_member(ipam, "rangeStart");
  const auto end_text = string_member(ipam, "rangeEnd");
  const int kinds = (listed.empty() ? 0 : 1) + (range.empty() ? 0 : 1) + (subnet_text.empty() || !range.empty() ? 0 : 1);
  if (kinds == 0) invalid("ipam: sticky needs \"range\", \"subnet\" (with optional rangeStart/rangeEnd) or \"addresses\"");
  if (kinds > 1) invalid("ipam: give only one of \"range\", \"subnet\"+rangeStart/rangeEnd and \"addresses\"");

  if (!listed.empty()) {
    std::vector<IPNet> out;
    for (const auto& text : listed) {
      const auto net = IPNet::parse(text);
      if (!net) invalid(fmt::format("ipam.addresses: \"{}\" is not in CIDR notation (ip/prefix)", text));
      if (gateway && *gateway == net->ip()) invalid(fmt::format("ipam.addresses: \"{}\" is the gateway", text));
      out.push_back(*net);
    }
    return out;
  }

  std::optional<IPNet> subnet;
  if (!subnet_text.empty()) {
    subnet = IPNet::parse(subnet_text);
    if (!subnet) invalid(fmt::format("ipam.subnet \"{}\" is not in CIDR notation", subnet_text));
  }
  if (!range.empty()) {
    if (!start_text.empty() || !end_text.empty()) invalid("ipam: \"range\" and rangeStart/rangeEnd exclude each other");
    auto bounds = std::string_view(range);
    if (const auto slash = bounds.find('/'); slash != std::string_view::npos) {
      int prefix = -1;
      const auto digits = bounds.substr(slash + 1);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (error != std::errc() || end != digits.data() + digits.size()) invalid(fmt::format("ipam.range \"{}\": bad prefix length", range));
      bounds = bounds.substr(0, slash);
      const auto dash = bounds.find('-');
      const auto first = IPAddress::parse(bounds.substr(0, dash));
      if (!first || prefix < 0 || prefix > static_cast<int>(first->size()) * 8) invalid(fmt::format("ipam.range \"{}\" is not \"A-B/prefix\"", range));
      const IPNet implied(*first, prefix);
      if (subnet && !(subnet->network() == implied.network())) invalid(fmt::format("ipam.range \"{}\" disagrees with ipam.subnet \"{}\"", range, subnet_text));
      subnet = implied;
    }
    if (!subnet) invalid(fmt::format("ipam.range \"{}\" needs a prefix length (\"A-B/24\") or ipam.subnet", range));
    const auto dash = bounds.find('-');
    if (dash == std::string_view::npos) invalid(fmt::format("ipam.range \"{}\" is not \"A-B\"", range));
    const auto first = parse_ip("range", bounds.substr(0, dash));
    const auto last = parse_ip("range", bounds.substr(dash + 1));
    return expand_range(first, last, *subnet, gateway, "range");
  }
  auto [first, last] = host_bounds(*subnet);
  if (!start_text.empty()) first = parse_ip("rangeStart", start_text);
  if (!end_text.empty()) last = parse_ip("rangeEnd", end_text);
  return expand_range(first, last, *subnet, gateway, "subnet");
}

std::string format_mac(const std::array<std::uint8_t, 6>& octets) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", octets[0], octets[1], octets[2], octets[3], octets[4],
                     octets[5]);
}

std::array<std::uint8_t, 6> octets_of(const std::string& mac) {
  std::array<std::uint8_t, 6> out{};
  for (std::size_t i = 0; i < 6; ++i) out[i] = static_cast<std::uint8_t>(std::stoi(mac.substr(i * 3, 2), nullptr, 16));
  return out;
}

void require_unicast(const std::array<std::uint8_t, 6>& octets, std::string_view key, std::string_view text) {
  if ((octets[0] & 0x01) != 0) invalid(fmt::format("ipam.{} \"{}\" is a multicast MAC (first octet odd)", key, text));
}

std::vector<std::string> parse_macs(const ordered_json& ipam, std::size_t slots) {
  std::vector<std::string> out;
  const auto listed = string_list_member(ipam, "macs");
  const auto* rule = member(ipam, "mac");
  if (!listed.empty() && rule != nullptr) invalid("ipam: give either \"mac\" or \"macs\", not both");
  if (!listed.empty()) {
    if (listed.size() != slots) invalid(fmt::format("ipam.macs has {} entries but the pool has {} addresses", listed.size(), slots));
    std::set<std::string> seen;
    for (const auto& text : listed) {
      const auto mac = cni::parse_mac(text);
      if (!mac || mac->size() != 17) invalid(fmt::format("ipam.macs: \"{}\" is not a MAC address", text));
      require_unicast(octets_of(*mac), "macs", text);
      if (!seen.insert(*mac).second) invalid(fmt::format("ipam.macs: \"{}\" is listed twice", text));
      out.push_back(*mac);
    }
    return out;
  }
  if (rule == nullptr) return out;
  if (!rule->is_object()) invalid(fmt::format("ipam.mac must be an object {{\"prefix\": ..., \"start\": N}}, got {}", rule->dump()));
  const auto prefix_text = string_member(*rule, "prefix");
  std::vector<std::uint8_t> prefix;
  for (std::size_t at = 0; at < prefix_text.size(); at += 3) {
    const auto octet = prefix_text.substr(at, 2);
    const bool hex = octet.size() == 2 && std::all_of(octet.begin(), octet.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    const bool separated = at + 2 == prefix_text.size() || prefix_text[at + 2] == ':';
    if (!hex || !separated) invalid(fmt::format("ipam.mac.prefix \"{}\" is not 1 to 5 octets like \"20:01:02:03:04\"", prefix_text));
    prefix.push_back(static_cast<std::uint8_t>(std::stoi(octet, nullptr, 16)));
  }
  if (prefix.empty() || prefix.size() > 5) invalid(fmt::format("ipam.mac.prefix \"{}\" is not 1 to 5 octets like \"20:01:02:03:04\"", prefix_text));
  std::uint64_t start = 0;
  if (const auto* value = member(*rule, "start")) {
    if (!value->is_number_unsigned()) invalid(fmt::format("ipam.mac.start must be a non-negative integer, got {}", value->dump()));
    start = value->get<std::uint64_t>();
  }
  const std::size_t free_bits = (6 - prefix.size()) * 8;
  const std::uint64_t capacity = std::uint64_t{1} << free_bits;
  if (start >= capacity || capacity - start < slots) {
    invalid(fmt::format("ipam.mac: prefix \"{}\" with start {} leaves room for {} MACs, the pool has {} addresses", prefix_text,
                        start, start >= capacity ? 0 : capacity - start, slots));
  }
  std::array<std::uint8_t, 6> octets{};
  std::copy(prefix.begin(), prefix.end(), octets.begin());
  require_unicast(octets, "mac.prefix", prefix_text);
  for (std::size_t slot = 0; slot < slots; ++slot) {
    auto value = start + slot;
    for (std::size_t i = 6; i-- > prefix.size();) {
      octets[i] = static_cast<std::uint8_t>(value & 0xff);
      value >>= 8;
    }
    out.push_back(format_mac(octets));
  }
  return out;
}

}  // namespace

std::optional<std::string> StickyPool::mac_for(std::size_t slot) const {
  if (slot >= macs.size()) return std::nullopt;
  return macs[slot];
}

std::optional<std::size_t> StickyPool::slot_of(const IPAddress& address) const {
  for (std::size_t slot = 0; slot < addresses.size(); ++slot) {
    if (addresses[slot].ip() == address) return slot;
  }
  return std::nullopt;
}

StickyPool parse_sticky_pool(const ordered_json& ipam) {
  if (!ipam.is_object()) invalid(fmt::format("ipam must be an object, got {}", ipam.dump()));
  StickyPool pool;
  if (const auto name = string_member(ipam, "pool"); !name.empty()) {
    if (!is_dns1123_label(name)) invalid(fmt::format("ipam.pool \"{}\" is not a DNS-1123 label of at most 40 characters", name));
    pool.pool = name;
  }
  if (const auto gateway = string_member(ipam, "gateway"); !gateway.empty()) pool.gateway = parse_ip("gateway", gateway);
  pool.addresses = parse_addresses(ipam, pool.gateway);
  std::set<std::string> seen;
  for (const auto& address : pool.addresses) {
    if (!seen.insert(address.ip().to_string()).second) invalid(fmt::format("ipam: address {} is listed twice", address.ip().to_string()));
  }
  pool.macs = parse_macs(ipam, pool.size());

  if (const auto* routes = member(ipam, "routes")) {
    if (!routes->is_array()) invalid(fmt::format("ipam.routes must be a list, got {}", routes->dump()));
    for (const auto& item : *routes) {
      const auto dst = item.is_object() ? string_member(item, "dst") : std::string();
      const auto parsed = IPNet::parse(dst);
      if (!parsed) invalid(fmt::format("ipam.routes: {} has no valid \"dst\" CIDR", item.dump()));
      cni::Route route;
      route.dst = *parsed;
      if (const auto gw = string_member(item, "gw"); !gw.empty()) route.gw = parse_ip("routes.gw", gw);
      pool.routes.push_back(route);
    }
  }
  if (const auto* dns = member(ipam, "dns")) {
    try {
      pool.dns = cni::parse_dns(*dns);
    } catch (const std::exception& e) {
      invalid(fmt::format("ipam.dns: {}", e.what()));
    }
  }
  if (const auto* dynamic = member(ipam, "allowDynamic")) {
    if (!dynamic->is_boolean()) invalid(fmt::format("ipam.allowDynamic must be true or false, got {}", dynamic->dump()));
    pool.allow_dynamic = dynamic->get<bool>();
  }
  return pool;
}

bool uses_sticky_ipam(const ordered_json& plugin) {
  const auto* ipam = cni::find_key(plugin, "ipam");
  if (ipam == nullptr || !ipam->is_object()) return false;
  const auto* type = cni::find_key(*ipam, "type");
  return type != nullptr && type->is_string() && type->get<std::string>() == kStickyType;
}

std::string address_label(const IPAddress& address) {
  auto text = address.to_string();
  for (auto& c : text) {
    if (c == '.' || c == ':') c = '-';
  }
  return text;
}

}  // namespace plexus::ipam
