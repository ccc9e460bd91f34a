#include <plexus/meta/nad_policy.hpp>

#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/exec/exec.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace plexus::meta {
namespace {

using cni::ordered_json;
namespace fs = std::filesystem;

// The meta-plugin's own names: as a delegate of a tenant's network each would run plexus (or
// multus) again with a config the tenant wrote, its own cniDir, binDir and delegates included.
constexpr std::array<std::string_view, 6> kMetaPluginTypes = {"plexus", "plexus-shim", "plexusd",
                                                              "multus", "multus-shim", "multus-daemon"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string quoted(const std::string& text) { return cni::go_marshal(ordered_json(text)); }

[[noreturn]] void refuse(const ResolvedNetwork& network, std::string message) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("{}: {}", network.origin, message));
}

// Keys compared as Go's decoder does, case-insensitively: {"Type": ...} is a type too.
bool key_is(std::string_view key, std::string_view name) { return lower(key) == name; }

void check_type(const ResolvedNetwork& network, const MetaConfig& config, const std::string& where,
                const ordered_json& value) {
  if (!value.is_string()) return;  // the plugin's own parse refuses it
  const auto type = value.get<std::string>();
  const bool meta = std::find(kMetaPluginTypes.begin(), kMetaPluginTypes.end(), type) != kMetaPluginTypes.end() ||
                    (!config.type.empty() && type == config.type);
  if (meta) {
    refuse(network, fmt::format("\"{}\" is {}: a network may not name the meta-plugin as its delegate (only the "
                                "node's own clusterNetwork and defaultNetworks may)",
                                where, quoted(type)));
  }
  if (!exec::is_plain_plugin_name(type)) {
    refuse(network, fmt::format("\"{}\" is {}: a plugin type is a plain file name (no '/', '..' or NUL)", where, quoted(type)));
  }
}

// A plugin's "type" and its IPAM's.
void check_plugin_types(const ResolvedNetwork& network, const MetaConfig& config, const std::string& where,
                        const ordered_json& plugin) {
  if (!plugin.is_object()) return;
  for (const auto& [key, value] : plugin.items()) {
    const auto path = where.empty() ? key : where + "." + key;
    if (key_is(key, "type")) check_type(network, config, path, value);
    if (key_is(key, "ipam") && value.is_object()) {
      for (const auto& [ipam_key, ipam_value] : value.items()) {
        if (key_is(ipam_key, "type")) check_type(network, config, path + "." + ipam_key, ipam_value);
      }
    }
  }
}

void check_force_address(const ResolvedNetwork& network, const MetaConfig& config, const std::string& where,
                         const ordered_json& plugin) {
  if (config.allow_gateway_takeover || !plugin.is_object()) return;
  for (const auto& [key, value] : plugin.items()) {
    if (!key_is(key, "forceaddress") || !value.is_boolean() || !value.get<bool>()) continue;
    refuse(network, fmt::format("\"{}\" is true: replacing the gateway address another network has on a shared bridge "
                                "needs \"allowGatewayTakeover\": true in the node's config",
                                where.empty() ? key : where + "." + key));
  }
}

void check_path_value(const ResolvedNetwork& network, const MetaConfig& config, const std::string& where,
                      const ordered_json& value) {
  if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) check_path_value(network, config, fmt::format("{}[{}]", where, i), value[i]);
    return;
  }
  if (!value.is_string()) return;  // not a path: the plugin's own parse decides
  const auto text = value.get<std::string>();
  if (text.empty()) return;  // the plugin's default
  if (text.front() != '/' || text.find('\0') != std::string::npos) {
    refuse(network, fmt::format("\"{}\" is {}: a path from a network-attachment-definition must be absolute", where, quoted(text)));
  }
  if (!is_under_roots(fs::path(text), config.allowed_data_roots)) {
    refuse(network, fmt::format("\"{}\" is {}, which is outside allowedDataRoots [{}]", where, quoted(text),
                                fmt::join(config.allowed_data_roots, ", ")));
  }
}

void check_paths(const ResolvedNetwork& network, const MetaConfig& config, const std::string& where,
                 const ordered_json& value) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      const auto path = where.empty() ? key : where + "." + key;
      if (is_path_key(key)) check_path_value(network, config, path, item);
      check_paths(network, config, path, item);
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) check_paths(network, config, fmt::format("{}[{}]", where, i), value[i]);
  }
}

// `path` without a trailing separator ("/run/cni/" is "/run/cni").
fs::path normal(const fs::path& path) {
  auto out = path.lexically_normal();
  if (!out.has_filename() && out != out.root_path()) out = out.parent_path();
  return out;
}

bool within(const fs::path& path, const fs::path& base) {
  const auto p = normal(path);
  const auto b = normal(base);
  auto pi = p.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi, ++pi) {
    if (pi == p.end() || *pi != *bi) return false;
  }
  return true;
}

bool within_any(const fs::path& path, const std::vector<fs::path>& bases) {
  return std::any_of(bases.begin(), bases.end(), [&](const fs::path& base) { return within(path, base); });
}

}  // namespace

bool is_path_key(std::string_view key) {
  auto name = lower(key);
  if (name == "resolvconf" || name == "kubeconfig") return true;
  if (ends_with(name, "s")) name.pop_back();  // pluginDirs, logFiles
  return ends_with(name, "dir") || ends_with(name, "file") || ends_with(name, "path") || ends_with(name, "socket");
}

bool is_under_roots(const fs::path& path, const std::vector<std::string>& roots) {
  std::vector<fs::path> lexical;
  std::vector<fs::path> resolved;  // the roots as written and as they resolve: /var/lib/cni may be a link
  for (const auto& root : roots) {
    lexical.emplace_back(root);
    resolved.emplace_back(root);
    std::error_code error;
    const auto canonical = fs::weakly_canonical(root, error);
    if (!error) resolved.push_back(canonical);
  }
  if (!within_any(path, lexical)) return false;
  // A symlink on the way (networks/evil -> /etc) must not lead out of the roots.
  std::error_code error;
  const auto canonical = fs::weakly_canonical(path, error);
  if (error) return false;
  return within_any(canonical, resolved);
}

void enforce_tenant_policy(const ResolvedNetwork& network, const MetaConfig& config) {
  ordered_json object;
  try {
    object = cni::parse_json(network.config);
  } catch (const std::exception& e) {
    refuse(network, fmt::format("invalid JSON config: {}", e.what()));
  }
  std::vector<std::pair<std::string, const ordered_json*>> plugins;
  if (cni::is_conflist(object)) {
    for (const auto& [key, value] : object.items()) {
      if (!key_is(key, "plugins") || !value.is_array()) continue;
      for (std::size_t i = 0; i < value.size(); ++i) plugins.emplace_back(fmt::format("{}[{}]", key, i), &value[i]);
    }
  } else {
    plugins.emplace_back("", &object);
  }
  for (const auto& [where, plugin] : plugins) check_plugin_types(network, config, where, *plugin);
  if (!network.nad_spec) return;  // a confDir file the admin wrote: its paths are the admin's
  for (const auto& [where, plugin] : plugins) check_force_address(network, config, where, *plugin);
  check_paths(network, config, "", object);
  if (network.selection && network.selection->cni_args) check_paths(network, config, "cni-args", *network.selection->cni_args);
}

}  // namespace plexus::meta
