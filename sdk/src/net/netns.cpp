#include <plexus/net/netns.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

Netns Netns::duplicate() const {
  const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, "failed to duplicate netns " + in_quotes(path_));
  return Netns(fd, path_);
}

unsigned long Netns::inode() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno(errno, "failed to stat netns " + in_quotes(path_));
  return static_cast<unsigned long>(st.st_ino);
}

namespace detail {
namespace {

// A thread that runs in_netns bodies one at a time. Before each body it enters the requested
// namespace; after it, it returns to its home namespace, so an idle worker never pins a pod's
// namespace. A worker that cannot get home is retired, never reused. Reusing workers matters: a
// new thread costs about 2 ms before it first runs on a 2-vCPU VM, a handoff to a parked one
// about 30 us, and a call makes two or three of these.
class NetnsWorker {
 public:
  explicit NetnsWorker(Netns home) : home_(std::move(home)), thread_([this] { serve(); }) {}
  NetnsWorker(const NetnsWorker&) = delete;
  NetnsWorker& operator=(const NetnsWorker&) = delete;
  ~NetnsWorker() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  struct Outcome {
    std::exception_ptr failure;  // what setns or the body threw
    bool home = false;           // back in its home namespace: fit to be reused
  };

  // Runs body in `netns` on this worker and waits for it.
  Outcome run(const Netns& netns, const std::function<void()>& body) {
    std::unique_lock lock(mutex_);
    netns_ = &netns;
    body_ = &body;
    wake_.notify_all();
    wake_.wait(lock, [this] { return body_ == nullptr; });
    return {std::exchange(failure_, nullptr), !lost_};
  }

  // The namespace this worker returns to: a worker started from inside another worker inherits
  // that worker's home, not the pod namespace it is visiting.
  const Netns& home() const noexcept { return home_; }
  static NetnsWorker* current() noexcept { return current_; }

 private:
  void serve() {
    current_ = this;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || body_ != nullptr; });
      if (body_ == nullptr) return;  // stopping
      try {
        if (::setns(netns_->fd(), CLONE_NEWNET) != 0) {
          throw_errno(errno, "error switching to ns " + netns_->path().string());
        }
        (*body_)();
      } catch (...) {
        failure_ = std::current_exception();
      }
      lost_ = ::setns(home_.fd(), CLONE_NEWNET) != 0;
      body_ = nullptr;
      netns_ = nullptr;
      wake_.notify_all();
      if (lost_) return;  // stays out of the pool; joined when the caller drops it
    }
  }

  static inline thread_local NetnsWorker* current_ = nullptr;

  Netns home_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const Netns* netns_ = nullptr;
  const std::function<void()>* body_ = nullptr;
  std::exception_ptr failure_;
  bool lost_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once every other member exists
};

// Parked workers, shared by every caller in the process (one pool per binary or plugin .so).
class NetnsWorkerPool {
 public:
  static NetnsWorkerPool& instance() {
    static NetnsWorkerPool pool;
    return pool;
  }

  std::unique_ptr<NetnsWorker> take() {
    {
      const std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto worker = std::move(idle_.back());
        idle_.pop_back();
        return worker;
      }
    }
    const auto* caller = NetnsWorker::current();
    return std::make_unique<NetnsWorker>(caller != nullptr ? caller->home().duplicate() : Netns::current());
  }

  void give_back(std::unique_ptr<NetnsWorker> worker) {
    const std::lock_guard lock(mutex_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(worker));
  }  // a surplus worker is destroyed after the unlock: joining waits for its thread to wake

 private:
  NetnsWorkerPool() {
    // fork() copies this list but none of its threads: the child forgets them (leaked, never
    // joined) instead of handing out a worker nobody serves. The lock is held across fork so the
    // child's copy of the list is consistent.
    ::pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                     [] {
                       auto& pool = instance();
                       for (auto& worker : pool.idle_) (void)worker.release();
                       pool.idle_.clear();
                       pool.mutex_.unlock();
                     });
  }

  static constexpr std::size_t kMaxIdle = 8;
  std::mutex mutex_;
  std::vector<std::unique_ptr<NetnsWorker>> idle_;
};

}  // namespace

void run_on_netns_thread(const Netns& netns, const std::function<void()>& body) {
  auto& pool = NetnsWorkerPool::instance();
  auto worker = pool.take();
  const auto outcome = worker->run(netns, body);
  if (outcome.home) pool.give_back(std::move(worker));  // else destroyed here, its thread joined
  if (outcome.failure) std::rethrow_exception(outcome.failure);
}

}  // namespace detail
}  // namespace plexus::net
