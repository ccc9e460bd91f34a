// IP addresses and prefixes as Go's net package parses and prints them: host bits are kept in an
// "address/prefix", IPv4-mapped IPv6 addresses are IPv4, IPv6 prints in canonical form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::cni {

class IPAddress {
 public:
  IPAddress() = default;
  static std::optional<IPAddress> parse(std::string_view text);  // net.ParseIP
  static IPAddress v4(std::array<std::uint8_t, 4> bytes);
  static IPAddress v6(std::array<std::uint8_t, 16> bytes);

  bool is_v4() const { return family_ == 4; }
  bool is_v6() const { return family_ == 6; }
  int family() const { return family_; }
  // 4 bytes for v4, 16 for v6.
  const std::uint8_t* data() const { return bytes_.data(); }
  std::size_t size() const { return is_v4() ? 4U : 16U; }
  bool is_unspecified() const;
  std::string to_string() const;

  friend bool operator==(const IPAddress&, const IPAddress&) = default;

 private:
  int family_ = 0;
  std::array<std::uint8_t, 16> bytes_{};
};

class IPNet {
 public:
  IPNet() = default;
  IPNet(IPAddress ip, int prefix) : ip_(ip), prefix_(prefix) {}
  // net.ParseCIDR, keeping the host bits of the address.
  static std::optional<IPNet> parse(std::string_view text);

  const IPAddress& ip() const { return ip_; }
  int prefix() const { return prefix_; }
  IPNet network() const;  // host bits cleared
  bool contains(const IPAddress& address) const;
  std::string to_string() const;  // "ip/prefix"

  friend bool operator==(const IPNet&, const IPNet&) = default;

 private:
  IPAddress ip_;
  int prefix_ = 0;
};

// "aa:bb:cc:dd:ee:ff" (Go's net.ParseMAC also takes 20-byte InfiniBand forms and dashes; plexus
// accepts the 6-byte colon or dash forms, and the 20-byte colon form). Normalised lower-case.
std::optional<std::string> parse_mac(std::string_view text);

}  // namespace plexus::cni
