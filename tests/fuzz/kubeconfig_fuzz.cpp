// A kubeconfig (the meta config's "kubeconfig", plexusd's, the installer's): load_kubeconfig on
// the file, with relative certificate/token paths resolved next to it. Documented failure:
// k8s::ConfigError naming the file and the field.
#include "fuzz_support.hpp"

#include <plexus/k8s/config.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  static const fuzz::ScratchDir scratch;
  static const auto token = scratch.write("token", "a-token\n");
  const auto file = scratch.write("kubeconfig", fuzz::as_text(data, size));
  try {
    const k8s::ClusterConfig config = k8s::load_kubeconfig(file);
    fuzz::require(config.server.rfind("https://", 0) == 0, "accepted a server that is not https://");
    fuzz::require(!config.default_namespace.empty(), "no default namespace");
    fuzz::require(config.client_cert_pem.empty() == config.client_key_pem.empty(), "a client certificate without its key");
  } catch (const k8s::ConfigError&) {
  }
  return 0;
}
