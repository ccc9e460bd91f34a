#include <plexus/net/netns.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <thread>

namespace plexus::net {
namespace {

std::string in_quotes(const std::filesystem::path& path) { return "\"" + path.string() + "\""; }

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

Netns Netns::open(const std::filesystem::path& path) {
  // statfs before open, as the reference does: it reports a missing path distinctly, and never
  // opens (and maybe blocks on) something that is no namespace file.
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      throw NetnsNotFound("failed to Statfs " + in_quotes(path) + ": no such file or directory", path);
    }
    throw_errno(error, "failed to Statfs " + in_quotes(path));
  }
  const auto magic = static_cast<unsigned long>(fs.f_type);
  if (magic != NSFS_MAGIC && magic != PROC_SUPER_MAGIC) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%lx", magic);
    throw NotANetns("unknown FS magic on " + in_quotes(path) + ": " + hex, path);
  }

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "failed to open netns " + in_quotes(path));
  Netns netns(fd, path);  // owns fd from here on

  // nsfs holds every kind of namespace: refuse a mount or pid namespace here rather than let
  // setns fail later with a bare EINVAL. An nsfs file on a kernel older than NS_GET_NSTYPE (4.11)
  // passes as the reference lets it; a plain /proc file (no ns ioctl at all) does not.
  const int type = ::ioctl(fd, NS_GET_NSTYPE);
  if ((type >= 0 && type != CLONE_NEWNET) || (type < 0 && magic == PROC_SUPER_MAGIC)) {
    throw NotANetns(in_quotes(path) + " is not a network namespace", path);
  }
  return netns;
}

Netns Netns::current() {
  const auto path = std::filesystem::path("/proc") / std::to_string(::getpid()) / "task" /
                    std::to_string(::syscall(SYS_gettid)) / "ns" / "net";
  const int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "failed to open current netns");
  return Netns(fd, path);
}

Netns::Netns(Netns&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

unsigned long Netns::inode() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno(errno, "failed to stat netns " + in_quotes(path_));
  return static_cast<unsigned long>(st.st_ino);
}

namespace detail {

void run_on_netns_thread(const Netns& netns, const std::function<void()>& body) {
  std::exception_ptr failure;
  // A fresh thread per call: it enters the namespace once and ends with the call, so no thread
  // is ever returned to a pool (or to the caller) in the wrong namespace.
  std::thread worker([&] {
    try {
      if (::setns(netns.fd(), CLONE_NEWNET) != 0) {
        throw_errno(errno, "error switching to ns " + netns.path().string());
      }
      body();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace detail
}  // namespace plexus::net
