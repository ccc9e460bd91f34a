// The pods of this node, kept by a list + watch of the API server (fieldSelector
// spec.nodeName=<node>): list, then watch from the list's resourceVersion; a closed watch is
// resumed from the last version seen, a 410 Gone re-lists, an error reconnects after a backoff
// that doubles up to a bound. CachedPodSource answers the engine's pod lookups from it and falls
// back to the API on a miss; NAD lookups and status writes go to the API.
#pragma once

#include <plexus/daemon/metrics.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/meta/k8s_source.hpp>
#include <plexus/meta/network_source.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

namespace plexus::daemon {

class PodCache {
 public:
  struct Options {
    std::chrono::milliseconds backoff_min{200};
    std::chrono::milliseconds backoff_max{10000};
    std::chrono::seconds watch_timeout{300};  // the server closes each watch after this
    std::function<void(std::string_view)> log;  // null = silent
    // A pod's k8s.v1.cni.cncf.io/networks annotation changed (a watch MODIFIED event): called
    // with the new object, on the watch thread, outside the cache's lock. Null = none.
    std::function<void(const nlohmann::json& pod)> on_networks_changed;
  };

  PodCache(const k8s::ApiClient& api, std::string node_name, DaemonMetrics* metrics, Options options);
  ~PodCache();  // stops the watch
  PodCache(const PodCache&) = delete;
  PodCache& operator=(const PodCache&) = delete;

  void start();
  void stop();
  // True once the first list has landed.
  bool wait_synced(std::chrono::milliseconds timeout) const;

  std::optional<nlohmann::json> find(std::string_view ns, std::string_view name) const;
  std::size_t size() const;
  // Lists made so far (the first one plus every re-list after 410 Gone or an error).
  int lists() const;

 private:
  void run(const std::stop_token& stop);
  // Returns false when stopped.
  bool list_and_watch(const std::stop_token& stop);
  void replace_all(const k8s::PodList& list);
  void apply(const k8s::WatchEvent& event);
  void log(std::string_view message) const;

  const k8s::ApiClient& api_;
  std::string field_selector_;
  DaemonMetrics* metrics_;
  Options options_;

  mutable std::mutex mutex_;
  mutable std::condition_variable_any changed_;
  std::map<std::string, nlohmann::json, std::less<>> pods_;  // "ns/name"
  bool synced_ = false;
  int lists_ = 0;
  std::jthread thread_;
};

class CachedPodSource final : public meta::NetworkSource {
 public:
  // `cache` may be null (no node name): every pod lookup is then a GET.
  CachedPodSource(const k8s::ApiClient& api, const PodCache* cache, DaemonMetrics& metrics)
      : api_(api), direct_(api), cache_(cache), metrics_(metrics) {}

  std::optional<meta::NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) override;
  std::optional<meta::PodInfo> get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) override;
  // With the pod in the cache (same UID), the annotation is PUT onto the cached object, saving
  // the GET; a 409 (the cache was behind) or any other failure takes the GET + PUT path.
  bool set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                          std::string_view status_json_array) override;
  meta::ClaimStore* claim_store() override { return direct_.claim_store(); }

 private:
  const k8s::ApiClient& api_;
  meta::KubernetesSource direct_;
  const PodCache* cache_;
  DaemonMetrics& metrics_;
};

// The engine's view of a pod object.
meta::PodInfo pod_info(const k8s::Pod& pod);

}  // namespace plexus::daemon
