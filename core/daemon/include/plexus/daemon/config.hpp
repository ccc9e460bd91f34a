// plexusd's own configuration (daemon-config.json): where it listens, where metrics go, how it
// reaches the API server and which node it serves, and which plugins it preloads.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::daemon {

inline constexpr std::string_view kSocketName = "plexus.sock";
inline constexpr std::string_view kDefaultSocketDir = "/run/plexus";

struct DaemonConfig {
  std::filesystem::path socket_dir{std::string(kDefaultSocketDir)};
  // host:port for /metrics over TCP; empty = no metrics listener.
  std::string metrics_address = "127.0.0.1:9464";
  // The API server: a kubeconfig file, else the in-cluster service account when there is one.
  std::string kubeconfig;
  // The node whose pods are watched and cached (default: $NODE_NAME). Empty = no pod cache.
  std::string node_name;
  // A directory of NAD/Pod manifests used instead of any API server (cluster-less use, tests).
  std::string manifest_store;
  // In-process plugins, scanned once at start. Empty = <exe dir>/../lib/plexus/plugins and the
  // installed plugin dir.
  std::vector<std::filesystem::path> plugin_dirs;
  // Connections served at once; more wait in the listen backlog.
  int max_connections = 128;
  // Pod watch reconnect backoff (doubles from min to max).
  std::chrono::milliseconds watch_backoff_min{200};
  std::chrono::milliseconds watch_backoff_max{10000};
  bool log_debug = false;

  std::filesystem::path socket_path() const { return socket_dir / std::string(kSocketName); }
};

// Reads daemon-config.json. Unknown keys are ignored (multus's daemon config is accepted);
// a key of the wrong type throws std::invalid_argument naming the key.
DaemonConfig parse_daemon_config(std::string_view json_bytes);
DaemonConfig load_daemon_config(const std::filesystem::path& file);

// <dir of this executable>/../lib/plexus/plugins, then the installed plugin dir.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace plexus::daemon
