// Delegates by exec: the plugin binary found on the request's CNI_PATH (extra dirs first, like
// multus's binDir), run with plexus::exec.
#pragma once

#include <plexus/exec/exec.hpp>
#include <plexus/invoke/invoker.hpp>

#include <string>
#include <vector>

namespace plexus::invoke {

class ExecInvoker final : public Invoker {
 public:
  explicit ExecInvoker(std::vector<std::string> extra_dirs = {}, exec::ExecOptions options = {})
      : extra_dirs_(std::move(extra_dirs)), options_(options) {}
  cni::Reply invoke(std::string_view type, const cni::Request& request) override;
  // Whether a binary for `type` is on the request's CNI_PATH (or the extra dirs).
  bool finds(std::string_view type, const cni::Request& request) const;

 private:
  std::vector<std::string> extra_dirs_;
  exec::ExecOptions options_;
};

}  // namespace plexus::invoke
