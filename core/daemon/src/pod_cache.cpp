#include <plexus/daemon/pod_cache.hpp>

#include <plexus/cni/errors.hpp>

#include <fmt/format.h>

namespace plexus::daemon {
namespace {

std::string key_of(std::string_view ns, std::string_view name) { return fmt::format("{}/{}", ns, name); }

std::string key_of(const nlohmann::json& pod) {
  const auto& meta = pod.at("metadata");
  return key_of(meta.value("namespace", "default"), meta.value("name", ""));
}

std::string resource_version_of(const nlohmann::json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return {};
  return meta->value("resourceVersion", "");
}

}  // namespace

meta::PodInfo pod_info(const k8s::Pod& pod) { return meta::pod_info_from(pod); }

PodCache::PodCache(const k8s::ApiClient& api, std::string node_name, DaemonMetrics* metrics, Options options)
    : api_(api), field_selector_("spec.nodeName=" + node_name), metrics_(metrics), options_(std::move(options)) {}

PodCache::~PodCache() { stop(); }

void PodCache::start() {
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void PodCache::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  changed_.notify_all();
  thread_.join();
}

bool PodCache::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return synced_; });
}

std::optional<nlohmann::json> PodCache::find(std::string_view ns, std::string_view name) const {
  const std::lock_guard lock(mutex_);
  const auto it = pods_.find(key_of(ns, name));
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

std::size_t PodCache::size() const {
  const std::lock_guard lock(mutex_);
  return pods_.size();
}

int PodCache::lists() const {
  const std::lock_guard lock(mutex_);
  return lists_;
}

void PodCache::log(std::string_view message) const {
  if (options_.log) options_.log(message);
}

void PodCache::replace_all(const k8s::PodList& list) {
  std::map<std::string, nlohmann::json, std::less<>> fresh;
  for (const auto& pod : list.items) fresh.emplace(key_of(pod.json()), pod.json());
  {
    const std::lock_guard lock(mutex_);
    pods_ = std::move(fresh);
    synced_ = true;
    ++lists_;
    if (metrics_ != nullptr) metrics_->set_cached_pods(pods_.size());
  }
  changed_.notify_all();
}

namespace {

std::string networks_of(const nlohmann::json& pod) {
  const auto annotations = pod.value("metadata", nlohmann::json::object()).value("annotations", nlohmann::json::object());
  const auto it = annotations.find(std::string(k8s::kNetworksAnnotation));
  return it != annotations.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void PodCache::apply(const k8s::WatchEvent& event) {
  if (event.type == k8s::WatchEventType::Bookmark || !event.object.contains("metadata")) return;
  const auto key = key_of(event.object);
  bool networks_changed = false;
  {
    const std::lock_guard lock(mutex_);
    if (event.type == k8s::WatchEventType::Deleted) {
      pods_.erase(key);
    } else {
      const auto old = pods_.find(key);
      networks_changed = event.type == k8s::WatchEventType::Modified && old != pods_.end() &&
                         networks_of(old->second) != networks_of(event.object);
      pods_.insert_or_assign(key, event.object);
    }
    if (metrics_ != nullptr) metrics_->set_cached_pods(pods_.size());
  }
  if (networks_changed && options_.on_networks_changed) options_.on_networks_changed(event.object);
}

bool PodCache::list_and_watch(const std::stop_token& stop) {
  const auto list = api_.list_pods(field_selector_);
  if (metrics_ != nullptr) metrics_->count_api_request("list_pods", true);
  replace_all(list);
  std::string resource_version = list.resource_version;
  while (!stop.stop_requested()) {
    k8s::WatchOptions options;
    options.field_selector = field_selector_;
    options.resource_version = resource_version;
    options.server_timeout = options_.watch_timeout;
    options.stop = stop;
    const auto end = api_.watch_pods(options, [&](const k8s::WatchEvent& event) {
      apply(event);
      if (auto version = resource_version_of(event.object); !version.empty()) resource_version = std::move(version);
      return true;
    });
    if (metrics_ != nullptr) metrics_->count_api_request("watch_pods", true);
    switch (end) {
      case k8s::WatchEnd::Stopped: return false;
      case k8s::WatchEnd::Gone:
        log(fmt::format("pod watch: resourceVersion {} is gone (410), re-listing", resource_version));
        if (metrics_ != nullptr) metrics_->count_watch_restart("relist");
        return true;
      case k8s::WatchEnd::Closed:
        if (metrics_ != nullptr) metrics_->count_watch_restart("rewatch");
        break;
    }
  }
  return false;
}

void PodCache::run(const std::stop_token& stop) {
  auto backoff = options_.backoff_min;
  while (!stop.stop_requested()) {
    try {
      if (!list_and_watch(stop)) return;
      backoff = options_.backoff_min;  // a clean 410 re-lists at once
    } catch (const std::exception& e) {
      if (stop.stop_requested()) return;
      if (metrics_ != nullptr) {
        metrics_->count_api_request("watch_pods", false);
        metrics_->count_watch_restart("reconnect");
      }
      log(fmt::format("pod watch failed, retrying in {} ms: {}", backoff.count(), e.what()));
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
}

std::optional<meta::NetworkAttachment> CachedPodSource::get_network_attachment(std::string_view ns, std::string_view name) {
  try {
    auto found = direct_.get_network_attachment(ns, name);
    metrics_.count_api_request("get_network_attachment", true);
    return found;
  } catch (...) {
    metrics_.count_api_request("get_network_attachment", false);
    throw;
  }
}

std::optional<meta::PodInfo> CachedPodSource::get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) {
  if (cache_ != nullptr) {
    if (auto object = cache_->find(ns, name)) {
      k8s::Pod pod(std::move(*object));
      // A pod on its way out may be re-created under the same name: ask the API for the truth.
      if (!pod.json().at("metadata").contains("deletionTimestamp")) {
        metrics_.count_cache_lookup(true);
        return pod_info(pod);
      }
    }
    metrics_.count_cache_lookup(false);
  }
  try {
    auto found = direct_.get_pod(ns, name, wait_for_pod);
    metrics_.count_api_request("get_pod", true);
    return found;
  } catch (...) {
    metrics_.count_api_request("get_pod", false);
    throw;
  }
}

bool CachedPodSource::set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                                         std::string_view status_json_array) {
  if (cache_ != nullptr) {
    if (auto object = cache_->find(ns, name)) {
      const k8s::Pod cached(*object);
      if (expected_uid.empty() || cached.uid() == expected_uid || cached.is_static()) {
        (*object)["metadata"]["annotations"][std::string(k8s::kNetworkStatusAnnotation)] = std::string(status_json_array);
        try {
          api_.put(fmt::format("/api/v1/namespaces/{}/pods/{}/status", ns, name), object->dump());
          metrics_.count_api_request("put_pod_status", true);
          return true;
        } catch (const k8s::ApiError&) {
          // Most often 409: the cached copy is older than the server's. The full path re-GETs.
          metrics_.count_api_request("put_pod_status", false);
        }
      }
    }
  }
  try {
    const bool written = direct_.set_network_status(ns, name, expected_uid, status_json_array);
    metrics_.count_api_request("set_network_status", true);
    return written;
  } catch (...) {
    metrics_.count_api_request("set_network_status", false);
    throw;
  }
}

}  // namespace plexus::daemon
