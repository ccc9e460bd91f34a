#include <plexus/meta/k8s_claim_store.hpp>

#include <plexus/meta/local_claim_store.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/k8s/api_client.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace plexus::meta {
namespace {

using nlohmann::json;

// A 404 on the collection: the resource type itself is missing.
cni::Error crd_missing(const k8s::ApiError& error, std::string_view doing) {
  return cni::Error(cni::ErrorCode::Internal,
                    fmt::format("cannot {}: the API server has no stickyclaims.k8s.plexus.dev ({}); install deploy/crd.yaml",
                                doing, error.what()));
}

// How a failed API call reaches the CNI caller: unavailable is "try again later" (code 11), the
// rest names what is missing.
cni::Error api_failure(const k8s::ApiError& error, std::string_view doing) {
  const int status = error.http_status();
  if (status == 0 || error.is_transient() || status == 429 || status == 504) {
    return cni::Error(cni::ErrorCode::TryAgainLater,
                      fmt::format("cannot {}: the API server is unavailable ({}); nothing was attached, try again", doing, error.what()));
  }
  if (status == 403) {
    return cni::Error(cni::ErrorCode::Internal,
                      fmt::format("cannot {}: forbidden ({}); plexus's ClusterRole (deploy/rbac.yaml) must grant get, list, "
                                  "create, update and delete on stickyclaims.k8s.plexus.dev and get on statefulsets.apps",
                                  doing, error.what()));
  }
  return cni::Error(cni::ErrorCode::Internal, fmt::format("cannot {}: {}", doing, error.what()));
}

// A label value (<= 63 characters of [A-Za-z0-9._-], alphanumeric at both ends) or nothing.
std::optional<std::string> label_value(std::string_view value) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (value.empty() || value.size() > 63 || !alnum(value.front()) || !alnum(value.back())) return std::nullopt;
  if (!std::all_of(value.begin(), value.end(), [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; })) return std::nullopt;
  return std::string(value);
}

std::string holder_selector(const ClaimHolder& holder) {
  auto selector = fmt::format("{}={}", kClaimHolderKindLabel, label_value(holder.kind).value_or("none"));
  if (const auto ns = label_value(holder.namespace_name)) selector += fmt::format(",{}={}", kClaimHolderNamespaceLabel, *ns);
  if (const auto name = label_value(holder.name)) selector += fmt::format(",{}={}", kClaimHolderNameLabel, *name);
  return selector;
}

}  // namespace

json claim_object(const StickyClaim& claim) {
  json spec = json::parse(claim_to_json(claim));
  spec.erase("name");  // metadata.name
  json labels = json::object();
  for (const auto& [key, value] : {std::pair{kClaimPoolLabel, std::string_view(claim.pool)},
                                   std::pair{kClaimHolderKindLabel, std::string_view(claim.holder.kind)},
                                   std::pair{kClaimHolderNamespaceLabel, std::string_view(claim.holder.namespace_name)},
                                   std::pair{kClaimHolderNameLabel, std::string_view(claim.holder.name)}}) {
    if (const auto text = label_value(value)) labels[std::string(key)] = *text;
  }
  return json{{"apiVersion", k8s::kStickyClaimApiVersion},
              {"kind", k8s::kStickyClaimKind},
              {"metadata", {{"name", claim.name}, {"labels", labels}}},
              {"spec", spec}};
}

StickyClaim claim_from_object(const json& object) {
  const auto metadata = object.is_object() ? object.value("metadata", json::object()) : json::object();
  const auto name = metadata.is_object() ? metadata.value("name", "") : std::string();
  json spec = object.is_object() ? object.value("spec", json()) : json();
  if (spec.is_object()) spec["name"] = name;
  auto claim = claim_from_json(spec.dump(), fmt::format("stickyclaim \"{}\"", name));
  claim.version = metadata.value("resourceVersion", "");
  return claim;
}

std::optional<StickyClaim> KubernetesClaimStore::create(const StickyClaim& claim) {
  const auto object = claim_object(claim);
  // A claim seen by the POST may be released before the GET: then the POST is tried again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      client_.create_sticky_claim(object);
      return std::nullopt;
    } catch (const k8s::ApiError& e) {
      if (e.is_not_found()) throw crd_missing(e, fmt::format("create stickyclaim {}", claim.name));
      if (!e.is_already_exists()) throw api_failure(e, fmt::format("create stickyclaim {}", claim.name));
    }
    try {
      return claim_from_object(client_.get_sticky_claim(claim.name));
    } catch (const k8s::ApiError& e) {
      if (!e.is_not_found()) throw api_failure(e, fmt::format("get stickyclaim {}", claim.name));
    }
  }
  throw cni::Error(cni::ErrorCode::TryAgainLater, fmt::format("stickyclaim {} keeps appearing and disappearing", claim.name));
}

namespace {

// The replica's pod still exists for `holder` (its StatefulSet may be gone already): the pod is
// still there (terminating, or orphaned by a non-cascading delete) and is not another
// StatefulSet's, so its address may still be on the wire.
bool replica_pod_remains(const k8s::ApiClient& client, const ClaimHolder& holder) {
  if (!holder.ordinal) return false;
  try {
    const auto pod = client.get_pod(holder.namespace_name, fmt::format("{}-{}", holder.name, *holder.ordinal));
    const auto owners = pod.json().value("metadata", json::object()).value("ownerReferences", json::array());
    for (const auto& owner : owners) {
      if (owner.is_object() && owner.value("controller", false)) return holder.uid.empty() || owner.value("uid", "") == holder.uid;
    }
    return true;  // orphaned: still running with the address
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) return false;
    throw;
  }
}

}  // namespace

bool KubernetesClaimStore::holder_exists(const ClaimHolder& holder) {
  try {
    if (holder.kind == "StatefulSet") {
      std::string uid;
      try {
        uid = client_.get_statefulset(holder.namespace_name, holder.name).value("metadata", json::object()).value("uid", "");
      } catch (const k8s::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
      if (!uid.empty() && (holder.uid.empty() || uid == holder.uid)) return true;
      // The StatefulSet is gone (or re-created: a new uid is a new holder); its pod may not be.
      return replica_pod_remains(client_, holder);
    }
    if (holder.kind == "Pod") {
      const auto pod = client_.get_pod(holder.namespace_name, holder.name);
      return holder.uid.empty() || pod.uid() == holder.uid;
    }
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) return false;
    throw api_failure(e, fmt::format("check whether {} exists", holder.describe()));
  } catch (const std::invalid_argument&) {
    // A stored holder whose name cannot be a Kubernetes name cannot exist.
    return false;
  }
  return true;  // a kind plexus does not write: never taken over
}

bool KubernetesClaimStore::replace(const StickyClaim& stale, const StickyClaim& claim) {
  auto object = claim_object(claim);
  object["metadata"]["resourceVersion"] = stale.version;
  try {
    client_.replace_sticky_claim(object);
    return true;
  } catch (const k8s::ApiError& e) {
    if (e.is_conflict() || e.is_not_found()) return false;  // another writer came first
    throw api_failure(e, fmt::format("take over stickyclaim {} from {}", claim.name, stale.holder.describe()));
  } catch (const std::invalid_argument&) {
    return false;  // no resourceVersion known: never replace blindly
  }
}

void KubernetesClaimStore::release(const StickyClaim& claim) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    StickyClaim current;
    try {
      current = claim_from_object(client_.get_sticky_claim(claim.name));
    } catch (const k8s::ApiError& e) {
      if (e.is_not_found()) return;
      throw api_failure(e, fmt::format("release stickyclaim {}", claim.name));
    }
    if (!(current.holder == claim.holder)) return;  // someone else's now
    try {
      client_.delete_sticky_claim(claim.name, current.version);
      return;
    } catch (const k8s::ApiError& e) {
      if (e.is_not_found()) return;
      if (!e.is_conflict()) throw api_failure(e, fmt::format("release stickyclaim {}", claim.name));
    }
  }
  throw cni::Error(cni::ErrorCode::TryAgainLater, fmt::format("stickyclaim {} keeps changing while being released", claim.name));
}

std::vector<StickyClaim> KubernetesClaimStore::held_by(const ClaimHolder& holder) {
  std::vector<StickyClaim> out;
  std::vector<json> items;
  try {
    items = client_.list_sticky_claims(holder_selector(holder));
  } catch (const k8s::ApiError& e) {
    throw api_failure(e, fmt::format("list the stickyclaims of {}", holder.describe()));
  }
  for (const auto& item : items) {
    auto claim = claim_from_object(item);
    if (claim.holder.same_object(holder)) out.push_back(std::move(claim));
  }
  return out;
}

std::vector<StickyClaim> KubernetesClaimStore::list() {
  std::vector<StickyClaim> claims;
  try {
    for (const auto& item : client_.list_sticky_claims({})) claims.push_back(claim_from_object(item));
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) throw crd_missing(e, "list stickyclaims");
    throw api_failure(e, "list stickyclaims");
  }
  std::sort(claims.begin(), claims.end(), [](const StickyClaim& a, const StickyClaim& b) { return a.name < b.name; });
  return claims;
}

std::vector<StickyClaim> KubernetesClaimStore::release_orphans() {
  std::vector<StickyClaim> released;
  for (const auto& claim : list()) {
    if (holder_exists(claim.holder)) continue;
    release(claim);
    released.push_back(claim);
  }
  return released;
}

}  // namespace plexus::meta
