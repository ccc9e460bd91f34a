// Chooses, per CNI type, between the in-process plugin and the exec'd binary: in-process when
// the registry serves the type, exec otherwise, unless the type is pinned to one way. A loaded
// plugin that does not list a config's cniVersion yields to the binary of its type, if any.
#pragma once

#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/invoker.hpp>
#include <plexus/invoke/registry.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace plexus::invoke {

enum class DelegateMode { Auto, InProcess, Exec };

// Log lines from in-process plugins (plexus_host_v1.log).
using PluginLog = std::function<void(plexus_log_level, std::string_view)>;

// How long an in-process call may take when its request names no deadline: exec's default timeout.
inline constexpr std::chrono::seconds kDefaultCallTimeout{120};

// How many in-process calls this process abandoned at their deadline (their threads may still
// run plugin code: a process that exits after one should leave with _exit, not run destructors).
unsigned abandoned_calls();

// Runs a loaded plugin through its ABI entry, on a thread of its own, waiting until the request's
// deadline (or kDefaultCallTimeout): past it the caller gets code 11 and the call is abandoned. Its nested calls (a plugin running its IPAM plugin)
// go to `nested`, so they are routed the same way as the outer call.
class InProcessInvoker final : public Invoker {
 public:
  InProcessInvoker(const PluginRegistry& registry, Invoker& nested, PluginLog log = {})
      : registry_(registry), nested_(nested), log_(std::move(log)) {}
  cni::Reply invoke(std::string_view type, const cni::Request& request) override;
  // Runs one loaded plugin (bypassing the type lookup); the call keeps it loaded while it runs.
  cni::Reply invoke(std::shared_ptr<const LoadedPlugin> plugin, const cni::Request& request);

 private:
  const PluginRegistry& registry_;
  Invoker& nested_;
  PluginLog log_;
};

class Router final : public Invoker {
 public:
  Router(const PluginRegistry& registry, ExecInvoker& exec, PluginLog log = {})
      : registry_(registry), exec_(exec), in_process_(registry, *this, std::move(log)) {}

  void set_mode(std::string type, DelegateMode mode) { modes_[std::move(type)] = mode; }
  // Which way a call for `type` goes right now.
  bool runs_in_process(std::string_view type) const;

  cni::Reply invoke(std::string_view type, const cni::Request& request) override;

 private:
  // In Auto mode, a loaded plugin that does not list the config's cniVersion yields to a binary
  // of the same type on CNI_PATH, when there is one.
  bool prefers_exec(std::string_view type, const LoadedPlugin& plugin, const cni::Request& request) const;

  const PluginRegistry& registry_;
  ExecInvoker& exec_;
  InProcessInvoker in_process_;
  std::map<std::string, DelegateMode, std::less<>> modes_;
};

}  // namespace plexus::invoke
