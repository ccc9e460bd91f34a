// loopback: brings `lo` up in the pod and reports it, whatever CNI_IFNAME says. Behaves as the
// reference plugin (containernetworking/plugins loopback), except that its result is printed in
// the config's own version (see README.md).
#include <plexus/net/net.hpp>
#include <plexus/plugin.hpp>

#include <fmt/format.h>

#include <sys/socket.h>

#include <algorithm>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
namespace net = plexus::net;

// ---- config -------------------------------------------------------------------------------
// The loopback plugin has no keys of its own: only the common ones and a prevResult.
constexpr const char* kLoopback = "lo";

// ---- parse / validate ---------------------------------------------------------------------
// A prevResult, when there is one, must parse (the reference checks it before touching lo).
std::optional<cni::Result> parse_prev_result(const Call& call) {
  const auto prev = call.conf().prev_result();
  if (!prev) return std::nullopt;
  try {
    return cni::parse_result(*prev, call.version());
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), fmt::format("failed to parse prevResult: {}", e.msg()), e.details());
  }
}

// ---- helpers ------------------------------------------------------------------------------
bool is_loopback_address(const cni::IPAddress& ip) {
  if (ip.is_v4()) return ip.data()[0] == 127;
  return ip == *cni::IPAddress::parse("::1");
}

// The first address of `family` on lo, after checking that every one of them is a loopback
// address (as the reference's sanity check).
std::optional<cni::IPNet> first_loopback_address(net::Netlink& nl, int index, int family) {
  const auto addresses = nl.addresses(index, family);
  for (const auto& address : addresses) {
    if (!is_loopback_address(address.address.ip())) {
      throw cni::Error(cni::ErrorCode::Internal, fmt::format("loopback interface found with non-loopback address \"{}\"",
                                                             address.address.ip().to_string()));
    }
  }
  if (addresses.empty()) return std::nullopt;
  return addresses.front().address;
}

// ---- commands -----------------------------------------------------------------------------
class Loopback final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "loopback";
  static constexpr const char* kVersion = "0.1.0";

  cni::Result add(const Call& call) override {
    auto prev = parse_prev_result(call);
    const auto addresses = net::in_netns(std::filesystem::path(call.netns()), [] {
      net::Netlink nl;
      const auto lo = nl.link(kLoopback);
      nl.set_link_up(lo.index);
      std::vector<cni::IPNet> found;
      for (const int family : {AF_INET, AF_INET6}) {
        if (auto address = first_loopback_address(nl, lo.index, family)) found.push_back(*address);
      }
      return found;
    });
    // A prevResult is passed on untouched: loopback is usually chained after the real network.
    if (prev) return *prev;

    cni::Result result;
    result.interfaces.push_back(cni::Interface{kLoopback, "00:00:00:00:00:00", std::nullopt, call.netns(), "", ""});
    for (const auto& address : addresses) result.ips.push_back(cni::IPConfig{address, std::nullopt, 0});
    return result;
  }

  void del(const Call& call) override {
    if (call.netns().empty()) return;
    try {
      net::in_netns(std::filesystem::path(call.netns()), [] {
        net::Netlink nl;
        nl.set_link_down(nl.link(kLoopback).index);
      });
    } catch (const net::NetnsNotFound&) {
      // The runtime already removed the namespace (kubernetes#43014): nothing left to do.
    }
  }

  void check(const Call& call) override {
    net::in_netns(std::filesystem::path(call.netns()), [] {
      net::Netlink nl;
      if (!nl.link(kLoopback).is_up()) throw cni::Error(cni::ErrorCode::Internal, "loopback interface is down");
    });
  }
};

}  // namespace

PLEXUS_PLUGIN(Loopback)
