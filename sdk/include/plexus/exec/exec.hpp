// Running a CNI plugin binary the way libcni does (pkg/invoke): found on CNI_PATH, the CNI_*
// variables over the caller's environment, the config on stdin, the result or error on stdout.
// Lives in the SDK because a standalone plugin binary execs its IPAM plugin the same way.
#pragma once

#include <plexus/cni/errors.hpp>
#include <plexus/cni/protocol.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::exec {

struct ExecOptions {
  // A plugin still running after this is killed (SIGKILL) and the call fails with code 11.
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  // stdout and stderr beyond this many bytes each fail the call (code 999): a runaway plugin
  // must not exhaust the caller's memory.
  std::size_t output_cap = 16U * 1024U * 1024U;
  // "text file busy" (the binary is being replaced): tried again this many times, as libcni.
  int busy_retries = 5;
  std::chrono::milliseconds busy_delay{200};
};

// A plugin type that may become a file name: non-empty, no '/', no NUL, no "..", not ".". Every
// lookup of a type (this exec lookup, the in-process registry) refuses anything else, so a
// config's "type" can never name a file outside the plugin directories.
bool is_plain_plugin_name(std::string_view type);

// libcni's FindInPath over CNI_PATH's entries (':'-separated), `extra_dirs` searched first.
// Throws cni::Error: code 7 for a type that is not a plain file name ("invalid plugin name
// \"../x\": ..."), code 999 for "no plugin name provided", "no paths provided" and
// "failed to find plugin \"x\" in path [/a /b]".
std::filesystem::path find_in_path(std::string_view type, std::string_view cni_path,
                                   std::span<const std::string> extra_dirs = {});

// Runs `binary` for one request. Never throws for the plugin's own failures: those come back as
// a Reply (exit code, stdout, stderr); a failure to run it at all, a timeout or an output over the
// cap come back as exit code 1 with a CNI error JSON on stdout.
cni::Reply run(const std::filesystem::path& binary, const cni::Request& request, const ExecOptions& options = {});

// The error a reply carries, as libcni's pluginErr reads it: none when the exit code is 0; else
// stdout parsed as a CNI error, else "netplugin failed: <stderr>" (see cni::reply_error).
std::optional<cni::Error> error_of(const cni::Reply& reply);

// The spec versions `binary` supports (its VERSION reply). A plugin that answers
// "unknown CNI_COMMAND: VERSION" is a 0.1.0 plugin, as libcni reads it. Throws cni::Error.
std::vector<std::string> supported_versions(const std::filesystem::path& binary, const ExecOptions& options = {});

}  // namespace plexus::exec
