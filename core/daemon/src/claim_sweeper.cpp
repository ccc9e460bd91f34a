#include <plexus/daemon/claim_sweeper.hpp>

#include <fmt/format.h>

namespace plexus::daemon {

ClaimSweeper::ClaimSweeper(const k8s::ApiClient& client, std::chrono::milliseconds interval, Log log)
    : store_(client), interval_(interval), log_(std::move(log)), thread_([this](std::stop_token stop) { run(stop); }) {}

ClaimSweeper::~ClaimSweeper() {
  thread_.request_stop();
  wake_.notify_all();
}

int ClaimSweeper::sweeps() const {
  const std::lock_guard lock(mutex_);
  return sweeps_;
}

void ClaimSweeper::run(std::stop_token stop) {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, stop, interval_, [] { return false; });
    }
    if (stop.stop_requested()) return;
    try {
      for (const auto& claim : store_.release_orphans()) {
        if (log_) log_(fmt::format("released sticky claim {} ({} {}): {} is gone", claim.name, claim.address, claim.mac, claim.holder.describe()));
      }
    } catch (const std::exception& e) {
      // The next sweep tries again; a stale claim meanwhile is still taken over by its next user.
      if (log_) log_(fmt::format("sticky claim sweep: {}", e.what()));
    }
    const std::lock_guard lock(mutex_);
    ++sweeps_;
  }
}

}  // namespace plexus::daemon
