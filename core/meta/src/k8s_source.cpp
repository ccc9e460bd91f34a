#include <plexus/meta/k8s_source.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/k8s/api_client.hpp>

#include <fmt/format.h>

namespace plexus::meta {

PodInfo pod_info_from(const k8s::Pod& pod) {
  PodInfo info{pod.namespace_name(), pod.name(), pod.uid(), pod.is_static(), {}, {}, {}, true};
  for (auto& [key, value] : pod.annotations()) info.annotations.emplace(key, value);
  const auto metadata = pod.json().value("metadata", nlohmann::json::object());
  const auto labels = metadata.value("labels", nlohmann::json::object());
  for (const auto& [key, value] : labels.items()) {
    if (value.is_string()) info.labels.emplace(key, value.get<std::string>());
  }
  const auto owners = metadata.value("ownerReferences", nlohmann::json::array());
  for (const auto& ref : owners) {
    if (!ref.is_object()) continue;
    info.owners.push_back(OwnerReference{ref.value("apiVersion", ""), ref.value("kind", ""), ref.value("name", ""),
                                         ref.value("uid", ""), ref.value("controller", false)});
  }
  return info;
}

std::optional<NetworkAttachment> KubernetesSource::get_network_attachment(std::string_view ns, std::string_view name) {
  try {
    const auto nad = client_.get_network_attachment_definition(ns, name);
    return NetworkAttachment{nad.namespace_name(), nad.name(), nad.config(), nad.resource_name()};
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) return std::nullopt;
    throw cni::Error(cni::ErrorCode::Internal,
                     fmt::format("cannot get network-attachment-definition {}/{}: {}", ns, name, e.what()));
  }
}

std::optional<PodInfo> KubernetesSource::get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) {
  try {
    const auto pod = client_.get_pod(ns, name, k8s::GetPodOptions{.retry_not_found = wait_for_pod});
    return pod_info_from(pod);
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) return std::nullopt;
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("cannot get pod {}/{}: {}", ns, name, e.what()));
  }
}

EventSender kubernetes_event_sender(const k8s::ApiClient& client, std::string node, std::chrono::milliseconds timeout) {
  return [&client, node = std::move(node), timeout](const PodEvent& event) {
    k8s::Event out;
    out.involved_object = k8s::ObjectReference{"v1", "Pod", event.namespace_name, event.pod_name, event.pod_uid};
    out.type = std::string(to_string(event.type));
    out.reason = event.reason;
    out.message = event.message;
    out.source_component = std::string(kEventComponent);
    out.source_host = node;
    out.time = event.time;
    client.create_event(out, timeout);
  };
}

bool KubernetesSource::set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                                          std::string_view status_json_array) {
  try {
    client_.set_network_status(ns, name,
                               expected_uid.empty() ? std::nullopt : std::optional<std::string_view>(expected_uid),
                               status_json_array);
    return true;
  } catch (const k8s::ApiError& e) {
    if (e.is_not_found()) return false;
    throw cni::Error(cni::ErrorCode::Internal,
                     fmt::format("cannot set network-status on pod {}/{}: {}", ns, name, e.what()));
  } catch (const k8s::UidMismatchError& e) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("cannot set network-status: {}", e.what()));
  }
}

}  // namespace plexus::meta
