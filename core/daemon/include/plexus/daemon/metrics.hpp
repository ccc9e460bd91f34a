// plexusd's Prometheus metrics: one registry for the daemon's life, served on metricsAddress.
//
//   plexus_cni_calls_total{command,result}            result: success | error
//   plexus_cni_call_duration_seconds{command}         the whole meta-plugin call
//   plexus_delegate_duration_seconds{type,command}    one delegate plugin call (in-process or exec)
//   plexus_api_requests_total{operation,result}       API server requests the daemon made
//   plexus_pod_cache_lookups_total{result}            hit | miss
//   plexus_pod_cache_pods                             pods in the cache
//   plexus_pod_watch_restarts_total{reason}           relist (410 Gone) | reconnect (error) | rewatch (closed)
//   plexus_http_requests_total{handler,code}          the socket's HTTP requests
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace plexus::daemon {

class DaemonMetrics {
 public:
  DaemonMetrics();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void count_call(std::string_view command, bool success, double seconds);
  void observe_delegate(std::string_view type, std::string_view command, double seconds);
  void count_api_request(std::string_view operation, bool success);
  void count_cache_lookup(bool hit);
  void set_cached_pods(std::size_t count);
  void count_watch_restart(std::string_view reason);
  void count_http_request(std::string_view handler, int code);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& call_duration_;
  prometheus::Family<prometheus::Histogram>& delegate_duration_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Counter>& cache_lookups_;
  prometheus::Gauge& cached_pods_;
  prometheus::Family<prometheus::Counter>& watch_restarts_;
  prometheus::Family<prometheus::Counter>& http_requests_;
};

}  // namespace plexus::daemon
