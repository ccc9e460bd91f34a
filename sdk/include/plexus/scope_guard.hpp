// Rollback next to the acquisition: a guard that runs its undo unless dismissed on success.
//
//   create_link(...);
//   plexus::ScopeGuard remove_link([&] { delete_link(...); });
//   ... more steps that may throw ...
//   remove_link.dismiss();
#pragma once

#include <functional>
#include <utility>

namespace plexus {

class ScopeGuard {
 public:
  explicit ScopeGuard(std::function<void()> undo) : undo_(std::move(undo)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (!undo_) return;
    try {
      undo_();
    } catch (...) {
      // An undo that fails must not hide the error that triggered it.
    }
  }
  void dismiss() noexcept { undo_ = nullptr; }

 private:
  std::function<void()> undo_;
};

}  // namespace plexus
