// A network configuration as a NAD's spec.config, a confDir file or a delegate's stdin: skel's
// stdin check, parse_netconf and its accessors, parse_conflist, invoke::Network::parse (what the
// meta-plugin runs) and the config each plugin of the chain receives (libcni's buildOneConfig,
// with runtimeConfig and prevResult injected). Documented failure: cni::Error 1, 6 or 7.
#include "fuzz_support.hpp"

#include <plexus/cni/config.hpp>
#include <plexus/invoke/chain.hpp>

namespace {

const plexus::cni::Result& previous_result() {
  static const auto result = plexus::cni::parse_result(std::string_view(
      R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/x"}],)"
      R"("ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}]})"));
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  const auto text = fuzz::as_text(data, size);
  try {
    cni::validate_stdin_config(text);
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {6, 7});
  }
  try {
    const cni::NetConf conf = cni::parse_netconf(text);
    (void)conf.version();
    (void)conf.ipam_type();
    (void)conf.ipam();
    (void)conf.runtime_config();
    (void)conf.args();
    (void)conf.dns();
    (void)conf.prev_result();
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {1, 6, 7});
  }
  try {
    const auto network = invoke::Network::parse(text);
    fuzz::require(!network.list.plugins.empty(), "a network without plugins");
    invoke::RuntimeConf runtime;
    runtime.capability_args = cni::ordered_json::parse(
        R"({"portMappings":[{"hostPort":8080,"containerPort":80}],"ips":["10.1.2.3/24"],"mac":"20:01:02:03:04:05"})");
    for (std::size_t i = 0; i < network.list.plugins.size(); ++i) {
      (void)invoke::ChainRunner::plugin_config(network.list, i, std::nullopt, nullptr);
      (void)invoke::ChainRunner::plugin_config(network.list, i, previous_result(), &runtime);
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {1, 6, 7, 999});
  }
  return 0;
}
