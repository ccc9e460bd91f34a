// The bridge plugin's packet filtering, with libnftables instead of the reference's iptables and
// nft binaries. Everything lives in tables of plexus's own, so nothing else's rules are touched:
//
//   table inet plexus_masquerade          ipMasq
//     chain postrouting (nat, srcnat)       one "ip[6] saddr <ip> jump <chain>" rule per pod IP
//     chain masq-<hash(network, cid)>       "daddr <subnet> accept", "daddr != multicast masquerade"
//   table bridge plexus_macspoofchk       macspoofchk
//     chain prerouting (filter, -300)      one "iifname <host veth> jump <chain>" rule per pod
//     chain spoof-<hash(cid-ifname)>        "ether saddr <mac> return", "drop"
//
// The per-pod chain is named from the network and container, so DEL finds (and removes) it with
// no state and without knowing the pod's addresses. The tables and base chains stay once created:
// deleting them would race with another pod's ADD. Every call acts on the network namespace of
// the calling thread (nftables is per namespace). Failures throw std::runtime_error with nft's
// own message.
#pragma once

#include <plexus/cni/ip.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace plexus::nft {

inline constexpr const char* kMasqueradeTable = "plexus_masquerade";
inline constexpr const char* kSpoofCheckTable = "plexus_macspoofchk";

// "masq-" + 16 hex digits of a stable hash of network and container id.
std::string masquerade_chain(std::string_view network, std::string_view container_id);
// "spoof-" + 16 hex digits of a stable hash of the unique id ("<cid>-<ifname>").
std::string spoof_check_chain(std::string_view unique_id);

// Masquerades traffic from `ips` leaving for anything but their own subnets and multicast.
void setup_masquerade(std::string_view network, std::string_view container_id, const std::vector<cni::IPNet>& ips);
// Removes what setup_masquerade added; nothing there is success.
void teardown_masquerade(std::string_view network, std::string_view container_id);

// Drops frames entering the bridge from `host_iface` whose source MAC is not `mac`.
void setup_spoof_check(std::string_view host_iface, std::string_view mac, std::string_view unique_id);
void teardown_spoof_check(std::string_view unique_id);

}  // namespace plexus::nft
