#include <plexus/meta/manifest_store.hpp>

#include <plexus/cni/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <vector>

namespace plexus::meta {
namespace {

// YAML to JSON with every scalar kept as its text: the fields read here are all strings.
nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto object = nlohmann::json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = to_json(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      auto array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(to_json(item));
      return array;
    }
    case YAML::NodeType::Scalar:
      return node.as<std::string>();
    default:
      return nullptr;
  }
}

std::string text_at(const nlohmann::json& object, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &object;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return {};
    at = &(*at)[key];
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_object() || at->is_array()) return at->dump();  // a config written as a YAML map
  return {};
}

std::map<std::string, std::string, std::less<>> annotations_of(const nlohmann::json& object) {
  std::map<std::string, std::string, std::less<>> out;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return out;
  const auto annotations = metadata->find("annotations");
  if (annotations == metadata->end() || !annotations->is_object()) return out;
  for (const auto& [key, value] : annotations->items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

}  // namespace

ManifestStore::ManifestStore(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(entry.path());
  }
  if (error) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("cannot read manifest directory {}: {}", dir.string(), error.message()));
  }
  std::sort(files.begin(), files.end());

  for (const auto& file : files) {
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAllFromFile(file.string());
    } catch (const YAML::Exception& e) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("manifest {}: {}", file.string(), e.what()));
    }
    for (const auto& document : documents) {
      if (!document.IsMap()) continue;  // empty documents between "---"
      const auto object = to_json(document);
      const auto kind = text_at(object, {"kind"});
      if (kind != "NetworkAttachmentDefinition" && kind != "Pod") continue;
      const auto name = text_at(object, {"metadata", "name"});
      if (name.empty()) {
        throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                         fmt::format("manifest {}: a {} without metadata.name", file.string(), kind));
      }
      auto ns = text_at(object, {"metadata", "namespace"});
      if (ns.empty()) ns = "default";
      const auto annotations = annotations_of(object);
      if (kind == "Pod") {
        PodInfo pod{ns, name, text_at(object, {"metadata", "uid"}), false, annotations};
        pod.is_static = annotations.count("kubernetes.io/config.mirror") != 0;
        pods_[{ns, name}] = std::move(pod);
      } else {
        NetworkAttachment attachment{ns, name, text_at(object, {"spec", "config"}), std::nullopt};
        if (const auto it = annotations.find(kResourceNameAnnotation); it != annotations.end()) {
          attachment.resource_name = it->second;
        }
        attachments_[{ns, name}] = std::move(attachment);
      }
    }
  }
}

std::optional<NetworkAttachment> ManifestStore::get_network_attachment(std::string_view ns, std::string_view name) {
  const auto it = attachments_.find({std::string(ns), std::string(name)});
  return it == attachments_.end() ? std::nullopt : std::optional<NetworkAttachment>(it->second);
}

std::optional<PodInfo> ManifestStore::get_pod(std::string_view ns, std::string_view name, bool /*wait_for_pod*/) {
  const auto it = pods_.find({std::string(ns), std::string(name)});
  return it == pods_.end() ? std::nullopt : std::optional<PodInfo>(it->second);
}

bool ManifestStore::set_network_status(std::string_view ns, std::string_view name, std::string_view /*expected_uid*/,
                                       std::string_view status_json_array) {
  statuses_[{std::string(ns), std::string(name)}] = std::string(status_json_array);
  return false;
}

std::optional<std::string> ManifestStore::last_status(std::string_view ns, std::string_view name) const {
  const auto it = statuses_.find({std::string(ns), std::string(name)});
  return it == statuses_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

}  // namespace plexus::meta
