// `plexus` as the thin shim in front of plexusd: when the meta config names the daemon's socket
// ("daemonSocket": "/run/plexus/plexus.sock", or "type": "plexus-shim" with an optional
// "daemonSocketDir"), the call is forwarded and the daemon's exit code and stdout are passed on.
#pragma once

#include <plexus/cni/protocol.hpp>

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string_view>

namespace plexus::cli {

// The socket named by the config, or nullopt when plexus should run the call itself.
std::optional<std::filesystem::path> daemon_socket_of(std::string_view config_bytes);

// The daemon's reply. With the daemon down: code 11 (try again later) saying so, except for DEL,
// which returns nullopt so the caller runs it in-process from the delegate cache (multus's shim
// reports success there and leaks the attachment); the same config serves that local run, as the
// meta config accepts the shim's type.
std::optional<cni::Reply> forward_to_daemon(const std::filesystem::path& socket, const cni::Request& request, std::ostream& err);

}  // namespace plexus::cli
