#include "runtime.hpp"

#include "plugin_dirs.hpp"

#include <plexus/k8s/config.hpp>
#include <plexus/meta/k8s_source.hpp>
#include <plexus/meta/manifest_store.hpp>

#include <unistd.h>

#include <cstdlib>

namespace plexus::cli {
namespace {

invoke::DelegateMode to_invoke(meta::DelegateMode mode) {
  switch (mode) {
    case meta::DelegateMode::InProcess: return invoke::DelegateMode::InProcess;
    case meta::DelegateMode::Exec: return invoke::DelegateMode::Exec;
    case meta::DelegateMode::Auto: break;
  }
  return invoke::DelegateMode::Auto;
}

std::string default_node_name() {
  if (const char* node = std::getenv("NODE_NAME"); node != nullptr && *node != '\0') return node;
  char host[256] = {};
  return ::gethostname(host, sizeof host - 1) == 0 ? std::string(host) : std::string();
}

bool in_cluster() { return std::getenv("KUBERNETES_SERVICE_HOST") != nullptr && std::getenv("KUBERNETES_SERVICE_PORT") != nullptr; }

}  // namespace

MetaRuntime::MetaRuntime(const meta::MetaConfig& config, std::optional<std::filesystem::path> store,
                         std::function<void(meta::LogLevel, std::string_view)> log, invoke::PluginLog plugin_log,
                         std::string node_name) {
  std::vector<std::filesystem::path> dirs(config.plugin_dirs.begin(), config.plugin_dirs.end());
  if (dirs.empty()) dirs = default_plugin_dirs();
  // One call runs one or two types: load just their files when asked (a full scan maps every
  // plugin and its libraries, bridge.so pulls libnftables), scanning only for a type served by a
  // file named otherwise.
  registry_.load_on_demand(std::move(dirs), [log](const invoke::LoadOutcome& outcome) {
    if (outcome.status != invoke::LoadStatus::Loaded && log) log(meta::LogLevel::Verbose, outcome.message);
  });
  // multus puts binDir in front of CNI_PATH.
  exec_ = std::make_unique<invoke::ExecInvoker>(std::vector<std::string>{config.bin_dir});
  router_ = std::make_unique<invoke::Router>(registry_, *exec_, std::move(plugin_log));
  for (const auto& [type, mode] : config.delegate_modes) router_->set_mode(type, to_invoke(mode));

  if (store) {
    source_ = std::make_unique<meta::ManifestStore>(*store);
  } else if (!config.kubeconfig.empty()) {
    api_ = std::make_unique<k8s::ApiClient>(k8s::load_kubeconfig(config.kubeconfig));
  } else if (in_cluster()) {
    api_ = std::make_unique<k8s::ApiClient>(k8s::load_in_cluster_config());
  }
  if (api_) source_ = std::make_unique<meta::KubernetesSource>(*api_);

  node_name_ = node_name.empty() ? default_node_name() : std::move(node_name);
  log_ = log;
  meta::EngineOptions options;
  options.log = std::move(log);
  options.node_name = node_name_;
  if (api_) options.events = &events_;
  engine_ = std::make_unique<meta::MetaPlugin>(*router_, source_.get(), options);
}

void MetaRuntime::send_events() {
  if (!api_ || events_.pending().empty()) return;
  events_.send_all(meta::kubernetes_event_sender(*api_, node_name_, std::chrono::milliseconds(1000)),
                   [this](std::string_view message) {
                     if (log_) log_(meta::LogLevel::Error, message);
                   });
}

}  // namespace plexus::cli
