// Network namespaces: a handle to one (an open fd), and in_netns(), which runs a function on a
// namespace worker thread that entered the namespace. The caller's thread never changes
// namespace. Workers are parked and reused (a new thread costs milliseconds before it first
// runs); between calls a worker is back in its home namespace, and one that cannot get back is
// retired, so no thread is ever reused in the wrong namespace.
//
//   plexus::net::Netns host = plexus::net::Netns::current();
//   int index = plexus::net::in_netns(args.netns, [&] {
//     plexus::net::Netlink nl;               // opened on the namespace thread: bound to it
//     ...
//     plexus::net::in_netns(host, [&] { ... });  // back in the host namespace, on another worker
//     return nl.link("net1").index;
//   });
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace plexus::net {

// Base of the typed namespace errors.
class NetnsError : public std::runtime_error {
 public:
  NetnsError(std::string message, std::filesystem::path path)
      : std::runtime_error(std::move(message)), path_(std::move(path)) {}
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// The path does not exist (the runtime already removed the namespace): DEL treats it as success.
// what(): failed to Statfs "<path>": no such file or directory   (the reference's words)
class NetnsNotFound : public NetnsError {
 public:
  using NetnsError::NetnsError;
};

// The path exists but is no network namespace (a regular file, or another kind of namespace).
// what(): unknown FS magic on "<path>": <hex>   or   "<path>" is not a network namespace
class NotANetns : public NetnsError {
 public:
  using NetnsError::NetnsError;
};

// An open network namespace (O_RDONLY|O_CLOEXEC fd on nsfs), movable, closed on destruction.
class Netns {
 public:
  // Opens and checks `path` (statfs magic NSFS_MAGIC or PROC_SUPER_MAGIC, then NS_GET_NSTYPE
  // where the kernel has it). Throws NetnsNotFound, NotANetns, or std::system_error.
  static Netns open(const std::filesystem::path& path);
  // The namespace of the calling thread (/proc/thread-self/ns/net): on the caller's own thread
  // this is the host namespace; inside in_netns it is the target.
  static Netns current();

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  // A second handle on the same namespace (its own fd), valid when this one is gone.
  Netns duplicate() const;

  int fd() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  // Inode of the namespace: two handles name the same namespace when these are equal.
  unsigned long inode() const;

 private:
  Netns(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::filesystem::path path_;
};

namespace detail {
// Hands `body` to a parked namespace worker (a new one when none is idle), which setns()es into
// `netns`, runs it and returns home; rethrows whatever the setns or the body threw, on the
// caller's thread.
void run_on_netns_thread(const Netns& netns, const std::function<void()>& body);
}  // namespace detail

// Runs fn() in `netns` on a namespace worker thread and returns its value (or rethrows its
// exception). Netlink sockets and /proc/sys files opened inside fn belong to that namespace.
// fn must not return a reference to anything on the worker, nor keep thread_local state that
// assumes a namespace: the worker serves other namespaces later.
template <class Fn>
auto in_netns(const Netns& netns, Fn&& fn) -> std::invoke_result_t<Fn&> {
  using Value = std::invoke_result_t<Fn&>;
  static_assert(!std::is_reference_v<Value>, "in_netns: return a value, not a reference");
  if constexpr (std::is_void_v<Value>) {
    detail::run_on_netns_thread(netns, [&fn] { fn(); });
  } else {
    std::optional<Value> value;
    detail::run_on_netns_thread(netns, [&fn, &value] { value.emplace(fn()); });
    return std::move(*value);
  }
}

// Opens `path` (NetnsNotFound / NotANetns as Netns::open) and runs fn there.
template <class Fn>
auto in_netns(const std::filesystem::path& path, Fn&& fn) -> std::invoke_result_t<Fn&> {
  const Netns netns = Netns::open(path);
  return in_netns(netns, std::forward<Fn>(fn));
}

}  // namespace plexus::net
