// plexus_k8s_curl: libcurl linked into the executable.
#include "transport.hpp"

namespace plexus::k8s::detail {

PerformFn transport() { return &curl_perform; }

}  // namespace plexus::k8s::detail
