// The meta-plugin's own network configuration: multus's config file, accepted unchanged (type
// "multus" or "plexus", the same keys, the same defaults), plus plexus's pluginDirs and the
// per-type choice between in-process and exec delegates.
#pragma once

#include <plexus/cni/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

// multus's log levels, in their real order of verbosity.
enum class LogLevel { Panic, Error, Verbose, Debug };

// How a delegate type runs (maps onto plexus::invoke::DelegateMode).
enum class DelegateMode { Auto, InProcess, Exec };

struct MetaConfig {
  std::string name;
  std::string type;
  std::string cni_version;  // as written (empty = 0.1.0)
  std::string kubeconfig;
  std::string cluster_network;
  std::vector<std::string> default_networks;
  std::vector<cni::ordered_json> delegates;  // inline confs/conflists; ignored when clusterNetwork is set
  std::string conf_dir = "/etc/cni/multus/net.d";
  std::string cni_dir = "/var/lib/cni/multus";
  std::string bin_dir = "/opt/cni/bin";
  std::string log_file;
  LogLevel log_level = LogLevel::Panic;
  bool log_to_stderr = true;
  std::string readiness_indicator_file;
  bool namespace_isolation = false;
  std::vector<std::string> global_namespaces = {"default"};
  std::vector<std::string> system_namespaces = {"kube-system"};
  std::string multus_namespace = "kube-system";
  bool retry_delete_on_error = false;
  std::string auxiliary_cni_chain_name;
  // plexus's own keys.
  std::vector<std::string> plugin_dirs;
  std::map<std::string, DelegateMode, std::less<>> delegate_modes;
  // sendEvents: Kubernetes Events on the pod (AddedInterface, warnings), as multus always sends.
  bool send_events = true;
  // Where a tenant's NetworkAttachmentDefinition may point a path key (dataDir, resolvConf,
  // logFile, any *Dir/*File/*Path/*Socket): a path must be one of these or under one. The
  // defaults are the places the reference plugins keep what a NAD names: host-local's state,
  // the dhcp daemon's socket dir, and the node's resolv.conf with systemd-resolved's copies.
  std::vector<std::string> allowed_data_roots = {"/var/lib/cni/networks", "/run/cni", "/etc/resolv.conf",
                                                 "/run/systemd/resolve"};
  // May a tenant's bridge NAD set forceAddress (replace another network's gateway address on a
  // shared bridge)? Off unless the admin opts in.
  bool allow_gateway_takeover = false;

  std::map<std::string, bool> capabilities;
  cni::ordered_json runtime_config = cni::ordered_json::object();  // filled in by the runtime
  std::vector<std::string> unknown_keys;                            // ignored, for a debug log line
  cni::ordered_json raw;                                            // the whole object as read

  bool is_system_namespace(std::string_view ns) const;
  // namespaceIsolation: may a pod in `pod_ns` use a network defined in `target_ns`?
  bool namespace_allowed(std::string_view pod_ns, std::string_view target_ns) const;
};

// Parses and validates the config bytes. Bad JSON is code 6; a key of the wrong type, a value out
// of range, an unknown type or neither clusterNetwork nor delegates is code 7, and the message
// names the key and the value.
MetaConfig parse_meta_config(std::string_view bytes);

std::string_view to_string(LogLevel level);
std::string_view to_string(DelegateMode mode);

}  // namespace plexus::meta
