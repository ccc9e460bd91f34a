#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <istream>

namespace plexus::cni {
namespace {

[[noreturn]] void too_large(std::string_view source, std::size_t max_bytes) {
  throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{} is larger than the limit of {} bytes", source, max_bytes));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads until EOF or max_bytes + 1 bytes, whichever comes first.
// `source` names what is read ("resolvConf /etc/resolv.conf", "stdin") in errors.
std::string read_up_to(int fd, std::size_t max_bytes, const std::string& source) {
  std::string bytes;
  // Reserved once (untouched pages cost no memory), so growing never holds two copies.
  bytes.reserve(std::min(max_bytes, kMaxStdinBytes) + 1);
  char buffer[65536];
  while (bytes.size() <= max_bytes) {
    const auto want = std::min(sizeof buffer, max_bytes + 1 - bytes.size());
    const ssize_t n = ::read(fd, buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::IoFailure, fmt::format("cannot read {}: {}", source, std::strerror(errno)));
    if (n == 0) return bytes;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  too_large(source, max_bytes);
}

}  // namespace

bool is_safe_path_component(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

std::filesystem::path path_under(const std::filesystem::path& base, std::string_view name, std::string_view what) {
  if (!is_safe_path_component(name)) {
    throw Error(ErrorCode::InvalidNetworkConfig,
                fmt::format("{} \"{}\" cannot name a file: it must be one path component (no '/', not empty, '.' or '..')",
                            what, name));
  }
  auto normal_base = base.lexically_normal();
  if (!normal_base.has_filename() && normal_base.has_relative_path()) normal_base = normal_base.parent_path();  // "dir/"
  auto path = (normal_base / std::string(name)).lexically_normal();
  // Belt and braces: with the rules above the result is always base's direct child.
  if (path.parent_path() != normal_base || path.filename() != std::string(name)) {
    throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{} \"{}\" leaves {}", what, name, base.string()));
  }
  return path;
}

std::optional<std::string> read_file_bounded(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what) {
  // O_NONBLOCK: opening a FIFO with no writer must not hang; a regular file ignores the flag.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(ErrorCode::IoFailure, fmt::format("cannot open {} {}: {}", what, path.string(), std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    throw Error(ErrorCode::IoFailure, fmt::format("cannot stat {} {}: {}", what, path.string(), std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    throw Error(ErrorCode::InvalidNetworkConfig, fmt::format("{} {} is not a regular file", what, path.string()));
  }
  const auto source = fmt::format("{} {}", what, path.string());
  if (static_cast<std::uintmax_t>(info.st_size) > max_bytes) too_large(source, max_bytes);
  return read_up_to(fd.get(), max_bytes, source);  // it may grow while read
}

std::string read_existing_file_bounded(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what) {
  auto bytes = read_file_bounded(path, max_bytes, what);
  if (!bytes) throw Error(ErrorCode::IoFailure, fmt::format("cannot open {} {}: {}", what, path.string(), std::strerror(ENOENT)));
  return std::move(*bytes);
}

std::string read_fd_bounded(int fd, std::size_t max_bytes, std::string_view what) {
  return read_up_to(fd, max_bytes, std::string(what));
}

std::string read_stream_bounded(std::istream& in, std::size_t max_bytes, std::string_view what) {
  std::string bytes;
  bytes.reserve(std::min(max_bytes, kMaxStdinBytes) + 1);
  char buffer[65536];
  while (bytes.size() <= max_bytes && in) {
    in.read(buffer, static_cast<std::streamsize>(std::min(sizeof buffer, max_bytes + 1 - bytes.size())));
    bytes.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorCode::IoFailure, fmt::format("cannot read {}", what));
  if (bytes.size() > max_bytes) too_large(what, max_bytes);
  return bytes;
}

std::size_t max_stdin_bytes() {
  const char* value = std::getenv(std::string(kMaxStdinEnv).c_str());
  if (value == nullptr) return kMaxStdinBytes;
  std::size_t parsed = 0;
  const std::string_view text(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc() || end != text.data() + text.size() || parsed == 0) return kMaxStdinBytes;
  return parsed;
}

}  // namespace plexus::cni
