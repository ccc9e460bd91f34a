// What the shim and plexusd say to each other over the unix socket (HTTP/1.1, one request per
// connection, as multus turns keep-alive off).
//
//   POST /cni    {"env":{"CNI_COMMAND":..,"CNI_CONTAINERID":..,...},"config":"<base64 stdin>"}
//                (multus's request shape; other env keys are accepted and ignored)
//   200          {"exitCode":N,"stdout":"<base64>","stderr":"<base64>"}
//   400          a CNI error JSON when the request itself is malformed
//
// Unlike multus (200 with {"Result":...} or 400 with the error), the reply carries the real exit
// code and the exact stdout bytes, so the shim prints what an exec'd plexus would have printed.
//
//   POST /attach, POST /detach   hot-plug: the /cni request shape (CNI_CONTAINERID, CNI_NETNS,
//                CNI_ARGS, the meta config; CNI_COMMAND may be left out) plus "network": one
//                element of the networks annotation, e.g. "ip-193@net5" or [{"name":"ip-193"}].
//                The same reply.
#pragma once

#include <plexus/cni/protocol.hpp>

#include <string>
#include <string_view>

namespace plexus::daemon {

inline constexpr std::string_view kCniEndpoint = "/cni";
inline constexpr std::string_view kAttachEndpoint = "/attach";
inline constexpr std::string_view kDetachEndpoint = "/detach";

struct HotplugRequest {
  cni::Request request;
  std::string network;
};

std::string base64_encode(std::string_view bytes);
// Throws std::invalid_argument on a character outside the alphabet or a bad length.
std::string base64_decode(std::string_view text);

std::string encode_cni_request(const cni::Request& request);
// Throws std::invalid_argument naming what is missing or malformed.
cni::Request decode_cni_request(std::string_view body);

std::string encode_hotplug_request(const HotplugRequest& hotplug);
// Throws std::invalid_argument naming what is missing or malformed ("network" is required).
HotplugRequest decode_hotplug_request(std::string_view body);

std::string encode_cni_reply(const cni::Reply& reply);
cni::Reply decode_cni_reply(std::string_view body);

}  // namespace plexus::daemon
