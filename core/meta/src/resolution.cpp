#include <plexus/meta/resolution.hpp>

#include <plexus/meta/nad_policy.hpp>

#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace plexus::meta {
namespace {

using cni::ordered_json;

std::string read_file(const std::filesystem::path& path) {
  return cni::read_existing_file_bounded(path, cni::kMaxFileBytes, "network configuration file");
}

std::vector<std::filesystem::path> conf_files(const std::filesystem::path& dir, std::initializer_list<std::string_view> exts) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const auto ext = entry.path().extension().string();
    if (entry.is_regular_file() && std::find(exts.begin(), exts.end(), ext) != exts.end()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

ordered_json parse_config_object(std::string_view bytes, std::string_view origin) {
  try {
    auto value = cni::parse_json(bytes);
    if (value.is_object()) return value;
  } catch (const std::exception& e) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("{}: invalid JSON config: {}", origin, e.what()));
  }
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("{}: the config is not a JSON object", origin));
}

std::string name_of(const ordered_json& object) {
  const auto* name = cni::find_key(object, "name");
  return name != nullptr && name->is_string() ? name->get<std::string>() : std::string();
}

ResolvedNetwork from_file(const std::filesystem::path& file) {
  ResolvedNetwork network;
  network.config = read_file(file);
  const auto object = parse_config_object(network.config, file.string());
  network.conflist = cni::is_conflist(object);
  network.status_name = name_of(object);
  network.origin = file.string();
  if (network.status_name.empty()) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("{}: the config has no \"name\"", file.string()));
  }
  return network;
}

// The NAD's config (or the confDir file it stands for), with its name ensured.
ResolvedNetwork from_attachment(const NetworkAttachment& attachment, const MetaConfig& config) {
  ResolvedNetwork network;
  network.origin = fmt::format("network-attachment-definition {}/{}", attachment.namespace_name, attachment.name);
  const bool empty_spec = attachment.config.find_first_not_of(" \t\r\n") == std::string::npos;
  network.config = empty_spec ? load_conf_by_name(config.conf_dir, attachment.name)
                              : ensure_network_name(attachment.config, attachment.name);
  network.conflist = cni::is_conflist(parse_config_object(network.config, network.origin));
  network.resource_name = attachment.resource_name;
  network.status_name = attachment.namespace_name + "/" + attachment.name;
  network.nad_spec = !empty_spec;
  return network;
}

}  // namespace

std::string ensure_network_name(std::string_view config, std::string_view name) {
  auto object = parse_config_object(config, fmt::format("network {}", name));
  if (!name_of(object).empty()) return std::string(config);
  object["name"] = std::string(name);
  return cni::go_marshal(object);
}

std::string load_conf_by_name(const std::filesystem::path& conf_dir, std::string_view name) {
  for (const auto& file : conf_files(conf_dir, {".conf", ".json", ".conflist"})) {
    std::string bytes;
    ordered_json object;
    try {
      bytes = read_file(file);
      object = cni::parse_json(bytes);
    } catch (const std::exception&) {
      continue;  // an unreadable neighbour must not hide the file we look for
    }
    if (object.is_object() && name_of(object) == name) return bytes;
  }
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                   fmt::format("no network named \"{}\" in conf dir {}", name, conf_dir.string()));
}

NetworkNotFound::NetworkNotFound(std::string namespace_name, std::string name)
    : cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                 fmt::format("cannot find network-attachment-definition \"{}\" in namespace \"{}\"", name, namespace_name)),
      namespace_name_(std::move(namespace_name)),
      name_(std::move(name)) {}

std::string NetworkNotFound::event_message() const {
  return fmt::format("cannot find a network-attachment-definition ({}) in namespace ({}): "
                     "network-attachment-definitions.k8s.cni.cncf.io \"{}\" not found",
                     name_, namespace_name_, name_);
}

ResolvedNetwork resolve_selection(const NetworkSelection& selection, std::string_view pod_namespace,
                                  const MetaConfig& config, NetworkSource& source) {
  if (!config.namespace_allowed(pod_namespace, selection.namespace_name)) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("namespace isolation: pod namespace \"{}\" may not use network \"{}\" "
                                 "(only its own namespace and the global namespaces [{}])",
                                 pod_namespace, selection.qualified_name(), fmt::join(config.global_namespaces, ", ")));
  }
  const auto attachment = source.get_network_attachment(selection.namespace_name, selection.name);
  if (!attachment) throw NetworkNotFound(selection.namespace_name, selection.name);
  auto network = from_attachment(*attachment, config);
  network.selection = selection;
  // The pod's own choice: what the tenant wrote is checked before anything runs.
  enforce_tenant_policy(network, config);
  return network;
}

ResolvedNetwork resolve_default_network(std::string_view value, const MetaConfig& config, NetworkSource* source) {
  const std::filesystem::path path(value);
  if (value.find('/') == std::string_view::npos) {
    if (source != nullptr) {
      if (const auto attachment = source->get_network_attachment(config.multus_namespace, value)) {
        auto network = from_attachment(*attachment, config);
        network.status_name = name_of(parse_config_object(network.config, network.origin));
        return network;
      }
    }
    ResolvedNetwork network;
    network.config = load_conf_by_name(config.conf_dir, value);
    network.conflist = cni::is_conflist(parse_config_object(network.config, value));
    network.status_name = std::string(value);
    network.origin = fmt::format("{}/{}", config.conf_dir, value);
    return network;
  }
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    const auto files = conf_files(path, {".conf", ".conflist"});
    if (files.empty()) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("no .conf or .conflist file in {} (from \"{}\")", path.string(), value));
    }
    return from_file(files.front());
  }
  if (std::filesystem::is_regular_file(path, error) &&
      (path.extension() == ".conf" || path.extension() == ".conflist" || path.extension() == ".json")) {
    return from_file(path);
  }
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                   fmt::format("network \"{}\" is neither a network name, a directory nor a .conf/.conflist file", value));
}

std::vector<ResolvedNetwork> resolve_networks(const MetaConfig& config, const PodInfo* pod, NetworkSource* source) {
  std::vector<ResolvedNetwork> networks;
  if (!config.cluster_network.empty()) {
    networks.push_back(resolve_default_network(config.cluster_network, config, source));
    if (pod == nullptr || !config.is_system_namespace(pod->namespace_name)) {
      for (const auto& name : config.default_networks) networks.push_back(resolve_default_network(name, config, source));
    }
  } else {
    for (std::size_t i = 0; i < config.delegates.size(); ++i) {
      ResolvedNetwork network;
      network.config = cni::go_marshal(config.delegates[i]);
      network.conflist = cni::is_conflist(config.delegates[i]);
      network.status_name = name_of(config.delegates[i]);
      network.origin = fmt::format("delegates[{}]", i);
      networks.push_back(std::move(network));
    }
  }
  networks.front().cluster_network = true;
  if (pod == nullptr || source == nullptr) return networks;

  if (const auto value = pod->annotation(kDefaultNetworkAnnotation)) {
    const auto selections = parse_network_selections(*value, config.multus_namespace);
    if (selections.size() != 1) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("annotation {} must name exactly one network, it names {}",
                                   kDefaultNetworkAnnotation, selections.size()));
    }
    // Unlike multus, the override obeys namespaceIsolation like any other selection.
    auto network = resolve_selection(selections.front(), pod->namespace_name, config, *source);
    network.status_name = name_of(parse_config_object(network.config, network.origin));
    network.cluster_network = true;
    networks.front() = std::move(network);
  }
  if (const auto value = pod->annotation(kNetworksAnnotation)) {
    for (const auto& selection : parse_network_selections(*value, pod->namespace_name)) {
      networks.push_back(resolve_selection(selection, pod->namespace_name, config, *source));
    }
  }
  return networks;
}

}  // namespace plexus::meta
