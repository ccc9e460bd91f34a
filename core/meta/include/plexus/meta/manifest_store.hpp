// A NetworkSource over a directory of YAML (or JSON) manifests holding NetworkAttachmentDefinition,
// Pod and StatefulSet objects, several documents per file allowed: the cluster-less stand-in for
// the API. A StatefulSet "web" with spec.replicas N stands for its pods web-0 .. web-<N-1> (unless
// a Pod manifest of that name is there): the template's annotations and labels, the
// apps.kubernetes.io/pod-index label and a controller ownerReference to the StatefulSet, as the
// StatefulSet controller makes them. The sticky IPAM's claims live in <dir>/claims/; a claim whose
// StatefulSet (or dynamic pod) is no longer in the store is released on the next use.
#pragma once

#include <plexus/meta/local_claim_store.hpp>
#include <plexus/meta/network_source.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <utility>

namespace plexus::meta {

class ManifestStore final : public NetworkSource {
 public:
  // Reads every *.yaml, *.yml and *.json file of `dir` (not recursive). A file that does not
  // parse, or an object without metadata.name, is a code 7 cni::Error naming the file.
  // Objects of other kinds are skipped. A missing namespace means "default".
  explicit ManifestStore(const std::filesystem::path& dir);

  std::optional<NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) override;
  std::optional<PodInfo> get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) override;
  // The store is read-only: the status is kept in memory (last_status) for inspection only.
  bool set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                          std::string_view status_json_array) override;

  std::optional<std::string> last_status(std::string_view ns, std::string_view name) const;

  // <dir>/claims/, its orphans released first.
  ClaimStore* claim_store() override;
  LocalClaimStore& claims();

 private:
  struct StatefulSet {
    std::string uid;
    std::size_t replicas = 1;
    std::map<std::string, std::string, std::less<>> annotations;  // the pod template's
    std::map<std::string, std::string, std::less<>> labels;
  };
  using Key = std::pair<std::string, std::string>;
  bool holder_exists(const ClaimHolder& holder) const;
  std::optional<PodInfo> statefulset_pod(std::string_view ns, std::string_view name) const;

  std::filesystem::path dir_;
  std::map<Key, NetworkAttachment> attachments_;
  std::map<Key, PodInfo> pods_;
  std::map<Key, StatefulSet> statefulsets_;
  std::map<Key, std::string> statuses_;
  std::unique_ptr<LocalClaimStore> claims_;
  bool orphans_released_ = false;
};

}  // namespace plexus::meta
