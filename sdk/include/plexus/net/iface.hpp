// Interface configuration the way the reference plugins do it (pkg/ipam ConfigureIface,
// pkg/ip SettleAddresses). Both run in the namespace of the calling thread: call them inside
// in_netns().
#pragma once

#include <plexus/cni/result.hpp>

#include <chrono>
#include <string_view>

namespace plexus::net {

class Netlink;

// Waits until no IPv6 address on `ifname` is tentative, polling every 50 ms. Throws
// std::runtime_error "link <if> has address <ip> in DADFAILED state", or after `timeout`
// "link <if> still has tentative addresses after <n> seconds".
void settle_addresses(Netlink& nl, std::string_view ifname, std::chrono::milliseconds timeout);

// Applies an IPAM result to `ifname` as the reference ConfigureIface (v1.7):
//  - result.interfaces must not be empty ("no interfaces to configure");
//  - every ip whose interface index is set must point at an interface named ifname, else
//    "failed to add IP addr <cidr> to \"<if>\": invalid interface index"; ips without index are
//    skipped;
//  - before the first IPv6 address: disable_ipv6=0 on lo and ifname, keep_addr_on_down=1 on
//    ifname;
//  - addresses added (NLM_F_EXCL), link set up;
//  - with an IPv6 gateway, settle_addresses(5 s);
//  - routes added with add_route_ecmp, a missing gw defaulting to the first gateway of the
//    route's family, priority/table/scope applied (mtu and advmss are not, as the reference).
// Errors are std::runtime_error worded as the reference's (the netlink cause appended).
void configure_iface(std::string_view ifname, const cni::Result& result);
void configure_iface(Netlink& nl, std::string_view ifname, const cni::Result& result);

}  // namespace plexus::net
