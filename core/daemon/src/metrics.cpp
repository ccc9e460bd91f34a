#include <plexus/daemon/metrics.hpp>

namespace plexus::daemon {
namespace {

using prometheus::Histogram;

// 0.5 ms .. ~16 s: in-process delegates take well under a millisecond, exec'd ones tens.
Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16};
}

std::string label(std::string_view value) { return std::string(value); }

}  // namespace

DaemonMetrics::DaemonMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      calls_(prometheus::BuildCounter().Name("plexus_cni_calls_total").Help("CNI calls served, by command and result").Register(*registry_)),
      call_duration_(prometheus::BuildHistogram()
                         .Name("plexus_cni_call_duration_seconds")
                         .Help("Duration of whole meta-plugin calls")
                         .Register(*registry_)),
      delegate_duration_(prometheus::BuildHistogram()
                             .Name("plexus_delegate_duration_seconds")
                             .Help("Duration of delegate plugin calls, by plugin type and command")
                             .Register(*registry_)),
      api_requests_(prometheus::BuildCounter()
                        .Name("plexus_api_requests_total")
                        .Help("Kubernetes API requests made by the daemon, by operation and result")
                        .Register(*registry_)),
      cache_lookups_(prometheus::BuildCounter()
                         .Name("plexus_pod_cache_lookups_total")
                         .Help("Pod lookups answered from the watch-fed cache (hit) or not (miss)")
                         .Register(*registry_)),
      cached_pods_(prometheus::BuildGauge().Name("plexus_pod_cache_pods").Help("Pods in the cache").Register(*registry_).Add({})),
      watch_restarts_(prometheus::BuildCounter()
                          .Name("plexus_pod_watch_restarts_total")
                          .Help("Pod watch restarts: relist after 410 Gone, reconnect after an error, rewatch after a close")
                          .Register(*registry_)),
      http_requests_(prometheus::BuildCounter()
                         .Name("plexus_http_requests_total")
                         .Help("HTTP requests on the daemon socket, by handler and status code")
                         .Register(*registry_)) {}

void DaemonMetrics::count_call(std::string_view command, bool success, double seconds) {
  calls_.Add({{"command", label(command)}, {"result", success ? "success" : "error"}}).Increment();
  call_duration_.Add({{"command", label(command)}}, latency_buckets()).Observe(seconds);
}

void DaemonMetrics::observe_delegate(std::string_view type, std::string_view command, double seconds) {
  delegate_duration_.Add({{"type", label(type)}, {"command", label(command)}}, latency_buckets()).Observe(seconds);
}

void DaemonMetrics::count_api_request(std::string_view operation, bool success) {
  api_requests_.Add({{"operation", label(operation)}, {"result", success ? "success" : "error"}}).Increment();
}

void DaemonMetrics::count_cache_lookup(bool hit) { cache_lookups_.Add({{"result", hit ? "hit" : "miss"}}).Increment(); }

void DaemonMetrics::set_cached_pods(std::size_t count) { cached_pods_.Set(static_cast<double>(count)); }

void DaemonMetrics::count_watch_restart(std::string_view reason) {
  watch_restarts_.Add({{"reason", label(reason)}}).Increment();
}

void DaemonMetrics::count_http_request(std::string_view handler, int code) {
  http_requests_.Add({{"handler", label(handler)}, {"code", std::to_string(code)}}).Increment();
}

}  // namespace plexus::daemon
