// CNI spec versions: which exist, which a command needs, and how a config's version is chosen.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::cni {

// Every spec version plexus speaks, oldest first.
std::span<const std::string_view> all_versions();
inline constexpr std::string_view kCurrentVersion = "1.1.0";

// Semver-ish comparison of "X.Y.Z" (missing parts are 0). Throws cni::Error code 1 on garbage.
int compare_versions(std::string_view a, std::string_view b);
bool version_at_least(std::string_view version, std::string_view minimum);

// A config without cniVersion means 0.1.0.
std::string effective_version(std::string_view config_version);

// Throws cni::Error code 1 "incompatible CNI versions" (details: config is "X", plugin supports
// [...]) when `version` is not in `supported`.
void require_supported(std::string_view version, std::span<const std::string_view> supported);

// Throws cni::Error code 1 "config version does not allow CHECK" (also GC, STATUS) when the
// command needs a newer config version than `version`.
void require_command_allowed(std::string_view command, std::string_view version);

// The VERSION reply: compact, newline-terminated, cniVersion = the current version.
std::string version_reply(std::span<const std::string_view> supported);

// Go's fmt of a []string: ["0.1.0" "0.2.0"].
std::string go_quoted_list(std::span<const std::string_view> items);
std::string go_quoted_list(const std::vector<std::string>& items);

}  // namespace plexus::cni
