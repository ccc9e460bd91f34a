// Reading a plugin's own config the way Go's encoding/json fills a struct, for plugins that keep
// the reference's exact messages (static, host-local): a value of the wrong JSON type fails with
// "json: cannot unmarshal <kind> into Go struct field <field> of type <go type>", and addresses
// with net.IP / types.IPNet's words, all thrown as cni::Error with the code the plugin chooses.
#pragma once

#include <plexus/cni/ip.hpp>
#include <plexus/cni/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace plexus::cni {

// Go's name for a JSON value's kind in decode errors: string, number, bool, array, object.
std::string_view go_json_kind(const ordered_json& value);

class GoDecoder {
 public:
  explicit GoDecoder(int code) : code_(code) {}

  [[noreturn]] void fail(std::string message) const;
  [[noreturn]] void type_error(const ordered_json& value, std::string_view field, std::string_view go_type) const;

  // The value under `key` (case-insensitive, null = absent); null when `object` is no object.
  const ordered_json* member(const ordered_json& object, std::string_view key) const;
  std::string string(const ordered_json& object, std::string_view key, std::string_view field) const;
  // net.IP: "invalid IP address: x"; an empty string is absent.
  std::optional<IPAddress> ip(const ordered_json& object, std::string_view key, std::string_view field) const;
  // types.IPNet: "invalid CIDR address: x"; host bits kept.
  std::optional<IPNet> cidr(const ordered_json& object, std::string_view key, std::string_view field) const;

 private:
  int code_;
};

}  // namespace plexus::cni
