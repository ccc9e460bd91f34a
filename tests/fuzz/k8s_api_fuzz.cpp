// What the API server (or anything that answers in its place) sends back: the pod, NAD and pod
// list JSON and the watch stream, through ApiClient's typed calls and meta::KubernetesSource.
// This harness replaces the transport (the one seam below ApiClient, core/k8s/src/transport.hpp):
// every request is answered 200 with the input as its body, so everything above the wire is the
// real code. Documented failures: k8s::ApiError, k8s::UidMismatchError, cni::Error 999 (the
// meta layer's wrapping of an API failure).
#include "fuzz_support.hpp"

#include "transport.hpp"

#include <plexus/k8s/api_client.hpp>
#include <plexus/meta/k8s_source.hpp>

namespace plexus::k8s::detail {
namespace {

std::string_view current_body;

// curl_transport.cpp's contract: a streaming request gets each complete non-empty line, the
// callback may stop the transfer; any other request gets the whole body.
Response answer_with_input(const HttpCall& call) {
  if (call.on_line == nullptr) return Response{200, std::string(current_body)};
  std::size_t start = 0;
  for (auto newline = current_body.find('\n'); newline != std::string_view::npos;
       newline = current_body.find('\n', start)) {
    const auto line = current_body.substr(start, newline - start);
    start = newline + 1;
    if (!line.empty() && !(*call.on_line)(line)) break;
  }
  return Response{200, {}};
}

}  // namespace

// Defined here, so the linker takes this one instead of plexus_k8s_curl's (an archive member is
// only pulled in for a symbol still undefined).
PerformFn transport() { return &answer_with_input; }

}  // namespace plexus::k8s::detail

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  static const k8s::ApiClient client(k8s::ClusterConfig{.server = "https://api.invalid:6443"});
  k8s::detail::current_body = fuzz::as_text(data, size);
  try {
    const auto pod = client.get_pod("default", "pod");
    (void)pod.name();
    (void)pod.namespace_name();
    (void)pod.uid();
    (void)pod.node_name();
    (void)pod.resource_version();
    (void)pod.annotation(k8s::kNetworksAnnotation);
    (void)pod.is_static();
  } catch (const k8s::ApiError&) {
  }
  try {
    const auto nad = client.get_network_attachment_definition("default", "nad");
    (void)nad.config();
    (void)nad.resource_name();
  } catch (const k8s::ApiError&) {
  }
  try {
    for (const auto& pod : client.list_pods("spec.nodeName=node-1").items) (void)pod.annotations();
  } catch (const k8s::ApiError&) {
  }
  try {
    (void)client.watch_pods("spec.nodeName=node-1", "1", [](const k8s::WatchEvent& event) {
      (void)k8s::Pod(event.object).annotations();
      return true;
    });
  } catch (const k8s::ApiError&) {
  }
  try {
    (void)client.set_network_status("default", "pod", "uid-1", R"([{"name":"cbr0","default":true}])");
  } catch (const k8s::ApiError&) {
  } catch (const k8s::UidMismatchError&) {
  }
  meta::KubernetesSource source(client);
  try {
    (void)source.get_network_attachment("default", "nad");
    (void)source.get_pod("default", "pod", false);
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {999});
  }
  return 0;
}
