// fixed-ip: a third-party plugin built out of tree. ADD reports the address from its config.
#include <plexus/plugin.hpp>

namespace {

namespace cni = plexus::cni;

struct FixedIpConfig {
  cni::IPNet address;
};

FixedIpConfig load_config(const plexus::Call& call) {
  const auto* address = call.conf().find("address");
  const auto text = address != nullptr && address->is_string() ? address->get<std::string>() : std::string();
  auto parsed = cni::IPNet::parse(text);
  if (!parsed) throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "invalid \"address\": \"" + text + "\"");
  return {*parsed};
}

class FixedIp final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "fixed-ip";
  static constexpr const char* kVersion = "2.0.0";

  cni::Result add(const plexus::Call& call) override {
    cni::Result result;
    result.ips.push_back({load_config(call).address, std::nullopt, std::nullopt});
    return result;
  }
  void del(const plexus::Call& /*call*/) override {}
};

}  // namespace

PLEXUS_PLUGIN(FixedIp)
