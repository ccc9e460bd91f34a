// From names to CNI configurations: the cluster network, defaultNetworks, the default-network
// override and the pod's selections, each resolved to the config bytes its delegate will get.
#pragma once

#include <plexus/cni/errors.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/network_source.hpp>
#include <plexus/meta/selection.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

struct ResolvedNetwork {
  // The name network-status shows: "ns/name" for annotation networks, the network's own name for
  // the cluster network and defaultNetworks.
  std::string status_name;
  std::string config;  // the conf or conflist bytes, with "name" present
  bool conflist = false;
  bool cluster_network = false;  // the master: first, ifname = CNI_IFNAME, its result is returned
  std::optional<NetworkSelection> selection;   // what the pod asked of it (none for admin-chosen networks)
  std::optional<std::string> resource_name;    // the NAD's resourceName annotation, recorded only
  std::string origin;                          // where it came from, for messages
  bool nad_spec = false;  // the config is a NAD's own spec.config (not a confDir file the NAD names)
};

// A selection names a NetworkAttachmentDefinition the source does not have: code 7, with what
// multus's NoNetworkFound Warning says.
class NetworkNotFound : public cni::Error {
 public:
  NetworkNotFound(std::string namespace_name, std::string name);
  const std::string& namespace_name() const noexcept { return namespace_name_; }
  const std::string& name() const noexcept { return name_; }
  // multus's text: cannot find a network-attachment-definition (NAME) in namespace (NS): ...
  std::string event_message() const;

 private:
  std::string namespace_name_;
  std::string name_;
};

// The file in conf_dir (.conf, .json, .conflist; sorted by name) whose "name" equals `name`.
// Returns its bytes; a code 7 cni::Error when there is none.
std::string load_conf_by_name(const std::filesystem::path& conf_dir, std::string_view name);

// Returns the config with "name" set to `name` when it has none (keys otherwise untouched).
std::string ensure_network_name(std::string_view config, std::string_view name);

// One annotation element: isolation check against the pod's namespace, the NAD lookup, an empty
// spec taken from confDir, the name injected, then the tenant policy (nad_policy.hpp) enforced.
ResolvedNetwork resolve_selection(const NetworkSelection& selection, std::string_view pod_namespace,
                                  const MetaConfig& config, NetworkSource& source);

// A clusterNetwork/defaultNetworks value: a name (a NAD in multusNamespace, else a conf in
// confDir), a directory (its first .conf/.conflist), or a file path.
ResolvedNetwork resolve_default_network(std::string_view value, const MetaConfig& config, NetworkSource* source);

// Every network of the pod in delegate order: the cluster network (or the default-network
// override, or the inline delegates), defaultNetworks unless the pod is in a system namespace,
// then the annotation's networks. `pod` and `source` may be null (no Kubernetes).
std::vector<ResolvedNetwork> resolve_networks(const MetaConfig& config, const PodInfo* pod, NetworkSource* source);

}  // namespace plexus::meta
