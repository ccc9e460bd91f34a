// The pod annotation k8s.v1.cni.cncf.io/networks (any tenant who can create a pod writes it):
// parse_network_selections, then what the meta-plugin builds from each selection for its
// delegate (CNI_ARGS with MAC=/IP=, runtimeConfig capability args). Documented failure: cni::Error 7.
#include "fuzz_support.hpp"

#include <plexus/cni/args.hpp>
#include <plexus/meta/delegate.hpp>
#include <plexus/meta/selection.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  try {
    const auto selections = meta::parse_network_selections(fuzz::as_text(data, size), "pod-ns");
    const auto runtime_args = cni::CniArgs::parse("K8S_POD_NAMESPACE=pod-ns;K8S_POD_NAME=pod;K8S_POD_UID=1");
    const auto base = cni::ordered_json::parse(R"({"portMappings":[],"ips":["10.0.0.1"]})");
    for (const auto& selection : selections) {
      fuzz::require(meta::is_dns1123_label(selection.name), "accepted a network name that is no DNS-1123 label");
      fuzz::require(selection.interface.empty() || meta::is_valid_ifname(selection.interface),
                    "accepted an invalid interface name");
      fuzz::require(!selection.namespace_name.empty(), "a selection without a namespace");
      (void)selection.qualified_name();
      // The delegate's CNI_ARGS must parse back as CNI_ARGS: a selection must not smuggle pairs.
      const auto args = meta::build_cni_args(runtime_args, &selection);
      try {
        (void)cni::CniArgs::parse(args);
      } catch (const cni::Error& error) {
        // An "ips" entry or a MAC that holds ';' or '=' would break the pairs; validation refuses it.
        fuzz::finding(std::string("selection made unparsable CNI_ARGS: ") + error.what());
      }
      const auto capabilities = meta::capability_args(base, &selection);
      fuzz::require(capabilities.is_object(), "capability args are not an object");
      (void)cni::go_marshal(capabilities);
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {7});
  }
  return 0;
}
