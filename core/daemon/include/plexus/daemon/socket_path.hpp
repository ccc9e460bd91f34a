// Where plexusd listens by default: what the shim needs of the daemon's config, without the rest.
#pragma once

#include <string_view>

namespace plexus::daemon {

inline constexpr std::string_view kSocketName = "plexus.sock";
inline constexpr std::string_view kDefaultSocketDir = "/run/plexus";

}  // namespace plexus::daemon
