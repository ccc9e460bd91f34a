// Chooses, per CNI type, between the in-process plugin and the exec'd binary: in-process when
// the registry serves the type, exec otherwise, unless the type is pinned to one way.
#pragma once

#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/invoker.hpp>
#include <plexus/invoke/registry.hpp>

#include <functional>
#include <map>
#include <string>

namespace plexus::invoke {

enum class DelegateMode { Auto, InProcess, Exec };

// Log lines from in-process plugins (plexus_host_v1.log).
using PluginLog = std::function<void(plexus_log_level, std::string_view)>;

// Runs a loaded plugin through its ABI entry. Its nested calls (a plugin running its IPAM plugin)
// go to `nested`, so they are routed the same way as the outer call.
class InProcessInvoker final : public Invoker {
 public:
  InProcessInvoker(const PluginRegistry& registry, Invoker& nested, PluginLog log = {})
      : registry_(registry), nested_(nested), log_(std::move(log)) {}
  cni::Reply invoke(std::string_view type, const cni::Request& request) override;
  // Runs one loaded plugin (bypassing the type lookup).
  cni::Reply invoke(const LoadedPlugin& plugin, const cni::Request& request);

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
  const PluginRegistry& registry_;
  ExecInvoker& exec_;
  InProcessInvoker in_process_;
  std::map<std::string, DelegateMode, std::less<>> modes_;
};

}  // namespace plexus::invoke
