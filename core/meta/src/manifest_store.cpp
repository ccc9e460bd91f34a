#include <plexus/meta/manifest_store.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/k8s/yaml_guard.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace plexus::meta {
namespace {

// Aliases make a YAML graph, not a tree: "&a [*a]" is a cycle and ten levels of ten aliases
// are 10^10 nodes once expanded. Real NAD and Pod manifests are far inside these bounds.
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxNodes = 100000;
// A file may hold many objects; the API server takes at most ~3 MiB per object.
constexpr std::size_t kMaxManifestBytes = cni::kMaxFileBytes;

struct TooLarge : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// YAML to JSON with every scalar kept as its text: the fields read here are all strings.
nlohmann::json to_json(const YAML::Node& node, std::size_t& nodes, int depth = 0) {
  if (depth > kMaxDepth) throw TooLarge(fmt::format("nested deeper than {} levels (an alias cycle?)", kMaxDepth));
  if (++nodes > kMaxNodes) throw TooLarge(fmt::format("more than {} YAML nodes with aliases expanded", kMaxNodes));
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto object = nlohmann::json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = to_json(entry.second, nodes, depth + 1);
      return object;
    }
    case YAML::NodeType::Sequence: {
      auto array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(to_json(item, nodes, depth + 1));
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

// metadata.<field> (annotations, labels) of `object`, string values only.
std::map<std::string, std::string, std::less<>> string_map_of(const nlohmann::json& object, const char* field) {
  std::map<std::string, std::string, std::less<>> out;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return out;
  const auto map = metadata->find(field);
  if (map == metadata->end() || !map->is_object()) return out;
  for (const auto& [key, value] : map->items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

std::vector<OwnerReference> owners_of(const nlohmann::json& object) {
  std::vector<OwnerReference> out;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return out;
  const auto refs = metadata->find("ownerReferences");
  if (refs == metadata->end() || !refs->is_array()) return out;
  for (const auto& ref : *refs) {
    OwnerReference owner{text_at(ref, {"apiVersion"}), text_at(ref, {"kind"}), text_at(ref, {"name"}), text_at(ref, {"uid"}),
                         text_at(ref, {"controller"}) == "true"};
    out.push_back(std::move(owner));
  }
  return out;
}

std::size_t replicas_of(const nlohmann::json& object, const std::string& file) {
  const auto text = text_at(object, {"spec", "replicas"});
  if (text.empty()) return 1;  // the API's default
  std::size_t replicas = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), replicas);
  if (error != std::errc() || end != text.data() + text.size() || replicas > 100000) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("manifest {}: spec.replicas \"{}\" is not a replica count", file, text));
  }
  return replicas;
}

}  // namespace

ManifestStore::ManifestStore(const std::filesystem::path& dir) : dir_(dir) {
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
      const auto text = cni::read_existing_file_bounded(file, kMaxManifestBytes, "manifest");
      if (const auto refusal = k8s::yaml_refusal(text)) {
        throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("manifest {}: {}", file.string(), *refusal));
      }
      documents = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("manifest {}: {}", file.string(), e.what()));
    }
    for (const auto& document : documents) {
      try {
        if (!document.IsMap()) continue;  // empty documents between "---"
        std::size_t nodes = 0;
        const auto object = to_json(document, nodes);
        const auto kind = text_at(object, {"kind"});
        if (kind != "NetworkAttachmentDefinition" && kind != "Pod" && kind != "StatefulSet") continue;
        const auto name = text_at(object, {"metadata", "name"});
        if (name.empty()) {
          throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                           fmt::format("manifest {}: a {} without metadata.name", file.string(), kind));
        }
        auto ns = text_at(object, {"metadata", "namespace"});
        if (ns.empty()) ns = "default";
        const auto annotations = string_map_of(object, "annotations");
        if (kind == "Pod") {
          PodInfo pod{ns, name, text_at(object, {"metadata", "uid"}), false, annotations, string_map_of(object, "labels"),
                      owners_of(object), true};
          pod.is_static = annotations.count("kubernetes.io/config.mirror") != 0;
          pods_[{ns, name}] = std::move(pod);
        } else if (kind == "StatefulSet") {
          auto template_object = nlohmann::json::object();
          if (object.contains("spec") && object["spec"].is_object() && object["spec"].contains("template")) {
            template_object = object["spec"]["template"];
          }
          statefulsets_[{ns, name}] = StatefulSet{text_at(object, {"metadata", "uid"}), replicas_of(object, file.string()),
                                                  string_map_of(template_object, "annotations"),
                                                  string_map_of(template_object, "labels")};
        } else {
          NetworkAttachment attachment{ns, name, text_at(object, {"spec", "config"}), std::nullopt};
          if (const auto it = annotations.find(kResourceNameAnnotation); it != annotations.end()) {
            attachment.resource_name = it->second;
          }
          attachments_[{ns, name}] = std::move(attachment);
        }
      } catch (const cni::Error&) {
        throw;
      } catch (const std::exception& e) {
        // TooLarge; a key that is no scalar ("? [a]: b"); a config written as a YAML map that is
        // not UTF-8, which JSON text cannot carry.
        throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, fmt::format("manifest {}: {}", file.string(), e.what()));
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
  if (it != pods_.end()) return it->second;
  return statefulset_pod(ns, name);
}

std::optional<PodInfo> ManifestStore::statefulset_pod(std::string_view ns, std::string_view name) const {
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == name.size()) return std::nullopt;
  const auto sts = statefulsets_.find({std::string(ns), std::string(name.substr(0, dash))});
  if (sts == statefulsets_.end()) return std::nullopt;
  const auto digits = name.substr(dash + 1);
  std::size_t ordinal = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), ordinal);
  if (error != std::errc() || end != digits.data() + digits.size() || (digits.size() > 1 && digits.front() == '0') ||
      ordinal >= sts->second.replicas) {
    return std::nullopt;
  }
  PodInfo pod{std::string(ns), std::string(name), "", false, sts->second.annotations, sts->second.labels, {}, true};
  pod.labels["apps.kubernetes.io/pod-index"] = std::to_string(ordinal);
  pod.labels["statefulset.kubernetes.io/pod-name"] = std::string(name);
  pod.owners.push_back(OwnerReference{"apps/v1", "StatefulSet", sts->first.second, sts->second.uid, true});
  return pod;
}

bool ManifestStore::holder_exists(const ClaimHolder& holder) const {
  const Key key{holder.namespace_name, holder.name};
  if (holder.kind == "StatefulSet") {
    const auto it = statefulsets_.find(key);
    return it != statefulsets_.end() && (holder.uid.empty() || it->second.uid.empty() || holder.uid == it->second.uid);
  }
  if (holder.kind == "Pod") {
    const auto it = pods_.find(key);
    return it != pods_.end() && (holder.uid.empty() || it->second.uid.empty() || holder.uid == it->second.uid);
  }
  return false;
}

LocalClaimStore& ManifestStore::claims() {
  if (!claims_) {
    claims_ = std::make_unique<LocalClaimStore>(dir_ / "claims", [this](const ClaimHolder& holder) { return holder_exists(holder); });
  }
  return *claims_;
}

ClaimStore* ManifestStore::claim_store() {
  auto& store = claims();
  if (!orphans_released_) {
    orphans_released_ = true;
    store.release_orphans();
  }
  return &store;
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
