// The one symbol libplexus-k8s.so exports: the libcurl transport, for module_transport.cpp.
#include "transport.hpp"

namespace {

const plexus::k8s::detail::ModuleEntry kEntry{PLEXUS_K8S_MODULE_BUILD, sizeof(plexus::k8s::detail::HttpCall),
                                              sizeof(plexus::k8s::ClusterConfig), sizeof(plexus::k8s::ClientOptions),
                                              &plexus::k8s::detail::curl_perform};

}  // namespace

extern "C" __attribute__((visibility("default"))) const plexus::k8s::detail::ModuleEntry* plexus_k8s_transport_module() {
  return &kEntry;
}
