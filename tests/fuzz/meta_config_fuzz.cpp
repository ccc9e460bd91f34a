// The meta-plugin's config file (/etc/cni/net.d/00-plexus.conf, or the bytes a runtime passes on
// stdin): parse_meta_config. Documented failure: cni::Error 6 (not JSON) or 7 (a bad key).
#include "fuzz_support.hpp"

#include <plexus/meta/config.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  try {
    const meta::MetaConfig config = meta::parse_meta_config(fuzz::as_text(data, size));
    fuzz::require(!config.cluster_network.empty() || !config.delegates.empty(), "accepted a config without networks");
    fuzz::require(!config.multus_namespace.empty(), "accepted an empty multusNamespace");
    (void)meta::to_string(config.log_level);
    for (const auto& [type, mode] : config.delegate_modes) (void)meta::to_string(mode);
    for (const auto& ns : config.global_namespaces) (void)config.namespace_allowed("pod-ns", ns);
    (void)config.is_system_namespace("kube-system");
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {6, 7});
  }
  return 0;
}
