// A delegate's stdout (an exec'd plugin is any binary in binDir; an IPAM reply; a cached result):
// parse_result of every spec version, printed in every version (libcni's GetAsVersion), and the
// error reply a failed plugin prints. Documented failures: cni::Error 6 (malformed), 999
// ("cannot convert: no valid IP addresses" to 0.1.0/0.2.0).
#include "fuzz_support.hpp"

#include <plexus/cni/protocol.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/cni/version.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  const auto text = fuzz::as_text(data, size);
  try {
    const cni::Result result = cni::parse_result(text);
    for (const auto version : cni::all_versions()) {
      try {
        const std::string printed = cni::print_result(result, version);
        // What plexus prints in a version it must read back, and print the same again.
        const cni::Result again = cni::parse_result(std::string_view(printed));
        fuzz::require(cni::print_result(again, version) == printed,
                      "a printed result does not survive parse + print in its own version");
        fuzz::require(cni::convert_result(text, version) == printed, "convert_result differs from parse + print");
      } catch (const cni::Error& error) {
        fuzz::expect_cni_error(error, {999});
      }
    }
  } catch (const cni::Error& error) {
    fuzz::expect_cni_error(error, {6});
  }
  // The same bytes as a failed plugin's stdout.
  if (const auto error = cni::Error::from_json(text)) (void)error->to_json();
  (void)cni::reply_error(cni::Reply{1, std::string(text), {}}).to_json();
  return 0;
}
