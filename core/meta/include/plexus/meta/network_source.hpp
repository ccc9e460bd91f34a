// Where NetworkAttachmentDefinitions and pods come from: the Kubernetes API, or a local store of
// manifests for cluster-less use, tests and the demo. The meta-plugin sees only this interface.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

class ClaimStore;

inline constexpr std::string_view kResourceNameAnnotation = "k8s.v1.cni.cncf.io/resourceName";

struct NetworkAttachment {
  std::string namespace_name;
  std::string name;
  std::string config;  // spec.config: CNI JSON; empty = look the network up in confDir by name
  std::optional<std::string> resource_name;  // k8s.v1.cni.cncf.io/resourceName, recorded only
};

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
};

struct PodInfo {
  std::string namespace_name;
  std::string name;
  std::string uid;
  bool is_static = false;  // a kubelet mirror pod: its API UID is not the runtime's
  std::map<std::string, std::string, std::less<>> annotations;
  std::map<std::string, std::string, std::less<>> labels{};
  std::vector<OwnerReference> owners{};
  // False for a pod known only from the runtime's annotations (no labels, no owners).
  bool complete = true;

  std::optional<std::string> annotation(std::string_view key) const {
    const auto it = annotations.find(key);
    return it == annotations.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::optional<std::string> label(std::string_view key) const {
    const auto it = labels.find(key);
    return it == labels.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

class NetworkSource {
 public:
  virtual ~NetworkSource() = default;
  // nullopt when there is no such object; throws (cni::Error) when the source cannot answer.
  virtual std::optional<NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) = 0;
  // `wait_for_pod`: on ADD a just-created pod may not be visible yet, so a source may retry.
  virtual std::optional<PodInfo> get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) = 0;
  // Publishes the network-status annotation. Returns false when this source keeps no status.
  virtual bool set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                                  std::string_view status_json_array) = 0;
  // Where the sticky IPAM's claims live for this source; null = sticky networks are refused.
  virtual ClaimStore* claim_store() { return nullptr; }
};

}  // namespace plexus::meta
