// Validation of the CNI_* environment the way skel does it, with its exact codes and messages.
#pragma once

#include <plexus/cni/protocol.hpp>

#include <string_view>

namespace plexus::cni {

// The CNI_* variables of this process's environment as a Request (stdin not read): what every
// exec'd entry point (a standalone plugin, plexus, plexus-shim) starts from.
Request request_from_environment();

// Throws cni::Error code 4 for: missing required variables ("required env variables [A,B]
// missing"), an unknown command, a container ID with invalid characters, a bad interface name.
void validate_request_env(const Request& request);

// The individual rules, reused by libcni-like callers (chains, the meta-plugin).
void validate_container_id(std::string_view container_id);
void validate_interface_name(std::string_view ifname);
// Network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ (code 7 "invalid characters found in network name").
void validate_network_name(std::string_view name);

bool is_known_command(std::string_view command);

}  // namespace plexus::cni
