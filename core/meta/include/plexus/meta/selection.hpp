// Network selection: the pod annotation k8s.v1.cni.cncf.io/networks (and the default-network
// override), in its comma form "[ns/]name[@ifname],..." or as a JSON list of selection elements.
#pragma once

#include <plexus/cni/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

inline constexpr std::string_view kNetworksAnnotation = "k8s.v1.cni.cncf.io/networks";
inline constexpr std::string_view kDefaultNetworkAnnotation = "v1.multus-cni.io/default-network";

// One element of the annotation: which NetworkAttachmentDefinition, and what the pod asks of it.
struct NetworkSelection {
  std::string name;
  std::string namespace_name;  // the pod's namespace when the element names none
  std::string interface;       // "interface" (or the deprecated "interfaceRequest"); empty = net<N>
  std::vector<std::string> ips;                // "ips": addresses or CIDRs, as written
  std::string mac;                             // "mac", as written
  std::string infiniband_guid;                 // "infiniband-guid"
  std::vector<std::string> default_route;      // "default-route": gateway addresses
  std::optional<cni::ordered_json> port_mappings;  // "portMappings"
  std::optional<cni::ordered_json> bandwidth;      // "bandwidth"
  std::optional<cni::ordered_json> cni_args;       // "cni-args": merged into the config's args.cni
  std::string device_id;                       // "deviceID"

  // "namespace/name", the delegate's name in network-status.
  std::string qualified_name() const { return namespace_name + "/" + name; }
};

// Per-pod bounds, far above real use (a pod with a dozen networks writes about 2 KiB) and far
// below what would hurt a node; multus has none. The kernel and the API server bound the rest
// (annotations total 256 KiB).
inline constexpr std::size_t kMaxSelectionAnnotationBytes = 64U * 1024U;
inline constexpr std::size_t kMaxSelectedNetworks = 64;

// Parses an annotation value. Empty (or blank) gives no selections. Every error is a code 7
// cni::Error that says what is wrong and quotes the offending text.
std::vector<NetworkSelection> parse_network_selections(std::string_view annotation, std::string_view default_namespace);

// Kubernetes's DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool is_dns1123_label(std::string_view text);
// An interface name a pod may request: 1..15 bytes, no '/', ':', whitespace or control
// characters, not "." or "..".
bool is_valid_ifname(std::string_view text);
// A hardware address as Go's net.ParseMAC takes it: 6, 8 or 20 hex octets separated by ':' or '-'
// (or dotted groups of four hex digits).
bool is_hardware_address(std::string_view text);

}  // namespace plexus::meta
