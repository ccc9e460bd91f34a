// sample: the template plugin. It passes the previous plugin's result through unchanged, which
// makes it a harmless link in any chain and the file a plugin author copies first.
//
// Order of every plugin file: config type -> parse/validate -> helpers -> add/del/check/status/gc
// -> one PLEXUS_PLUGIN line.
#include <plexus/plugin.hpp>

#include <fmt/format.h>

namespace {

using plexus::Call;
namespace cni = plexus::cni;

// ---- config -------------------------------------------------------------------------------
struct SampleConfig {
  std::optional<cni::Result> prev_result;
};

// ---- parse / validate ---------------------------------------------------------------------
SampleConfig load_config(const Call& call) {
  SampleConfig config;
  if (auto prev = call.conf().prev_result()) config.prev_result = cni::parse_result(*prev, call.version());
  return config;
}

// ---- commands -----------------------------------------------------------------------------
class Sample final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "sample";
  static constexpr const char* kVersion = "0.1.0";

  cni::Result add(const Call& call) override {
    auto config = load_config(call);
    if (!config.prev_result) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "must be called as a chained plugin: prevResult missing");
    }
    return *config.prev_result;
  }

  void del(const Call& /*call*/) override {}  // nothing was acquired

  void check(const Call& call) override {
    if (!load_config(call).prev_result) throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "required prevResult missing");
  }
};

}  // namespace

PLEXUS_PLUGIN(Sample)
