// The typed calls: pod GET with multus's retries, NAD GET, the network-status write, Events, list,
// watch, StatefulSet GET and the StickyClaim objects.
#include "plexus/k8s/api_client.hpp"
#include "request.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cstdint>
#include <random>
#include <thread>

namespace plexus::k8s {
namespace {

using Clock = std::chrono::steady_clock;

std::string string_at(const nlohmann::json& object, const nlohmann::json::json_pointer& pointer) {
  if (!object.contains(pointer)) return {};
  const auto& value = object.at(pointer);
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::map<std::string, std::string> string_map_at(const nlohmann::json& object,
                                                 const nlohmann::json::json_pointer& pointer) {
  std::map<std::string, std::string> out;
  if (!object.contains(pointer) || !object.at(pointer).is_object()) return out;
  for (const auto& [key, value] : object.at(pointer).items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

// Namespaces and names are DNS labels/subdomains; anything that could change the URL's shape is
// refused rather than escaped, so a bad CNI_ARGS value can never address another resource.
std::string path_segment(std::string_view value, const char* what) {
  if (value.empty()) throw std::invalid_argument(std::string(what) + " is empty");
  for (char c : value) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!allowed) {
      throw std::invalid_argument(std::string(what) + " \"" + std::string(value) +
                                  "\" is not a valid Kubernetes name");
    }
  }
  return std::string(value);
}

std::string query_escape(std::string_view value) {
  std::string out;
  for (const char signed_c : value) {
    const auto c = static_cast<unsigned char>(signed_c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string pod_path(std::string_view ns, std::string_view name) {
  return "/api/v1/namespaces/" + path_segment(ns, "namespace") + "/pods/" +
         path_segment(name, "pod name");
}

nlohmann::json parse_object(const Response& response, const char* what) {
  auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (!parsed.is_object()) {
    throw ApiError(std::string("the API server sent a ") + what + " that is not a JSON object",
                   static_cast<int>(response.status), {}, {});
  }
  return parsed;
}

// The apiserver refuses an Event note over 1 KiB; cut at a character boundary, as client-go
// truncates rather than lose the event.
std::string event_message(std::string_view message) {
  constexpr std::size_t kMaxMessage = 1024;
  if (message.size() <= kMaxMessage) return std::string(message);
  std::size_t end = kMaxMessage;
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0U) == 0x80U) --end;
  return std::string(message.substr(0, end));
}

}  // namespace

// --- Pod -------------------------------------------------------------------------------------

Pod::Pod(nlohmann::json object) : object_(std::move(object)) {}
std::string Pod::name() const { return string_at(object_, "/metadata/name"_json_pointer); }
std::string Pod::namespace_name() const {
  return string_at(object_, "/metadata/namespace"_json_pointer);
}
std::string Pod::uid() const { return string_at(object_, "/metadata/uid"_json_pointer); }
std::string Pod::node_name() const { return string_at(object_, "/spec/nodeName"_json_pointer); }
std::string Pod::resource_version() const {
  return string_at(object_, "/metadata/resourceVersion"_json_pointer);
}
std::map<std::string, std::string> Pod::annotations() const {
  return string_map_at(object_, "/metadata/annotations"_json_pointer);
}
std::optional<std::string> Pod::annotation(std::string_view key) const {
  const auto all = annotations();
  const auto found = all.find(std::string(key));
  if (found == all.end()) return std::nullopt;
  return found->second;
}
bool Pod::is_static() const {
  // kubelet's IsStaticPod: a config source other than "api".
  const auto source = annotation("kubernetes.io/config.source");
  return source.has_value() && *source != "api";
}

// --- NetworkAttachmentDefinition -------------------------------------------------------------

NetworkAttachmentDefinition::NetworkAttachmentDefinition(nlohmann::json object)
    : object_(std::move(object)) {}
std::string NetworkAttachmentDefinition::name() const {
  return string_at(object_, "/metadata/name"_json_pointer);
}
std::string NetworkAttachmentDefinition::namespace_name() const {
  return string_at(object_, "/metadata/namespace"_json_pointer);
}
std::string NetworkAttachmentDefinition::config() const {
  return string_at(object_, "/spec/config"_json_pointer);
}
std::map<std::string, std::string> NetworkAttachmentDefinition::annotations() const {
  return string_map_at(object_, "/metadata/annotations"_json_pointer);
}
std::optional<std::string> NetworkAttachmentDefinition::resource_name() const {
  const auto all = annotations();
  const auto found = all.find(std::string(kResourceNameAnnotation));
  if (found == all.end()) return std::nullopt;
  return found->second;
}

// --- typed calls -----------------------------------------------------------------------------

Pod ApiClient::get_pod(std::string_view ns, std::string_view name, GetPodOptions get_options) const {
  const std::string path = pod_path(ns, name);
  const auto deadline = Clock::now() + options_.retry_window;
  for (int attempt = 1;; ++attempt) {
    try {
      return Pod(parse_object(get(path), "pod"));
    } catch (const ApiError& error) {
      const bool retriable = error.is_transient() || (get_options.retry_not_found && error.is_not_found());
      if (!retriable) throw;
      if (Clock::now() + options_.retry_interval >= deadline) {
        throw ApiError(std::string(error.what()) + " (gave up after " + std::to_string(attempt) +
                           " attempts)",
                       error.http_status(), error.reason(), error.api_message(),
                       error.transport_code());
      }
      std::this_thread::sleep_for(options_.retry_interval);
    }
  }
}

NetworkAttachmentDefinition ApiClient::get_network_attachment_definition(std::string_view ns,
                                                                         std::string_view name) const {
  // Multus does one GET here (a failure becomes a NoNetworkFound event); so do we.
  const std::string path = "/apis/k8s.cni.cncf.io/v1/namespaces/" +
                           path_segment(ns, "namespace") + "/network-attachment-definitions/" +
                           path_segment(name, "network-attachment-definition name");
  return NetworkAttachmentDefinition(parse_object(get(path), "NetworkAttachmentDefinition"));
}

Pod ApiClient::set_network_status(std::string_view ns, std::string_view name,
                                  std::optional<std::string_view> expected_uid,
                                  std::string_view status_json_array) const {
  if (!nlohmann::json::parse(status_json_array, nullptr, false).is_array()) {
    throw std::invalid_argument("network-status must be a JSON array");
  }
  const std::string status_path = pod_path(ns, name) + "/status";
  std::minstd_rand jitter_source(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    Pod current = get_pod(ns, name);
    if (expected_uid && !expected_uid->empty() && current.uid() != *expected_uid &&
        !current.is_static()) {
      throw UidMismatchError("pod " + std::string(ns) + "/" + std::string(name) + ": expected UID " +
                             std::string(*expected_uid) + " but the API has " + current.uid());
    }
    nlohmann::json updated = current.json();
    updated["metadata"]["annotations"][std::string(kNetworkStatusAnnotation)] =
        std::string(status_json_array);
    try {
      return Pod(parse_object(put(status_path, updated.dump()), "pod"));
    } catch (const ApiError& error) {
      if (!error.is_conflict() || attempt >= options_.conflict_attempts) throw;
      // client-go's DefaultRetry: a fixed step with 10% jitter.
      const auto base = options_.conflict_backoff.count();
      const auto jitter = base > 0 ? static_cast<long>(jitter_source() % static_cast<unsigned long>(base / 10 + 1)) : 0L;
      std::this_thread::sleep_for(std::chrono::milliseconds(base + jitter));
    }
  }
}

nlohmann::json ApiClient::create_event(const Event& event, std::chrono::milliseconds timeout) const {
  const auto& object = event.involved_object;
  const std::string ns = path_segment(object.namespace_name, "namespace");
  path_segment(object.name, "involved object name");
  const auto since_epoch = event.time.time_since_epoch();
  const auto stamp = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                                 std::chrono::time_point_cast<std::chrono::seconds>(event.time));
  nlohmann::json involved = {{"kind", object.kind}, {"namespace", object.namespace_name},
                             {"name", object.name}, {"apiVersion", object.api_version}};
  if (!object.uid.empty()) involved["uid"] = object.uid;
  nlohmann::json source = {{"component", event.source_component}};
  if (!event.source_host.empty()) source["host"] = event.source_host;
  const nlohmann::json body = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata",
       {{"name", fmt::format("{}.{:x}", object.name,
                             std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count())},
        {"namespace", ns}}},
      {"involvedObject", involved},
      {"reason", event.reason},
      {"message", event_message(event.message)},
      {"source", source},
      {"firstTimestamp", stamp},
      {"lastTimestamp", stamp},
      {"count", 1},
      {"type", event.type}};
  return parse_object(post("/api/v1/namespaces/" + ns + "/events", body.dump(), timeout), "Event");
}

PodList ApiClient::list_pods(std::string_view field_selector, std::string_view ns) const {
  std::string path = ns.empty() ? std::string("/api/v1/pods")
                                : "/api/v1/namespaces/" + path_segment(ns, "namespace") + "/pods";
  if (!field_selector.empty()) path += "?fieldSelector=" + query_escape(field_selector);
  const nlohmann::json list = parse_object(get(path), "pod list");
  PodList out;
  out.resource_version = string_at(list, "/metadata/resourceVersion"_json_pointer);
  if (list.contains("items") && list["items"].is_array()) {
    for (const auto& item : list["items"]) out.items.emplace_back(item);
  }
  return out;
}

WatchEnd ApiClient::watch_pods(const WatchOptions& watch,
                               const std::function<bool(const WatchEvent&)>& on_event) const {
  Request request;
  request.path = watch.namespace_name.empty()
                     ? std::string("/api/v1/pods")
                     : "/api/v1/namespaces/" + path_segment(watch.namespace_name, "namespace") + "/pods";
  request.path += "?watch=true&timeoutSeconds=" + std::to_string(watch.server_timeout.count());
  if (!watch.resource_version.empty()) {
    request.path += "&resourceVersion=" + query_escape(watch.resource_version);
  }
  if (!watch.field_selector.empty()) {
    request.path += "&fieldSelector=" + query_escape(watch.field_selector);
  }
  // The server closes at timeoutSeconds; the client bound leaves it room to do so.
  request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(watch.server_timeout) +
                    options_.request_timeout;
  request.stop = watch.stop;

  bool gone = false;
  bool stopped = false;
  std::optional<ApiError> stream_error;
  request.on_line = [&](std::string_view line) {
    const auto event = nlohmann::json::parse(line, nullptr, false);
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) {
      stream_error.emplace("watch: undecodable event: " + std::string(line.substr(0, 200)), 200,
                           "", "");
      return false;
    }
    const std::string type = event["type"].get<std::string>();
    const nlohmann::json object = event.value("object", nlohmann::json::object());
    if (type == "ERROR") {
      // A metav1.Status, or anything else: a field of another type reads as absent.
      const auto string_field = [&](const char* key) {
        const auto it = object.is_object() ? object.find(key) : object.end();
        return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      const auto code_it = object.is_object() ? object.find("code") : object.end();
      const bool code_is_status = code_it != object.end() && code_it->is_number_integer() &&
                                  code_it->get<std::int64_t>() >= 0 && code_it->get<std::int64_t>() <= 999;
      const int code = code_is_status ? static_cast<int>(code_it->get<std::int64_t>()) : 0;
      if (code == 410) {
        gone = true;
      } else {
        const auto message = string_field("message");
        stream_error.emplace("watch: ERROR event: " + (message.empty() ? object.dump() : message).substr(0, 512), code,
                             string_field("reason"), message);
      }
      return false;
    }
    WatchEventType kind;
    if (type == "ADDED") {
      kind = WatchEventType::Added;
    } else if (type == "MODIFIED") {
      kind = WatchEventType::Modified;
    } else if (type == "DELETED") {
      kind = WatchEventType::Deleted;
    } else if (type == "BOOKMARK") {
      kind = WatchEventType::Bookmark;
    } else {
      stream_error.emplace("watch: unknown event type " + type, 200, "", "");
      return false;
    }
    if (!on_event(WatchEvent{kind, object})) {
      stopped = true;
      return false;
    }
    return true;
  };

  try {
    perform(request);
  } catch (const ApiError& error) {
    if (error.is_gone()) return WatchEnd::Gone;
    throw;
  }
  if (stream_error) throw *stream_error;
  if (gone) return WatchEnd::Gone;
  if (stopped || watch.stop.stop_requested()) return WatchEnd::Stopped;
  return WatchEnd::Closed;
}

nlohmann::json ApiClient::get_statefulset(std::string_view ns, std::string_view name) const {
  return parse_object(get("/apis/apps/v1/namespaces/" + path_segment(ns, "namespace") + "/statefulsets/" +
                          path_segment(name, "statefulset name")),
                      "StatefulSet");
}

namespace {
constexpr std::string_view kStickyClaimsPath = "/apis/k8s.plexus.dev/v1alpha1/stickyclaims";

std::string sticky_claim_path(std::string_view name) {
  return std::string(kStickyClaimsPath) + "/" + path_segment(name, "stickyclaim name");
}

std::string claim_name_of(const nlohmann::json& object) {
  return string_at(object, "/metadata/name"_json_pointer);
}
}  // namespace

nlohmann::json ApiClient::create_sticky_claim(const nlohmann::json& object) const {
  path_segment(claim_name_of(object), "stickyclaim name");
  return parse_object(post(kStickyClaimsPath, object.dump()), "StickyClaim");
}

nlohmann::json ApiClient::get_sticky_claim(std::string_view name) const {
  return parse_object(get(sticky_claim_path(name)), "StickyClaim");
}

nlohmann::json ApiClient::replace_sticky_claim(const nlohmann::json& object) const {
  if (string_at(object, "/metadata/resourceVersion"_json_pointer).empty()) {
    throw std::invalid_argument("a StickyClaim replace needs metadata.resourceVersion (its precondition)");
  }
  return parse_object(put(sticky_claim_path(claim_name_of(object)), object.dump()), "StickyClaim");
}

void ApiClient::delete_sticky_claim(std::string_view name, std::string_view resource_version) const {
  nlohmann::json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!resource_version.empty()) options["preconditions"] = {{"resourceVersion", std::string(resource_version)}};
  del(sticky_claim_path(name), options.dump());
}

std::vector<nlohmann::json> ApiClient::list_sticky_claims(std::string_view label_selector) const {
  std::string path(kStickyClaimsPath);
  if (!label_selector.empty()) path += "?labelSelector=" + query_escape(label_selector);
  const nlohmann::json list = parse_object(get(path), "StickyClaim list");
  std::vector<nlohmann::json> items;
  if (list.contains("items") && list["items"].is_array()) {
    for (const auto& item : list["items"]) items.push_back(item);
  }
  return items;
}

WatchEnd ApiClient::watch_pods(std::string_view field_selector, std::string_view resource_version,
                               const std::function<bool(const WatchEvent&)>& on_event) const {
  WatchOptions watch;
  watch.field_selector = std::string(field_selector);
  watch.resource_version = std::string(resource_version);
  return watch_pods(watch, on_event);
}

}  // namespace plexus::k8s
