#include <plexus/meta/config.hpp>

#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/version.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace plexus::meta {
namespace {

using cni::ordered_json;

// Every key multus reads (and the keys plexus adds), lower-case: Go matches them case-insensitively.
constexpr std::array kKnownKeys = {
    "name", "type", "cniversion", "cniversions", "kubeconfig", "clusternetwork", "defaultnetworks",
    "delegates", "confdir", "cnidir", "bindir", "logfile", "loglevel", "logtostderr", "logoptions",
    "readinessindicatorfile", "namespaceisolation", "globalnamespaces", "systemnamespaces",
    "multusnamespace", "retrydeleteonerror", "auxiliarycnichainname", "capabilities", "runtimeconfig",
    "prevresult", "daemonsocketdir", "args", "plugindirs", "delegatemode", "sendevents", "alloweddataroots",
    "allowgatewaytakeover"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

[[noreturn]] void invalid(std::string_view key, const ordered_json& value, std::string_view why) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                   fmt::format("invalid value for \"{}\": {} ({})", key, cni::go_marshal(value), why));
}

std::string string_key(const ordered_json& raw, std::string_view key, std::string fallback) {
  const auto* value = cni::find_key(raw, key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) invalid(key, *value, "expected a string");
  return value->get<std::string>();
}

bool bool_key(const ordered_json& raw, std::string_view key, bool fallback) {
  const auto* value = cni::find_key(raw, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) invalid(key, *value, "expected true or false");
  return value->get<bool>();
}

std::vector<std::string> string_list_key(const ordered_json& raw, std::string_view key, std::vector<std::string> fallback) {
  const auto* value = cni::find_key(raw, key);
  if (value == nullptr) return fallback;
  if (!value->is_array()) invalid(key, *value, "expected a list of strings");
  std::vector<std::string> out;
  for (const auto& item : *value) {
    if (!item.is_string()) invalid(key, *value, "expected a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// multus's globalNamespaces is one comma-separated string; a list is accepted as well.
std::vector<std::string> namespace_list_key(const ordered_json& raw, std::string_view key, std::vector<std::string> fallback) {
  const auto* value = cni::find_key(raw, key);
  if (value == nullptr || !value->is_string()) return string_list_key(raw, key, std::move(fallback));
  std::vector<std::string> out;
  const auto text = value->get<std::string>();
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    auto item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

LogLevel parse_log_level(const ordered_json& raw) {
  const auto text = string_key(raw, "logLevel", "panic");
  const auto level = lower(text);
  if (level == "panic" || level.empty()) return LogLevel::Panic;
  if (level == "error") return LogLevel::Error;
  if (level == "verbose") return LogLevel::Verbose;
  if (level == "debug") return LogLevel::Debug;
  invalid("logLevel", ordered_json(text), "expected panic, error, verbose or debug");
}

DelegateMode parse_mode(std::string_view type, const ordered_json& value) {
  const auto key = fmt::format("delegateMode.{}", type);
  if (!value.is_string()) invalid(key, value, "expected \"in-process\", \"exec\" or \"auto\"");
  const auto mode = lower(value.get<std::string>());
  if (mode == "auto") return DelegateMode::Auto;
  if (mode == "in-process" || mode == "inprocess") return DelegateMode::InProcess;
  if (mode == "exec") return DelegateMode::Exec;
  invalid(key, value, "expected \"in-process\", \"exec\" or \"auto\"");
}

}  // namespace

bool MetaConfig::is_system_namespace(std::string_view ns) const {
  return std::find(system_namespaces.begin(), system_namespaces.end(), ns) != system_namespaces.end();
}

bool MetaConfig::namespace_allowed(std::string_view pod_ns, std::string_view target_ns) const {
  if (!namespace_isolation || pod_ns == target_ns) return true;
  return std::find(global_namespaces.begin(), global_namespaces.end(), target_ns) != global_namespaces.end();
}

MetaConfig parse_meta_config(std::string_view bytes) {
  ordered_json raw;
  try {
    raw = cni::parse_json(bytes);
  } catch (const std::exception& e) {
    throw cni::Error(cni::ErrorCode::DecodingFailure, fmt::format("failed to load netconf: {}", e.what()));
  }
  if (!raw.is_object()) {
    throw cni::Error(cni::ErrorCode::DecodingFailure, "failed to load netconf: the configuration is not a JSON object");
  }

  MetaConfig config;
  config.name = string_key(raw, "name", "");
  config.type = string_key(raw, "type", "");
  // The shim types name the same meta config (thick mode's): plexusd and the shim's DEL fallback
  // read it as it is.
  if (config.type != "plexus" && config.type != "plexus-shim" && config.type != "multus" && config.type != "multus-shim") {
    invalid("type", ordered_json(config.type), "expected \"plexus\" or \"multus\"");
  }
  config.cni_version = string_key(raw, "cniVersion", "");
  if (!config.cni_version.empty()) {
    const auto known = cni::all_versions();
    if (std::find(known.begin(), known.end(), config.cni_version) == known.end()) {
      invalid("cniVersion", ordered_json(config.cni_version), "not a CNI spec version");
    }
  }
  config.kubeconfig = string_key(raw, "kubeconfig", "");
  config.cluster_network = string_key(raw, "clusterNetwork", "");
  config.default_networks = string_list_key(raw, "defaultNetworks", {});
  if (const auto* delegates = cni::find_key(raw, "delegates")) {
    if (!delegates->is_array()) invalid("delegates", *delegates, "expected a list of network configurations");
    for (const auto& delegate : *delegates) {
      if (!delegate.is_object() || (cni::find_key(delegate, "type") == nullptr && !cni::is_conflist(delegate))) {
        invalid("delegates", delegate, "each delegate must be an object with \"type\" or \"plugins\"");
      }
      config.delegates.push_back(delegate);
    }
  }
  if (config.cluster_network.empty() && config.delegates.empty()) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     "invalid value for \"clusterNetwork\": \"\" (either \"clusterNetwork\" or \"delegates\" is required)");
  }
  config.conf_dir = string_key(raw, "confDir", config.conf_dir);
  config.cni_dir = string_key(raw, "cniDir", config.cni_dir);
  config.bin_dir = string_key(raw, "binDir", config.bin_dir);
  config.log_file = string_key(raw, "logFile", "");
  config.log_level = parse_log_level(raw);
  config.log_to_stderr = bool_key(raw, "logToStderr", true);
  config.readiness_indicator_file = string_key(raw, "readinessindicatorfile", "");
  config.namespace_isolation = bool_key(raw, "namespaceIsolation", false);
  config.global_namespaces = namespace_list_key(raw, "globalNamespaces", config.global_namespaces);
  config.system_namespaces = string_list_key(raw, "systemNamespaces", config.system_namespaces);
  config.multus_namespace = string_key(raw, "multusNamespace", config.multus_namespace);
  if (config.multus_namespace.empty()) invalid("multusNamespace", ordered_json(""), "must not be empty");
  config.retry_delete_on_error = bool_key(raw, "retryDeleteOnError", false);
  config.auxiliary_cni_chain_name = string_key(raw, "auxiliaryCNIChainName", "");
  if (!config.auxiliary_cni_chain_name.empty() && config.cluster_network.find('/') == std::string::npos) {
    invalid("auxiliaryCNIChainName", ordered_json(config.auxiliary_cni_chain_name),
            "needs \"clusterNetwork\" to be a file path");
  }
  config.plugin_dirs = string_list_key(raw, "pluginDirs", {});
  config.send_events = bool_key(raw, "sendEvents", true);
  config.allowed_data_roots = string_list_key(raw, "allowedDataRoots", config.allowed_data_roots);
  for (const auto& root : config.allowed_data_roots) {
    if (root.empty() || root.front() != '/' || root.find('\0') != std::string::npos) {
      invalid("allowedDataRoots", ordered_json(root), "each entry must be an absolute path");
    }
  }
  config.allow_gateway_takeover = bool_key(raw, "allowGatewayTakeover", false);
  if (const auto* modes = cni::find_key(raw, "delegateMode")) {
    if (!modes->is_object()) invalid("delegateMode", *modes, "expected an object of type: mode");
    for (const auto& [type, mode] : modes->items()) config.delegate_modes[type] = parse_mode(type, mode);
  }
  if (const auto* caps = cni::find_key(raw, "capabilities")) {
    if (!caps->is_object()) invalid("capabilities", *caps, "expected an object of name: bool");
    for (const auto& [cap, enabled] : caps->items()) {
      if (!enabled.is_boolean()) invalid(fmt::format("capabilities.{}", cap), enabled, "expected true or false");
      config.capabilities[cap] = enabled.get<bool>();
    }
  }
  if (const auto* runtime_config = cni::find_key(raw, "runtimeConfig")) {
    if (!runtime_config->is_object()) invalid("runtimeConfig", *runtime_config, "expected an object");
    config.runtime_config = *runtime_config;
  }
  for (const auto& [key, value] : raw.items()) {
    const auto name = lower(key);
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), name) == kKnownKeys.end()) config.unknown_keys.push_back(key);
  }
  config.raw = std::move(raw);
  return config;
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::Panic: return "panic";
    case LogLevel::Error: return "error";
    case LogLevel::Verbose: return "verbose";
    case LogLevel::Debug: return "debug";
  }
  return "panic";
}

std::string_view to_string(DelegateMode mode) {
  switch (mode) {
    case DelegateMode::Auto: return "auto";
    case DelegateMode::InProcess: return "in-process";
    case DelegateMode::Exec: return "exec";
  }
  return "auto";
}

}  // namespace plexus::meta
