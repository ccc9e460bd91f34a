// A NetworkSource over a directory of YAML (or JSON) manifests holding NetworkAttachmentDefinition
// and Pod objects, several documents per file allowed: the cluster-less stand-in for the API.
#pragma once

#include <plexus/meta/network_source.hpp>

#include <filesystem>
#include <map>
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

 private:
  using Key = std::pair<std::string, std::string>;
  std::map<Key, NetworkAttachment> attachments_;
  std::map<Key, PodInfo> pods_;
  std::map<Key, std::string> statuses_;
};

}  // namespace plexus::meta
