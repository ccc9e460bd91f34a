// An HTTPS client for the Kubernetes API over libcurl, and the few typed calls plexus needs:
// pods, NetworkAttachmentDefinitions, the network-status annotation, pod list and watch, Events,
// StatefulSet GET and plexus's own StickyClaim objects (the sticky IPAM's cluster-wide claims).
//
// TLS verification (peer and host name) is always on. Every request has a bounded connect and
// total time. Retries follow multus: a pod GET retries 500/503/connection refused or reset (and,
// when asked, 404 while a just-created pod is not yet visible) within a bounded window; the
// network-status write re-GETs and retries on 409 Conflict.
#pragma once

#include "plexus/k8s/config.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::k8s {

inline constexpr std::string_view kNetworkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status";
inline constexpr std::string_view kNetworksAnnotation = "k8s.v1.cni.cncf.io/networks";
inline constexpr std::string_view kResourceNameAnnotation = "k8s.v1.cni.cncf.io/resourceName";
// plexus's CRD (deploy/crd.yaml): cluster-scoped StickyClaim objects.
inline constexpr std::string_view kStickyClaimApiVersion = "k8s.plexus.dev/v1alpha1";
inline constexpr std::string_view kStickyClaimKind = "StickyClaim";

// A failed API call. http_status() is 0 when no HTTP answer came (connect, TLS, timeout); then
// transport_code() is the CURLcode. For an HTTP error, reason()/api_message() come from the
// metav1.Status body when the server sent one.
class ApiError : public std::runtime_error {
 public:
  ApiError(std::string what, int http_status, std::string reason, std::string api_message,
           int transport_code = 0);

  int http_status() const noexcept { return http_status_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& api_message() const noexcept { return api_message_; }
  int transport_code() const noexcept { return transport_code_; }

  bool is_not_found() const noexcept { return http_status_ == 404; }
  bool is_conflict() const noexcept { return http_status_ == 409; }
  // A 409 from a create: the name is taken (reason AlreadyExists), not a stale resourceVersion.
  bool is_already_exists() const noexcept { return http_status_ == 409 && reason_ == "AlreadyExists"; }
  bool is_gone() const noexcept { return http_status_ == 410; }
  bool is_timeout() const noexcept;
  // 500, 503, connection refused or reset: what multus's isCriticalRequestRetriable accepts.
  bool is_transient() const noexcept;

 private:
  int http_status_;
  std::string reason_;
  std::string api_message_;
  int transport_code_;
};

// The pod's UID is not the one the runtime asked for (the pod was deleted and re-created).
class UidMismatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{20000};  // whole request, body included
  // Pod GET retries (multus: 250 ms apart, for at most 2.5 s).
  std::chrono::milliseconds retry_interval{250};
  std::chrono::milliseconds retry_window{2500};
  // RetryOnConflict for the status write (client-go DefaultRetry: 5 tries, 10 ms apart).
  int conflict_attempts = 5;
  std::chrono::milliseconds conflict_backoff{10};
  std::string user_agent = "plexus";
};

// A raw HTTP answer (2xx only; anything else is thrown as ApiError).
struct Response {
  long status = 0;
  std::string body;
};

class Pod {
 public:
  explicit Pod(nlohmann::json object);
  const nlohmann::json& json() const noexcept { return object_; }
  std::string name() const;
  std::string namespace_name() const;
  std::string uid() const;
  std::string node_name() const;  // empty while unscheduled
  std::string resource_version() const;
  std::map<std::string, std::string> annotations() const;
  std::optional<std::string> annotation(std::string_view key) const;
  // kubelet's static/mirror pods: their API UID differs from the runtime's (multus skips the
  // UID check for them).
  bool is_static() const;

 private:
  nlohmann::json object_;
};

class NetworkAttachmentDefinition {
 public:
  explicit NetworkAttachmentDefinition(nlohmann::json object);
  const nlohmann::json& json() const noexcept { return object_; }
  std::string name() const;
  std::string namespace_name() const;
  // spec.config, the CNI config JSON as a string; empty when the NAD has no spec (multus then
  // loads the file of that name from confDir).
  std::string config() const;
  std::map<std::string, std::string> annotations() const;
  std::optional<std::string> resource_name() const;  // k8s.v1.cni.cncf.io/resourceName

 private:
  nlohmann::json object_;
};

// A core/v1 Event about one object, the fields client-go's recorder fills (multus's
// EventRecorder.Eventf): the object, type Normal or Warning, reason, message, source.
struct ObjectReference {
  std::string api_version = "v1";
  std::string kind = "Pod";
  std::string namespace_name;
  std::string name;
  std::string uid;  // empty: left out
};

struct Event {
  ObjectReference involved_object;
  std::string type = "Normal";
  std::string reason;
  std::string message;  // cut to 1024 bytes, the apiserver's limit for a note
  std::string source_component;
  std::string source_host;  // empty: left out
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

struct PodList {
  std::vector<Pod> items;
  std::string resource_version;  // where a following watch starts
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark };

struct WatchEvent {
  WatchEventType type;
  nlohmann::json object;
};

enum class WatchEnd {
  Closed,   // the server ended the stream (timeoutSeconds reached, apiserver restart): re-watch
  Stopped,  // the callback returned false or the stop token was triggered
  Gone,     // 410: resource_version is too old; re-list, then watch from the list's version
};

struct WatchOptions {
  std::string field_selector;    // e.g. "spec.nodeName=node-1"
  std::string resource_version;  // from list_pods; empty = "now" (the server's choice)
  std::string namespace_name;    // empty = all namespaces
  std::chrono::seconds server_timeout{300};  // timeoutSeconds: the server closes after it
  std::stop_token stop;
};

struct GetPodOptions {
  // Retry 404 within the window: on ADD the pod may not be visible yet. Off for DEL, where a
  // missing pod is an answer, not a delay.
  bool retry_not_found = false;
};

class ApiClient {
 public:
  explicit ApiClient(ClusterConfig config, ClientOptions options = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;

  const ClusterConfig& config() const noexcept { return config_; }
  const ClientOptions& options() const noexcept { return options_; }

  // One attempt each, no retries. `path_and_query` starts with "/"; bodies are JSON.
  Response get(std::string_view path_and_query) const;
  Response put(std::string_view path, std::string_view json_body) const;
  Response post(std::string_view path, std::string_view json_body,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;
  // content_type: application/merge-patch+json, application/strategic-merge-patch+json, ...
  Response patch(std::string_view path, std::string_view json_body,
                 std::string_view content_type = "application/merge-patch+json") const;
  // DELETE; `json_body` carries DeleteOptions (preconditions) when not empty.
  Response del(std::string_view path, std::string_view json_body = {}) const;

  Pod get_pod(std::string_view ns, std::string_view name, GetPodOptions options = {}) const;
  NetworkAttachmentDefinition get_network_attachment_definition(std::string_view ns,
                                                                std::string_view name) const;

  // Writes the pod annotation k8s.v1.cni.cncf.io/network-status = status_json_array, exactly as
  // multus (NAD client SetNetworkStatus): GET the pod, set the annotation on the object, PUT it
  // to .../pods/NAME/status; on 409 Conflict GET again and retry (RetryOnConflict). When
  // expected_uid is given and the pod is not a static pod, a different UID throws
  // UidMismatchError and nothing is written. A missing pod throws ApiError (is_not_found()),
  // which multus's caller tolerates. Returns the pod as the server stored it.
  Pod set_network_status(std::string_view ns, std::string_view name,
                         std::optional<std::string_view> expected_uid,
                         std::string_view status_json_array) const;

  // POSTs `event` to /api/v1/namespaces/<its object's namespace>/events, one attempt bounded by
  // `timeout` (0 = the client's request timeout), named <object>.<unix nanoseconds in hex> as
  // client-go names them. Returns the event as the server stored it.
  nlohmann::json create_event(const Event& event,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

  PodList list_pods(std::string_view field_selector, std::string_view ns = {}) const;

  // GET /apis/apps/v1/namespaces/NS/statefulsets/NAME (404 = ApiError is_not_found()).
  nlohmann::json get_statefulset(std::string_view ns, std::string_view name) const;

  // StickyClaims, at /apis/k8s.plexus.dev/v1alpha1/stickyclaims. No retries: the caller decides.
  // create: POST; a taken name throws ApiError is_already_exists(). Returns the stored object.
  nlohmann::json create_sticky_claim(const nlohmann::json& object) const;
  nlohmann::json get_sticky_claim(std::string_view name) const;
  // PUT of `object`, whose metadata.resourceVersion is the precondition: 409 when it is stale.
  nlohmann::json replace_sticky_claim(const nlohmann::json& object) const;
  // DELETE with a resourceVersion precondition (409 when stale); 404 when already gone.
  void delete_sticky_claim(std::string_view name, std::string_view resource_version) const;
  // LIST with a label selector ("k=v,k2=v2"; empty = all).
  std::vector<nlohmann::json> list_sticky_claims(std::string_view label_selector) const;

  // Streams ?watch=true events to `on_event` until the server closes, the callback returns
  // false, the stop token fires, or the server reports 410 Gone (also when it comes as an ERROR
  // event). Other ERROR events and HTTP errors throw ApiError.
  WatchEnd watch_pods(const WatchOptions& options,
                      const std::function<bool(const WatchEvent&)>& on_event) const;
  WatchEnd watch_pods(std::string_view field_selector, std::string_view resource_version,
                      const std::function<bool(const WatchEvent&)>& on_event) const;

 private:
  struct Request;
  Response perform(const Request& request) const;
  std::string bearer_token() const;

  ClusterConfig config_;
  ClientOptions options_;
};

}  // namespace plexus::k8s
