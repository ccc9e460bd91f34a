#include <plexus/cni/config.hpp>
#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/go_decode.hpp>
#include <plexus/cni/version.hpp>

#include <fmt/format.h>

namespace plexus::cni {
namespace {

// json.Unmarshal's messages for what nlohmann reports differently.
std::string go_parse_error(std::string_view bytes, const std::exception& e) {
  if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos) return "unexpected end of JSON input";
  std::string message = e.what();
  if (const auto pos = message.find("] "); message.rfind("[json.exception", 0) == 0 && pos != std::string::npos) {
    message = message.substr(pos + 2);
  }
  return message;
}

ordered_json parse_object(std::string_view bytes, std::string_view context) {
  ordered_json value;
  try {
    value = parse_json(bytes);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::DecodingFailure, fmt::format("{}: {}", context, go_parse_error(bytes, e)));
  }
  if (!value.is_object()) {
    throw Error(ErrorCode::DecodingFailure,
                fmt::format("{}: json: cannot unmarshal {} into Go value of type types.NetConf", context, go_json_kind(value)));
  }
  return value;
}

// A field of the wrong JSON type, worded as Go's decoder words it.
void expect_kind(const ordered_json& object, std::string_view key, std::string_view kind, std::string_view go_type) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return;
  const bool ok = (kind == "string" && value->is_string()) || (kind == "object" && value->is_object()) ||
                  (kind == "bool" && value->is_boolean()) || (kind == "array" && value->is_array());
  if (!ok) {
    throw Error(ErrorCode::InvalidNetworkConfig,
                fmt::format("failed to load netconf: json: cannot unmarshal {} into Go struct field NetConf.{} of type {}",
                            go_json_kind(*value), key, go_type));
  }
}

std::string string_or_empty(const ordered_json& object, std::string_view key) {
  const auto* value = find_key(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

[[noreturn]] void wrong_type(const ordered_json& value, std::string_view key, std::string_view go_type) {
  throw Error(ErrorCode::InvalidNetworkConfig,
              fmt::format("failed to load netconf: json: cannot unmarshal {} into Go struct field NetConf.{} of type {}",
                          go_json_kind(value), key, go_type));
}

}  // namespace

std::string string_field(const ordered_json& object, std::string_view key, std::string fallback) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) wrong_type(*value, key, "string");
  return value->get<std::string>();
}

long long int_field(const ordered_json& object, std::string_view key, long long fallback) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer()) wrong_type(*value, key, "int");
  return value->get<long long>();
}

bool bool_field(const ordered_json& object, std::string_view key, bool fallback) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) wrong_type(*value, key, "bool");
  return value->get<bool>();
}

std::vector<std::string> string_list_field(const ordered_json& object, std::string_view key) {
  const auto* value = find_key(object, key);
  std::vector<std::string> out;
  if (value == nullptr) return out;
  if (!value->is_array()) wrong_type(*value, key, "[]string");
  for (const auto& item : *value) {
    if (!item.is_string()) wrong_type(item, key, "string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string NetConf::version() const { return effective_version(cni_version); }

std::string NetConf::ipam_type() const {
  const auto* ipam_object = find("ipam");
  return ipam_object != nullptr ? string_or_empty(*ipam_object, "type") : std::string();
}

ordered_json NetConf::ipam() const {
  const auto* value = find("ipam");
  return value != nullptr ? *value : ordered_json::object();
}

ordered_json NetConf::runtime_config() const {
  const auto* value = find("runtimeConfig");
  return value != nullptr && value->is_object() ? *value : ordered_json::object();
}

ordered_json NetConf::args() const {
  const auto* value = find("args");
  return value != nullptr && value->is_object() ? *value : ordered_json::object();
}

std::optional<ordered_json> NetConf::prev_result() const {
  const auto* value = find("prevResult");
  if (value == nullptr) return std::nullopt;
  return *value;
}

std::optional<DNS> NetConf::dns() const {
  const auto* value = find("dns");
  if (value == nullptr) return std::nullopt;
  return parse_dns(*value);
}

void validate_stdin_config(std::string_view bytes) {
  const auto value = parse_object(bytes, "error unmarshall network config");
  const auto* name = find_key(value, "name");
  if (name != nullptr && !name->is_string()) {
    throw Error(ErrorCode::DecodingFailure,
                fmt::format("error unmarshall network config: json: cannot unmarshal {} into Go struct field .name of type string",
                            go_json_kind(*name)));
  }
  validate_network_name(name != nullptr ? name->get<std::string>() : std::string());
}

NetConf parse_netconf(std::string_view bytes) {
  NetConf conf;
  conf.raw = parse_object(bytes, "failed to load netconf");
  expect_kind(conf.raw, "cniVersion", "string", "string");
  expect_kind(conf.raw, "name", "string", "string");
  expect_kind(conf.raw, "type", "string", "string");
  expect_kind(conf.raw, "capabilities", "object", "map[string]bool");
  expect_kind(conf.raw, "ipam", "object", "types.IPAM");
  expect_kind(conf.raw, "dns", "object", "types.DNS");
  expect_kind(conf.raw, "runtimeConfig", "object", "map[string]interface {}");
  expect_kind(conf.raw, "args", "object", "map[string]interface {}");
  expect_kind(conf.raw, "prevResult", "object", "map[string]interface {}");
  conf.cni_version = string_or_empty(conf.raw, "cniVersion");
  conf.name = string_or_empty(conf.raw, "name");
  conf.type = string_or_empty(conf.raw, "type");
  validate_network_name(conf.name);
  if (const auto* caps = conf.find("capabilities")) {
    for (auto it = caps->begin(); it != caps->end(); ++it) {
      if (!it.value().is_boolean()) {
        throw Error(ErrorCode::InvalidNetworkConfig,
                    fmt::format("failed to load netconf: json: cannot unmarshal {} into Go struct field "
                                "NetConf.capabilities of type bool",
                                go_json_kind(it.value())));
      }
      conf.capabilities[it.key()] = it.value().get<bool>();
    }
  }
  if (const auto* ipam_object = conf.find("ipam")) expect_kind(*ipam_object, "type", "string", "string");
  return conf;
}

bool is_conflist(const ordered_json& value) { return value.is_object() && value.contains("plugins"); }

ConfList parse_conflist(std::string_view bytes) {
  constexpr std::string_view kContext = "error parsing configuration list";
  ConfList list;
  list.raw = parse_object(bytes, kContext);
  const auto& raw = list.raw;
  // libcni reads the list through a map: keys match exactly here.
  if (!raw.contains("name")) throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: no name", kContext));
  if (!raw["name"].is_string()) {
    throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: invalid name type {}", kContext, go_json_kind(raw["name"])));
  }
  list.name = raw["name"].get<std::string>();
  validate_network_name(list.name);
  if (raw.contains("cniVersion")) {
    if (!raw["cniVersion"].is_string()) {
      throw Error(ErrorCode::InvalidNetworkConfig,
                  fmt::format("{}: invalid cniVersion type {}", kContext, go_json_kind(raw["cniVersion"])));
    }
    list.cni_version = raw["cniVersion"].get<std::string>();
  }
  if (raw.contains("cniVersions")) {
    const auto& versions = raw["cniVersions"];
    if (!versions.is_array()) {
      throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: invalid cniVersions type {}", kContext, go_json_kind(versions)));
    }
    std::string best;
    for (const auto& v : versions) {
      if (!v.is_string()) {
        throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: invalid cniVersions entry type {}", kContext, go_json_kind(v)));
      }
      const auto candidate = v.get<std::string>();
      list.cni_versions.push_back(candidate);
      // The highest version not above the library's own.
      if (compare_versions(candidate, kCurrentVersion) > 0) continue;
      if (best.empty() || compare_versions(candidate, best) > 0) best = candidate;
    }
    if (!best.empty()) list.cni_version = best;
  }
  for (const auto& [key, flag] : {std::pair{"disableCheck", &list.disable_check}, std::pair{"disableGC", &list.disable_gc},
                                  std::pair{"loadOnlyInlinedPlugins", &list.load_only_inlined_plugins}}) {
    if (raw.contains(key)) *flag = bool_or_string(raw[key], key);
  }
  if (!raw.contains("plugins")) throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: no plugins in list", kContext));
  const auto& plugins = raw["plugins"];
  if (!plugins.is_array()) {
    throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: invalid 'plugins' type {}", kContext, go_json_kind(plugins)));
  }
  if (plugins.empty()) throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{}: no plugins in list", kContext));
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    const auto& plugin = plugins[i];
    if (!plugin.is_object() || string_or_empty(plugin, "type").empty()) {
      throw Error(ErrorCode::InvalidNetworkConfig,
                  fmt::format("failed to parse plugin config {}: error parsing configuration: missing 'type'", i));
    }
    list.plugins.push_back(plugin);
  }
  return list;
}

ConfList conflist_from_conf(const NetConf& conf) {
  ConfList list;
  list.cni_version = conf.cni_version;
  list.name = conf.name;
  list.plugins.push_back(conf.raw);
  list.raw = ordered_json{{"cniVersion", conf.cni_version}, {"name", conf.name}, {"plugins", list.plugins}};
  return list;
}

}  // namespace plexus::cni
