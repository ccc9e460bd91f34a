#include <plexus/net/sysctl.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace plexus::net {
namespace {

std::string sysctl_path(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos) {
    throw std::invalid_argument("invalid sysctl key \"" + std::string(key) + "\"");
  }
  return "/proc/sys/" + std::string(key);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

std::string read_sysctl(std::string_view key) {
  const std::string path = sysctl_path(key);
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("failed to open " + path);
  std::string value;
  char buffer[256];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("failed to read " + path);
    }
    if (n == 0) break;
    value.append(buffer, static_cast<std::size_t>(n));
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

void write_sysctl(std::string_view key, std::string_view value) {
  const std::string path = sysctl_path(key);
  const Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("failed to open " + path);
  // One write: a sysctl takes the whole value from a single write() call.
  ssize_t n = 0;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("failed to write \"" + std::string(value) + "\" to " + path);
}

}  // namespace plexus::net
