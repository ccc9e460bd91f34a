// The manifest store (plexusd's "manifestStore", cluster-less use): a directory of YAML/JSON
// files holding NetworkAttachmentDefinitions and Pods, several documents per file. The input is
// one file of that directory. Documented failure: cni::Error 7 naming the file.
#include "fuzz_support.hpp"

#include <plexus/meta/manifest_store.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  static const fuzz::ScratchDir scratch;
  (void)scratch.write("manifests.yaml", fuzz::as_text(data, size));
  try {
    meta::ManifestStore store(scratch.path());
    if (const auto nad = store.get_network_attachment("default", "ip-192")) {
      fuzz::require(nad->name == "ip-192" && nad->namespace_name == "default", "a NAD found under another key");
    }
    if (const auto pod = store.get_pod("default", "licensed-app", false)) {
      (void)pod->annotation("k8s.v1.cni.cncf.io/networks");
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {7});
  }
  return 0;
}
