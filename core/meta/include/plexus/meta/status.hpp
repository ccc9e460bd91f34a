// The k8s.v1.cni.cncf.io/network-status annotation as multus writes it (NAD client
// CreateNetworkStatuses + SetNetworkStatus).
#pragma once

#include <plexus/cni/json.hpp>
#include <plexus/cni/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

// The entries for one delegate's result: one per sandbox interface (a result with exactly one
// interface gives one entry with every IP). Keys in the NAD client's order: name, interface, ips
// (no prefix), mac, mtu (omitted if 0), default (only when true), dns (always), gateway (default
// routes' gateways; "<nil>" for a default route without one). device-info is left out.
std::vector<cni::ordered_json> network_status_entries(const cni::Result& result, std::string_view network_name,
                                                      bool is_default);

// The API server takes 256 KiB of annotations per pod in all; network-status may use half. Real
// ones are a few hundred bytes per network.
inline constexpr std::size_t kMaxNetworkStatusBytes = 128U * 1024U;

// "[" + each entry MarshalIndent'ed with 4 spaces, joined by "," + "]".
std::string network_status_annotation(const std::vector<cni::ordered_json>& entries);

}  // namespace plexus::meta
