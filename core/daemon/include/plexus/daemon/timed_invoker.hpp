// An Invoker decorator that times every delegate call into plexus_delegate_duration_seconds,
// labelled with the plugin type and the CNI command. It wraps the Router the engine uses, so
// in-process and exec'd delegates are measured the same way.
#pragma once

#include <plexus/daemon/metrics.hpp>
#include <plexus/invoke/invoker.hpp>

namespace plexus::daemon {

class TimedInvoker final : public invoke::Invoker {
 public:
  TimedInvoker(invoke::Invoker& inner, DaemonMetrics& metrics) : inner_(inner), metrics_(metrics) {}
  cni::Reply invoke(std::string_view type, const cni::Request& request) override;

 private:
  invoke::Invoker& inner_;
  DaemonMetrics& metrics_;
};

}  // namespace plexus::daemon
