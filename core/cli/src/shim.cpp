#include "shim.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/daemon/client.hpp>
#include <plexus/daemon/socket_path.hpp>

#include <fmt/format.h>

#include <ostream>

namespace plexus::cli {
namespace {

constexpr std::string_view kShimType = "plexus-shim";

}  // namespace

std::optional<std::filesystem::path> daemon_socket_of(std::string_view config_bytes) {
  cni::ordered_json config;
  try {
    config = cni::parse_json(config_bytes);
  } catch (const std::exception&) {
    return std::nullopt;  // the engine reports bad JSON with its own code
  }
  if (!config.is_object()) return std::nullopt;
  if (const auto* socket = cni::find_key(config, "daemonSocket"); socket != nullptr && socket->is_string()) {
    return std::filesystem::path(socket->get<std::string>());
  }
  const auto* type = cni::find_key(config, "type");
  if (type == nullptr || !type->is_string() || type->get<std::string>() != kShimType) return std::nullopt;
  std::filesystem::path dir{std::string(daemon::kDefaultSocketDir)};
  if (const auto* socket_dir = cni::find_key(config, "daemonSocketDir"); socket_dir != nullptr && socket_dir->is_string()) {
    dir = socket_dir->get<std::string>();
  }
  return dir / std::string(daemon::kSocketName);
}

std::optional<cni::Reply> forward_to_daemon(const std::filesystem::path& socket, const cni::Request& request, std::ostream& err) {
  try {
    return daemon::call_daemon(socket, request);
  } catch (const daemon::DaemonUnavailable& e) {
    if (request.command != "DEL") {
      return cni::Reply{1,
                        cni::Error(cni::ErrorCode::TryAgainLater,
                                   fmt::format("plexus daemon (plexusd) is not available, try again later: {}", e.what()))
                            .to_json(),
                        {}};
    }
    err << "plexus: plexusd is not available (" << e.what() << "); running DEL in-process from the delegate cache\n";
    return std::nullopt;
  }
}

}  // namespace plexus::cli
