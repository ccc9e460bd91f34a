// Files named or read on behalf of a request: the one place that turns request data (container
// IDs, network, pod and NAD names) into paths, and the one bounded reader for every file and
// stream that comes from outside (stdin, resolvConf, manifests, kubeconfig, caches).
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::cni {

// Default caps. Real inputs are a few KiB; these are far above any of them and far below what
// would hurt a node.
inline constexpr std::size_t kMaxStdinBytes = 16U * 1024U * 1024U;  // PLEXUS_MAX_STDIN_BYTES
inline constexpr std::size_t kMaxFileBytes = 16U * 1024U * 1024U;   // caches, manifests, kubeconfig
inline constexpr std::size_t kMaxResolvConfBytes = 1U * 1024U * 1024U;
inline constexpr std::string_view kMaxStdinEnv = "PLEXUS_MAX_STDIN_BYTES";
// How errors name stdin, with the knob that raises its cap.
inline constexpr std::string_view kStdinDescription = "the network configuration on stdin (PLEXUS_MAX_STDIN_BYTES)";

// A single path component that cannot leave its directory: not empty, not "." or "..", no '/'
// and no NUL.
bool is_safe_path_component(std::string_view name);

// base / name: throws cni::Error code 7 naming `what` and the value when `name` is no safe
// component or the result, lexically normalized, is not under base.
std::filesystem::path path_under(const std::filesystem::path& base, std::string_view name, std::string_view what);

// The whole file, read without following it into anything but a regular file (a FIFO, a device
// such as /dev/zero or a directory is refused without blocking: O_NONBLOCK, then fstat).
// Nullopt when the file does not exist. Throws cni::Error code 7 naming `what`, the path and the
// limit when the file is larger than `max_bytes` or not a regular file; code 5 on other errors.
std::optional<std::string> read_file_bounded(const std::filesystem::path& path, std::size_t max_bytes,
                                             std::string_view what);
// The same, a missing file being an error (code 5) too.
std::string read_existing_file_bounded(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what);

// Everything from `fd` or `in` (stdin) up to `max_bytes`; one byte more is code 7 naming `what`
// and the limit, and the rest is left unread.
std::string read_fd_bounded(int fd, std::size_t max_bytes, std::string_view what);
std::string read_stream_bounded(std::istream& in, std::size_t max_bytes, std::string_view what);

// The stdin cap: PLEXUS_MAX_STDIN_BYTES when set to a positive number, else kMaxStdinBytes.
std::size_t max_stdin_bytes();

}  // namespace plexus::cni
