#include <plexus/meta/selection.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/cni/ip.hpp>

#include <fmt/format.h>

#include <cctype>

namespace plexus::meta {
namespace {

using cni::ordered_json;

[[noreturn]] void fail(std::string_view what) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                   fmt::format("invalid network selection annotation: {}", what));
}

std::string_view trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n\v\f");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n\v\f");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::string json_quoted(std::string_view text) { return cni::go_marshal(ordered_json(std::string(text))); }

// The comma form: "[ns/]name[@ifname]".
NetworkSelection parse_text_element(std::string_view item) {
  NetworkSelection selection;
  const auto slash = split(item, '/');
  if (slash.size() > 2) fail(fmt::format("{}: more than one '/'", json_quoted(item)));
  std::string_view rest = slash.back();
  if (slash.size() == 2) selection.namespace_name = std::string(trim(slash[0]));
  const auto at = split(rest, '@');
  if (at.size() > 2) fail(fmt::format("{}: more than one '@'", json_quoted(item)));
  selection.name = std::string(trim(at[0]));
  if (at.size() == 2) selection.interface = std::string(trim(at[1]));
  if (slash.size() == 2 && selection.namespace_name.empty()) fail(fmt::format("{}: empty namespace", json_quoted(item)));
  if (at.size() == 2 && selection.interface.empty()) {
    fail(fmt::format("{}: network {} asks for an empty interface name", json_quoted(item), json_quoted(selection.name)));
  }
  return selection;
}

std::string string_member(const ordered_json& element, std::string_view key) {
  const auto* value = cni::find_key(element, key);
  if (value == nullptr) return {};
  if (!value->is_string()) fail(fmt::format("\"{}\" must be a string, got {}", key, cni::go_marshal(*value)));
  return value->get<std::string>();
}

std::vector<std::string> string_list_member(const ordered_json& element, std::string_view key) {
  const auto* value = cni::find_key(element, key);
  std::vector<std::string> out;
  if (value == nullptr) return out;
  if (!value->is_array()) fail(fmt::format("\"{}\" must be a list of strings, got {}", key, cni::go_marshal(*value)));
  for (const auto& item : *value) {
    if (!item.is_string()) fail(fmt::format("\"{}\" must be a list of strings, got {}", key, cni::go_marshal(*value)));
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<ordered_json> typed_member(const ordered_json& element, std::string_view key, bool want_array) {
  const auto* value = cni::find_key(element, key);
  if (value == nullptr) return std::nullopt;
  if (want_array ? !value->is_array() : !value->is_object()) {
    fail(fmt::format("\"{}\" must be {}, got {}", key, want_array ? "a list" : "an object", cni::go_marshal(*value)));
  }
  return *value;
}

NetworkSelection parse_json_element(const ordered_json& element) {
  if (!element.is_object()) fail(fmt::format("each element must be an object, got {}", cni::go_marshal(element)));
  NetworkSelection selection;
  selection.name = string_member(element, "name");
  selection.namespace_name = string_member(element, "namespace");
  selection.interface = string_member(element, "interface");
  if (selection.interface.empty()) selection.interface = string_member(element, "interfaceRequest");
  selection.ips = string_list_member(element, "ips");
  selection.mac = string_member(element, "mac");
  selection.infiniband_guid = string_member(element, "infiniband-guid");
  selection.default_route = string_list_member(element, "default-route");
  selection.port_mappings = typed_member(element, "portMappings", true);
  selection.bandwidth = typed_member(element, "bandwidth", false);
  selection.cni_args = typed_member(element, "cni-args", false);
  selection.device_id = string_member(element, "deviceID");
  return selection;
}

void validate(const NetworkSelection& selection) {
  if (selection.name.empty()) fail("an element has no network name");
  if (!is_dns1123_label(selection.name)) {
    fail(fmt::format("network name {} is not a DNS-1123 label (lower case alphanumerics and '-', "
                     "starting and ending with an alphanumeric, at most 63)", json_quoted(selection.name)));
  }
  if (!selection.namespace_name.empty() && !is_dns1123_label(selection.namespace_name)) {
    fail(fmt::format("namespace {} is not a DNS-1123 label (lower case alphanumerics and '-', "
                     "starting and ending with an alphanumeric, at most 63)", json_quoted(selection.namespace_name)));
  }
  if (!selection.interface.empty() && !is_valid_ifname(selection.interface)) {
    fail(fmt::format("network {} asks for interface name {}, which is no Linux interface name (1 to 15 bytes, "
                     "no '/', ':', whitespace or control characters, not \".\" or \"..\")",
                     json_quoted(selection.name), json_quoted(selection.interface)));
  }
  if (!selection.mac.empty() && !cni::parse_mac(selection.mac)) {
    fail(fmt::format("invalid MAC address {}", json_quoted(selection.mac)));
  }
  if (!selection.infiniband_guid.empty() && !is_hardware_address(selection.infiniband_guid)) {
    fail(fmt::format("invalid infiniband GUID {}", json_quoted(selection.infiniband_guid)));
  }
  for (const auto& ip : selection.ips) {
    if (ip.find('/') != std::string::npos) {
      if (!cni::IPNet::parse(ip)) fail(fmt::format("invalid CIDR address {} in \"ips\"", json_quoted(ip)));
    } else if (!cni::IPAddress::parse(ip)) {
      fail(fmt::format("invalid IP address {} in \"ips\"", json_quoted(ip)));
    }
  }
  for (const auto& gateway : selection.default_route) {
    if (!cni::IPAddress::parse(gateway)) fail(fmt::format("invalid IP address {} in \"default-route\"", json_quoted(gateway)));
  }
}

}  // namespace

bool is_dns1123_label(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(text.front()) || !alnum(text.back())) return false;
  for (const char c : text) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool is_valid_ifname(std::string_view text) {
  if (text.empty() || text.size() > 15 || text == "." || text == "..") return false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(byte) != 0 || byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

bool is_hardware_address(std::string_view text) {
  const auto octets_ok = [](const std::vector<std::string_view>& parts) {
    if (parts.size() != 6 && parts.size() != 8 && parts.size() != 20) return false;
    for (const auto part : parts) {
      if (part.size() != 2 || !is_hex(part[0]) || !is_hex(part[1])) return false;
    }
    return true;
  };
  if (text.find(':') != std::string_view::npos) return octets_ok(split(text, ':'));
  if (text.find('-') != std::string_view::npos) return octets_ok(split(text, '-'));
  const auto groups = split(text, '.');  // 0000.0000.0000 form
  if (groups.size() != 3 && groups.size() != 4 && groups.size() != 10) return false;
  for (const auto group : groups) {
    if (group.size() != 4) return false;
    for (const char c : group) {
      if (!is_hex(c)) return false;
    }
  }
  return true;
}

std::vector<NetworkSelection> parse_network_selections(std::string_view annotation, std::string_view default_namespace) {
  if (annotation.size() > kMaxSelectionAnnotationBytes) {
    fail(fmt::format("it is {} bytes, more than the limit of {} bytes per pod", annotation.size(), kMaxSelectionAnnotationBytes));
  }
  const auto text = trim(annotation);
  std::vector<NetworkSelection> selections;
  if (text.empty()) return selections;
  if (text.find_first_of("[{\"") != std::string_view::npos) {
    ordered_json value;
    try {
      value = cni::parse_json(text);
    } catch (const std::exception& e) {
      fail(fmt::format("not valid JSON: {}", e.what()));
    }
    if (!value.is_array()) fail(fmt::format("the JSON form must be a list, got {}", cni::go_marshal(value)));
    for (const auto& element : value) selections.push_back(parse_json_element(element));
  } else {
    for (const auto item : split(text, ',')) selections.push_back(parse_text_element(trim(item)));
  }
  if (selections.size() > kMaxSelectedNetworks) {
    fail(fmt::format("it names {} networks, more than the limit of {} per pod", selections.size(), kMaxSelectedNetworks));
  }
  for (auto& selection : selections) {
    validate(selection);
    if (selection.namespace_name.empty()) selection.namespace_name = std::string(default_namespace);
  }
  return selections;
}

}  // namespace plexus::meta
