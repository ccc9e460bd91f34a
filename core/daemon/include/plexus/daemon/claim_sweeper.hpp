// plexusd's sweep of the sticky IPAM's StickyClaims: every `interval`, the claims whose holder is
// gone (a deleted StatefulSet, a dynamic pod that is no more) are deleted, each with a
// resourceVersion precondition so a claim another node has just taken over is left alone. This is
// what frees a deleted StatefulSet's addresses on a cluster: claims are cluster-scoped (keyed by
// pool + address), and Kubernetes's garbage collector never deletes those for a namespaced owner.
// Every node's plexusd sweeps; a sweep that races another one only deletes what is still stale.
#pragma once

#include <plexus/meta/k8s_claim_store.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

namespace plexus::k8s {
class ApiClient;
}

namespace plexus::daemon {

class ClaimSweeper {
 public:
  using Log = std::function<void(std::string_view)>;
  // Starts the thread; the first sweep runs after one interval.
  ClaimSweeper(const k8s::ApiClient& client, std::chrono::milliseconds interval, Log log);
  ~ClaimSweeper();  // stops within one wait, never mid-request
  ClaimSweeper(const ClaimSweeper&) = delete;
  ClaimSweeper& operator=(const ClaimSweeper&) = delete;

  // Sweeps finished so far (successful or not), for tests.
  int sweeps() const;

 private:
  void run(std::stop_token stop);

  meta::KubernetesClaimStore store_;
  std::chrono::milliseconds interval_;
  Log log_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  int sweeps_ = 0;
  std::jthread thread_;  // last: started when everything it uses exists
};

}  // namespace plexus::daemon
