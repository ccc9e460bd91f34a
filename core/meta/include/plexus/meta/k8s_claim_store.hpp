// The sticky IPAM's claims on a cluster: one StickyClaim object (k8s.plexus.dev/v1alpha1,
// deploy/crd.yaml) per claimed address, named "<pool>-<address label>".
//
// Cluster-scoped on purpose: claims are keyed by pool + address across the whole cluster, and only
// a cluster-wide name makes the API server's create-if-absent (POST, 409 AlreadyExists) refuse the
// second of two StatefulSets in different namespaces whose ranges overlap, and the second of two
// nodes racing for one address. The price: Kubernetes's garbage collector never deletes a
// cluster-scoped object for a namespaced owner, so no ownerReference is set; a claim whose
// StatefulSet is gone (GET by name, uid compared) and whose replica pod is gone too (a terminating
// or orphaned pod still uses the address) is taken over by the next claimer with a resourceVersion
// precondition, and release_orphans() (plexusd's sweep, `plexus claims --kubeconfig`) deletes it.
//
// Errors: no answer, 5xx, 429 = code 11 (try again later); 403 names the RBAC, a missing CRD names
// its manifest (code 999).
#pragma once

#include <plexus/meta/sticky_claims.hpp>

#include <nlohmann/json.hpp>

namespace plexus::k8s {
class ApiClient;
}

namespace plexus::meta {

inline constexpr std::string_view kClaimPoolLabel = "k8s.plexus.dev/pool";
inline constexpr std::string_view kClaimHolderKindLabel = "k8s.plexus.dev/holder-kind";
inline constexpr std::string_view kClaimHolderNamespaceLabel = "k8s.plexus.dev/holder-namespace";
inline constexpr std::string_view kClaimHolderNameLabel = "k8s.plexus.dev/holder-name";

class KubernetesClaimStore final : public ClaimStore {
 public:
  explicit KubernetesClaimStore(const k8s::ApiClient& client) : client_(client) {}

  std::optional<StickyClaim> create(const StickyClaim& claim) override;
  bool holder_exists(const ClaimHolder& holder) override;
  bool replace(const StickyClaim& stale, const StickyClaim& claim) override;
  void release(const StickyClaim& claim) override;
  std::vector<StickyClaim> held_by(const ClaimHolder& holder) override;

  // Every claim, by name.
  std::vector<StickyClaim> list();
  // Deletes the claims whose holder is gone. Returns them.
  std::vector<StickyClaim> release_orphans();

 private:
  const k8s::ApiClient& client_;
};

// The StickyClaim object for `claim` (no resourceVersion) and back; claim_from_object throws
// code 5 naming the object when its spec is not a claim.
nlohmann::json claim_object(const StickyClaim& claim);
StickyClaim claim_from_object(const nlohmann::json& object);

}  // namespace plexus::meta
