// The seam between ApiClient and the transfer: ApiClient builds an HttpCall, the transport runs
// it. Private to core/k8s. transport() is defined by exactly one of
//   linked_transport.cpp  (plexus_k8s_curl): libcurl linked in, for plexusd and the tests;
//   module_transport.cpp  (plexus_k8s_module): lib/plexus/libplexus-k8s.so dlopened on the first
//                         request, for thin plexus, which kubelet execs per CNI call and which
//                         reaches the API server on few of them.
// plexus_k8s picks one per executable from its PLEXUS_K8S_TRANSPORT property (see CMakeLists.txt).
#pragma once

#include "plexus/k8s/api_client.hpp"

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

namespace plexus::k8s::detail {

struct HttpCall {
  const ClusterConfig& config;
  const ClientOptions& options;
  std::string bearer_token;  // empty: no Authorization header
  const char* method;
  std::string_view path;
  std::string_view body;
  std::string_view content_type;
  // Streaming: each complete line of a 200 answer goes here; false stops the transfer.
  const std::function<bool(std::string_view)>* on_line;
  std::stop_token stop;
  std::chrono::milliseconds timeout;  // 0 = options.request_timeout
};

// Runs one request: the 2xx answer, or throws ApiError (also for a transfer stopped by the caller,
// which returns the status with an empty body instead, as ApiClient documents).
using PerformFn = Response (*)(const HttpCall& call);

Response curl_perform(const HttpCall& call);  // curl_transport.cpp
PerformFn transport();

// What libplexus-k8s.so exports (C linkage, so dlsym finds it by name). The module is built from
// this same tree; `build` and the sizes refuse a module left over from another build.
struct ModuleEntry {
  const char* build;
  std::size_t call_size;
  std::size_t config_size;
  std::size_t options_size;
  PerformFn perform;
};
inline constexpr const char* kModuleEntryName = "plexus_k8s_transport_module";
inline constexpr const char* kModuleFileName = "libplexus-k8s.so";

}  // namespace plexus::k8s::detail
