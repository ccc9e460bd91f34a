// CNI_ARGS from the runtime ("K=V;K=V"): CniArgs::parse with libcni's LoadArgs rules, the
// unknown-key check, and the round trip to_string -> parse. Documented failure: cni::Error 999.
#include "fuzz_support.hpp"

#include <plexus/cni/args.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  const auto text = fuzz::as_text(data, size);
  try {
    const auto args = cni::CniArgs::parse(text);
    fuzz::require(args.to_string() == text, "to_string() is not the text parsed");
    fuzz::require(cni::CniArgs::parse(args.to_string()).pairs() == args.pairs(), "round trip changed the pairs");
    for (const auto& [key, value] : args.pairs()) fuzz::require(args.get(key).has_value(), "a parsed key is not found");
    (void)args.ignore_unknown();
    try {
      args.require_known({"K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
    } catch (const cni::Error& error) {
      fuzz::expect_cni_error(error, {999});
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {999});
  }
  return 0;
}
