// sticky: an IPAM plugin that serves the address plexus claimed for this replica (pool slot k for
// StatefulSet ordinal k, see plexus/ipam/sticky_pool.hpp). The claim itself is the meta-plugin's
// job (it must know the MAC before macvlan creates the link); it reaches this plugin as multus
// passes "ips": runtimeConfig.ips with capabilities.ips, else CNI_ARGS IP=. Called without a
// claim, or with an address that is not in the pool, it refuses. See README.md for the keys.
#include <plexus/ipam/sticky_pool.hpp>
#include <plexus/plugin.hpp>

#include <fmt/format.h>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
namespace ipam = plexus::ipam;
using cni::ordered_json;

// ---- config -------------------------------------------------------------------------------
struct StickyRequest {
  ipam::StickyPool pool;
  std::size_t slot = 0;  // the claimed one
};

// ---- parse / validate ---------------------------------------------------------------------
[[noreturn]] void refuse(std::string message) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, std::move(message));
}

// The claimed address as the meta-plugin passed it: runtimeConfig.ips wins over CNI_ARGS IP=.
std::string claimed_address(const Call& call) {
  const auto runtime = call.conf().runtime_config();
  if (const auto* ips = cni::find_key(runtime, "ips"); ips != nullptr && !ips->is_null()) {
    if (!ips->is_array() || ips->size() != 1 || !(*ips)[0].is_string()) {
      refuse(fmt::format("sticky: runtimeConfig.ips must hold exactly the one claimed address, got {}", ips->dump()));
    }
    return (*ips)[0].get<std::string>();
  }
  if (const auto ip = call.args().get("IP"); ip && !ip->empty()) {
    if (ip->find(',') != std::string::npos) refuse(fmt::format("sticky: CNI_ARGS IP must be the one claimed address, got \"{}\"", *ip));
    return *ip;
  }
  refuse("sticky: no claimed address (runtimeConfig.ips or CNI_ARGS IP): the sticky IPAM only serves a slot "
         "that plexus claimed for this pod's replica; run it through plexus");
}

StickyRequest load(const Call& call) {
  const auto* ipam_object = call.conf().find("ipam");
  if (ipam_object == nullptr) refuse("sticky: the config has no \"ipam\" object");
  StickyRequest request{ipam::parse_sticky_pool(*ipam_object), 0};
  const auto text = claimed_address(call);
  const auto address = cni::IPNet::parse(text);
  if (!address) refuse(fmt::format("sticky: claimed address \"{}\" is not in CIDR notation", text));
  const auto slot = request.pool.slot_of(address->ip());
  if (!slot || request.pool.addresses[*slot].prefix() != address->prefix()) {
    refuse(fmt::format("sticky: claimed address \"{}\" is not one of pool \"{}\"'s addresses", text, request.pool.pool));
  }
  request.slot = *slot;
  return request;
}

// ---- commands -----------------------------------------------------------------------------
class Sticky final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "sticky";
  static constexpr const char* kVersion = "1.0.0";

  cni::Result add(const Call& call) override {
    const auto request = load(call);
    cni::Result result;
    result.cni_version = call.version();
    const auto& address = request.pool.addresses[request.slot];
    std::optional<cni::IPAddress> gateway;
    if (request.pool.gateway && address.contains(*request.pool.gateway)) gateway = request.pool.gateway;
    result.ips.push_back({address, gateway, std::nullopt});
    result.routes = request.pool.routes;
    result.dns = request.pool.dns;
    return result;
  }

  // The claim is released by whoever made it (the meta-plugin), never here.
  void del(const Call& /*call*/) override {}

  // prevResult must carry the claimed address.
  void check(const Call& call) override {
    const auto request = load(call);
    const auto prev = call.conf().prev_result();
    if (!prev) refuse("sticky: CHECK needs a prevResult");
    const auto result = cni::parse_result(*prev, call.version());
    const auto& want = request.pool.addresses[request.slot];
    for (const auto& ip : result.ips) {
      if (ip.address == want) return;
    }
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("sticky: {} is missing from prevResult", want.to_string()));
  }
};

}  // namespace

PLEXUS_PLUGIN(Sticky)
