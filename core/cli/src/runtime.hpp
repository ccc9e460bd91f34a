// Everything one meta-plugin call needs, built from the meta config: the plugin registry (its
// pluginDirs), the exec fallback (binDir first), the router with the per-type choices, and the
// network source (the API server when a kubeconfig or in-cluster config is there, else the
// manifest store given, else none), and the call's Events, kept until send_events().
#pragma once

#include <plexus/invoke/router.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/events.hpp>
#include <plexus/meta/network_source.hpp>

#include <filesystem>
#include <memory>
#include <optional>

namespace plexus::cli {

class MetaRuntime {
 public:
  // `store`: a manifest directory to resolve pods and NADs from instead of an API server.
  // `log` gets the engine's messages, `plugin_log` in-process plugins' own (the ABI host log).
  // `node_name`: recorded in sticky claims; empty = $NODE_NAME, else the host name.
  MetaRuntime(const meta::MetaConfig& config, std::optional<std::filesystem::path> store,
              std::function<void(meta::LogLevel, std::string_view)> log = {}, invoke::PluginLog plugin_log = {},
              std::string node_name = {});

  meta::MetaPlugin& engine() { return *engine_; }
  meta::NetworkSource* source() { return source_.get(); }

  // Sends the Events the engine recorded (API server only; the manifest store keeps none), each
  // POST bounded by a second and none after the first that fails: called once the reply is
  // written, so the result is ready before any of this, and an API server that does not answer
  // costs the kubelet at most that second.
  void send_events();

 private:
  invoke::PluginRegistry registry_;
  std::unique_ptr<invoke::ExecInvoker> exec_;
  std::unique_ptr<invoke::Router> router_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<meta::NetworkSource> source_;
  meta::BufferedEvents events_;
  std::string node_name_;
  std::function<void(meta::LogLevel, std::string_view)> log_;
  std::unique_ptr<meta::MetaPlugin> engine_;
};

}  // namespace plexus::cli
