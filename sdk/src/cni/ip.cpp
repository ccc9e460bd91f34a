#include <plexus/cni/ip.hpp>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace plexus::cni {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

IPAddress IPAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IPAddress ip;
  ip.family_ = 4;
  std::copy(bytes.begin(), bytes.end(), ip.bytes_.begin());
  return ip;
}

IPAddress IPAddress::v6(std::array<std::uint8_t, 16> bytes) {
  // Go treats ::ffff:a.b.c.d as IPv4 (To4 succeeds, String prints dotted).
  if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin())) {
    return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  IPAddress ip;
  ip.family_ = 6;
  ip.bytes_ = bytes;
  return ip;
}

std::optional<IPAddress> IPAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  if (s.find(':') == std::string::npos) {
    // Go rejects leading zeros in IPv4 octets ("010.1.1.1"); inet_pton does too.
    std::array<std::uint8_t, 4> v4bytes{};
    if (inet_pton(AF_INET, s.c_str(), v4bytes.data()) != 1) return std::nullopt;
    return v4(v4bytes);
  }
  std::array<std::uint8_t, 16> v6bytes{};
  if (inet_pton(AF_INET6, s.c_str(), v6bytes.data()) != 1) return std::nullopt;
  return v6(v6bytes);
}

bool IPAddress::is_unspecified() const {
  return family_ != 0 && std::all_of(bytes_.begin(), bytes_.begin() + static_cast<long>(size()),
                                     [](std::uint8_t b) { return b == 0; });
}

std::string IPAddress::to_string() const {
  if (family_ == 0) return "<nil>";
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof(buffer));
  return buffer;
}

std::optional<IPNet> IPNet::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto ip = IPAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const auto prefix_text = text.substr(slash + 1);
  int prefix = -1;
  const auto [end, ec] = std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
  // Go's ParseCIDR: decimal, no sign, no leading zeros beyond "0", within the family's length.
  const bool digits_only = !prefix_text.empty() && std::all_of(prefix_text.begin(), prefix_text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  const int max = ip->is_v4() ? 32 : 128;
  if (!digits_only || ec != std::errc() || end != prefix_text.data() + prefix_text.size() || prefix < 0 ||
      prefix > max || (prefix_text.size() > 1 && prefix_text.front() == '0')) {
    return std::nullopt;
  }
  // "::ffff:1.2.3.4/120" is an IPv4 address with an IPv6 mask in Go; plexus keeps it simple and
  // refuses a v4-mapped address whose prefix does not fit IPv4.
  if (ip->is_v4() && text.substr(0, slash).find(':') != std::string_view::npos) {
    if (prefix < 96) return std::nullopt;
    prefix -= 96;
  }
  return IPNet(*ip, prefix);
}

IPNet IPNet::network() const {
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), ip_.data(), ip_.size());
  for (std::size_t bit = static_cast<std::size_t>(prefix_); bit < ip_.size() * 8; ++bit) {
    bytes[bit / 8] = static_cast<std::uint8_t>(bytes[bit / 8] & ~(0x80U >> (bit % 8)));
  }
  if (ip_.is_v4()) return IPNet(IPAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]}), prefix_);
  return IPNet(IPAddress::v6(bytes), prefix_);
}

bool IPNet::contains(const IPAddress& address) const {
  if (address.family() != ip_.family()) return false;
  return IPNet(address, prefix_).network() == network();
}

std::string IPNet::to_string() const { return fmt::format("{}/{}", ip_.to_string(), prefix_); }

std::optional<std::string> parse_mac(std::string_view text) {
  // 6 or 20 groups of two hex digits separated by ':' or '-' (one separator kind throughout).
  if (text.size() != 17 && text.size() != 59) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i % 3 == 2) {
      if (c != separator) return std::nullopt;
      out += ':';
    } else {
      if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

}  // namespace plexus::cni
