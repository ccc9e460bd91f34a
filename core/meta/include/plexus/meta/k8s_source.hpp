// A NetworkSource over the Kubernetes API (plexus::k8s::ApiClient).
#pragma once

#include <plexus/meta/events.hpp>
#include <plexus/meta/k8s_claim_store.hpp>
#include <plexus/meta/network_source.hpp>

#include <chrono>
#include <string>

namespace plexus::k8s {
class ApiClient;
class Pod;
}

namespace plexus::meta {

// The engine's view of a pod object: annotations, labels, owner references.
PodInfo pod_info_from(const k8s::Pod& pod);

// The source component of plexus's Events (multus's is "multus").
inline constexpr std::string_view kEventComponent = "plexus";

// Sends a PodEvent as a core/v1 Event about the pod (source component "plexus", host `node` when
// given), one POST bounded by `timeout`; throws k8s::ApiError / std::invalid_argument.
EventSender kubernetes_event_sender(const k8s::ApiClient& client, std::string node, std::chrono::milliseconds timeout);

class KubernetesSource final : public NetworkSource {
 public:
  explicit KubernetesSource(const k8s::ApiClient& client) : client_(client), claims_(client) {}

  // A 404 is nullopt; any other API failure is a code 999 cni::Error naming the object.
  std::optional<NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) override;
  std::optional<PodInfo> get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) override;
  // A pod that is gone is tolerated (false), as multus does; other failures throw.
  bool set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                          std::string_view status_json_array) override;
  // StickyClaim objects on the same API server.
  ClaimStore* claim_store() override { return &claims_; }
  KubernetesClaimStore& claims() { return claims_; }

 private:
  const k8s::ApiClient& client_;
  KubernetesClaimStore claims_;
};

}  // namespace plexus::meta
