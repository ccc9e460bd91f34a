#include <plexus/cni/errors.hpp>
#include <plexus/cni/go_decode.hpp>

#include <fmt/format.h>

namespace plexus::cni {

std::string_view go_json_kind(const ordered_json& value) {
  if (value.is_string()) return "string";
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "bool";
  if (value.is_array()) return "array";
  return "object";
}

void GoDecoder::fail(std::string message) const { throw Error(code_, std::move(message)); }

void GoDecoder::type_error(const ordered_json& value, std::string_view field, std::string_view go_type) const {
  fail(fmt::format("json: cannot unmarshal {} into Go struct field {} of type {}", go_json_kind(value), field, go_type));
}

const ordered_json* GoDecoder::member(const ordered_json& object, std::string_view key) const {
  return object.is_object() ? find_key(object, key) : nullptr;
}

std::string GoDecoder::string(const ordered_json& object, std::string_view key, std::string_view field) const {
  const auto* value = member(object, key);
  if (value == nullptr) return {};
  if (!value->is_string()) type_error(*value, field, "string");
  return value->get<std::string>();
}

std::optional<IPAddress> GoDecoder::ip(const ordered_json& object, std::string_view key, std::string_view field) const {
  const auto* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) type_error(*value, field, "net.IP");
  const auto text = value->get<std::string>();
  if (text.empty()) return std::nullopt;
  auto parsed = IPAddress::parse(text);
  if (!parsed) fail(fmt::format("invalid IP address: {}", text));
  return parsed;
}

std::optional<IPNet> GoDecoder::cidr(const ordered_json& object, std::string_view key, std::string_view field) const {
  const auto* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) type_error(*value, field, "string");
  const auto text = value->get<std::string>();
  auto net = IPNet::parse(text);
  if (!net) fail(fmt::format("invalid CIDR address: {}", text));
  return net;
}

}  // namespace plexus::cni
