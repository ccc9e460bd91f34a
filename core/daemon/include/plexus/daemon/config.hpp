// plexusd's own configuration (daemon-config.json): where it listens, where metrics go, how it
// reaches the API server and which node it serves, and which plugins it preloads.
#pragma once

#include <plexus/daemon/socket_path.hpp>
#include <plexus/meta/config.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::daemon {


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
  // How often the sticky IPAM's claims whose holder is gone are deleted (claim_sweeper.hpp);
  // 0 = never. Only with an API server.
  std::chrono::milliseconds sticky_claim_sweep{std::chrono::minutes(5)};
  // multus's logging keys: what reaches the log (panic < error < verbose < debug), the file it is
  // appended to (created 0600), and whether it also goes to stderr. Every call's engine and plugin
  // messages go here; the calls' own meta config logging keys are not used in thick mode.
  meta::LogLevel log_level = meta::LogLevel::Verbose;
  std::string log_file;
  bool log_to_stderr = true;

  std::filesystem::path socket_path() const { return socket_dir / std::string(kSocketName); }
};

// Reads daemon-config.json. Unknown keys are ignored (multus's daemon config is accepted);
// a key of the wrong type throws std::invalid_argument naming the key.
DaemonConfig parse_daemon_config(std::string_view json_bytes);
DaemonConfig load_daemon_config(const std::filesystem::path& file);

// <dir of this executable>/../lib/plexus/plugins, then the installed plugin dir.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace plexus::daemon
