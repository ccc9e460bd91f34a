#include <plexus/daemon/container_locks.hpp>

namespace plexus::daemon {

ContainerLocks::Guard::Guard(ContainerLocks& owner, std::string id) : owner_(owner), id_(std::move(id)) {
  Entry* entry = nullptr;
  {
    const std::lock_guard lock(owner_.mutex_);
    auto& slot = owner_.entries_[id_];
    if (!slot) slot = std::make_unique<Entry>();
    ++slot->users;
    entry = slot.get();
  }
  // The entry stays alive while users > 0, so it is safe to wait on it outside the map lock.
  entry->mutex.lock();
}

ContainerLocks::Guard::~Guard() {
  const std::lock_guard lock(owner_.mutex_);
  const auto it = owner_.entries_.find(id_);
  it->second->mutex.unlock();
  if (--it->second->users == 0) owner_.entries_.erase(it);
}

std::size_t ContainerLocks::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace plexus::daemon
