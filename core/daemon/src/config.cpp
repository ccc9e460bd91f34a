#include <plexus/daemon/config.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace plexus::daemon {
namespace {

using nlohmann::json;

const json* find(const json& object, std::string_view key) {
  const auto it = object.find(std::string(key));
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] void wrong_type(std::string_view key, const json& value, std::string_view expected) {
  throw std::invalid_argument(fmt::format("daemon config: \"{}\" is {} ({} expected)", key, value.dump(), expected));
}

std::string string_key(const json& object, std::string_view key, std::string fallback) {
  const auto* value = find(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) wrong_type(key, *value, "a string");
  return value->get<std::string>();
}

std::int64_t int_key(const json& object, std::string_view key, std::int64_t fallback, std::int64_t min) {
  const auto* value = find(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer() || value->get<std::int64_t>() < min) {
    wrong_type(key, *value, fmt::format("an integer >= {}", min));
  }
  return value->get<std::int64_t>();
}

bool bool_key(const json& object, std::string_view key, bool fallback) {
  const auto* value = find(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) wrong_type(key, *value, "true or false");
  return value->get<bool>();
}

meta::LogLevel log_level_key(const json& object, std::string_view key, meta::LogLevel fallback) {
  const auto text = string_key(object, key, "");
  if (text.empty()) return fallback;
  for (const auto level : {meta::LogLevel::Panic, meta::LogLevel::Error, meta::LogLevel::Verbose, meta::LogLevel::Debug}) {
    if (std::equal(text.begin(), text.end(), meta::to_string(level).begin(), meta::to_string(level).end(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
      return level;
    }
  }
  wrong_type(key, json(text), "panic, error, verbose or debug");
}

}  // namespace

DaemonConfig parse_daemon_config(std::string_view json_bytes) {
  json object;
  try {
    object = json::parse(json_bytes);
  } catch (const json::exception& e) {
    throw std::invalid_argument(fmt::format("daemon config is not JSON: {}", e.what()));
  }
  if (!object.is_object()) throw std::invalid_argument("daemon config is not a JSON object");

  DaemonConfig config;
  config.socket_dir = string_key(object, "socketDir", config.socket_dir.string());
  if (config.socket_dir.empty()) throw std::invalid_argument("daemon config: \"socketDir\" must not be empty");
  config.metrics_address = string_key(object, "metricsAddress", config.metrics_address);
  // multus's metricsPort: all interfaces on that port, as multus listens.
  if (const auto* port = find(object, "metricsPort"); port != nullptr && find(object, "metricsAddress") == nullptr) {
    if (!port->is_number_integer()) wrong_type("metricsPort", *port, "an integer");
    config.metrics_address = fmt::format("0.0.0.0:{}", port->get<int>());
  }
  config.kubeconfig = string_key(object, "kubeconfig", "");
  const char* node_env = std::getenv("NODE_NAME");
  config.node_name = string_key(object, "nodeName", node_env != nullptr ? node_env : "");
  config.manifest_store = string_key(object, "manifestStore", "");
  if (const auto* dirs = find(object, "pluginDirs")) {
    if (!dirs->is_array()) wrong_type("pluginDirs", *dirs, "a list of directories");
    for (const auto& dir : *dirs) {
      if (!dir.is_string()) wrong_type("pluginDirs", *dirs, "a list of directories");
      config.plugin_dirs.emplace_back(dir.get<std::string>());
    }
  }
  config.max_connections = static_cast<int>(int_key(object, "maxConnections", config.max_connections, 1));
  config.watch_backoff_min = std::chrono::milliseconds(int_key(object, "watchBackoffMinMs", config.watch_backoff_min.count(), 1));
  config.watch_backoff_max = std::chrono::milliseconds(int_key(object, "watchBackoffMaxMs", config.watch_backoff_max.count(), 1));
  config.sticky_claim_sweep = std::chrono::seconds(
      int_key(object, "stickyClaimSweepSeconds", std::chrono::duration_cast<std::chrono::seconds>(config.sticky_claim_sweep).count(), 0));
  config.log_level = log_level_key(object, "logLevel", config.log_level);
  config.log_file = string_key(object, "logFile", "");
  config.log_to_stderr = bool_key(object, "logToStderr", config.log_to_stderr);
  return config;
}

DaemonConfig load_daemon_config(const std::filesystem::path& file) {
  try {
    return parse_daemon_config(cni::read_existing_file_bounded(file, cni::kMaxFileBytes, "daemon config"));
  } catch (const cni::Error& e) {
    throw std::invalid_argument(e.msg());
  }
}

std::vector<std::filesystem::path> default_plugin_dirs() {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path() / ".." / "lib" / "plexus" / "plugins").lexically_normal());
  dirs.emplace_back(PLEXUS_INSTALLED_PLUGIN_DIR);
  return dirs;
}

}  // namespace plexus::daemon
