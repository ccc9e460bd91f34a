// One mutex per container ID, made on first use and dropped when its last holder or waiter
// leaves: calls for the same container run one after another (kubelet may send a DEL while an
// ADD is still running), calls for different containers do not wait for each other.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace plexus::daemon {

class ContainerLocks {
 public:
  class Guard {
   public:
    Guard(ContainerLocks& owner, std::string id);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    ContainerLocks& owner_;
    std::string id_;
  };

  // Blocks until no other call for `container_id` holds it.
  Guard lock(std::string_view container_id) { return Guard(*this, std::string(container_id)); }

  // Containers with a holder or a waiter (for tests: the map must not grow without bound).
  std::size_t size() const;

 private:
  struct Entry {
    std::mutex mutex;
    std::size_t users = 0;  // holders + waiters, guarded by ContainerLocks::mutex_
  };

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
};

}  // namespace plexus::daemon
