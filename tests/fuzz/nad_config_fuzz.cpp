// A NetworkAttachmentDefinition's spec.config (any tenant who can create a NAD in their namespace
// writes it) through what the meta-plugin does with it: resolve_selection (name ensured, conf or
// conflist), build_delegates (runtimeConfig from the capabilities it declares, the pod's
// cni-args merged into args.cni), then invoke::Network::parse of each delegate's config and the
// bytes each plugin of its chain would receive. Documented failure: cni::Error 1, 6 or 7.
#include "fuzz_support.hpp"

#include <plexus/invoke/chain.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/delegate.hpp>
#include <plexus/meta/resolution.hpp>
#include <plexus/meta/selection.hpp>

namespace {

using namespace plexus;

// The NAD store of this harness: every NAD has the input as its spec.config.
class InputSource final : public meta::NetworkSource {
 public:
  std::string config;

  std::optional<meta::NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) override {
    return meta::NetworkAttachment{std::string(ns), std::string(name), config, "intel.com/sriov"};
  }
  std::optional<meta::PodInfo> get_pod(std::string_view, std::string_view, bool) override { return std::nullopt; }
  bool set_network_status(std::string_view, std::string_view, std::string_view, std::string_view) override {
    return false;
  }
};

struct Fixture {
  fuzz::ScratchDir conf_dir;  // an empty spec looks its network up here: nothing there
  meta::MetaConfig config;
  std::vector<meta::NetworkSelection> selections;
  meta::DelegateContext context;

  Fixture() {
    config = meta::parse_meta_config(R"({"type":"plexus","clusterNetwork":"cbr0"})");
    config.conf_dir = conf_dir.path().string();
    selections = meta::parse_network_selections(
        R"([{"name":"tenant-net","interface":"net1","ips":["10.1.2.3/24"],"mac":"20:01:02:03:04:05",)"
        R"("portMappings":[{"hostPort":8080,"containerPort":80}],"bandwidth":{"ingressRate":1000},)"
        R"("cni-args":{"foo":"bar"}},{"name":"other-net"}])",
        "tenant");
    context.runtime_args = cni::CniArgs::parse("K8S_POD_NAMESPACE=tenant;K8S_POD_NAME=pod;K8S_POD_UID=1");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  InputSource source;
  source.config = std::string(fuzz::as_text(data, size));
  try {
    std::vector<meta::ResolvedNetwork> networks;
    for (const auto& selection : fixture.selections) {
      networks.push_back(meta::resolve_selection(selection, "tenant", fixture.config, source));
    }
    for (const auto& delegate : meta::build_delegates(networks, fixture.context)) {
      (void)delegate.type();
      const auto network = invoke::Network::parse(delegate.config);
      invoke::RuntimeConf runtime;
      runtime.capability_args = meta::capability_args(fixture.context.runtime_config, &fixture.selections[0]);
      for (std::size_t i = 0; i < network.list.plugins.size(); ++i) {
        (void)invoke::ChainRunner::plugin_config(network.list, i, std::nullopt, &runtime);
      }
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {1, 6, 7});
  }
  return 0;
}
