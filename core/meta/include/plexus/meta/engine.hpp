// The meta-plugin itself: ADD attaches every network of the pod through its delegates (cluster
// network first) with rollback, DEL tears them down from the delegate cache, CHECK/STATUS/GC are
// forwarded. The Invoker (in-process, exec or the router), the NetworkSource and the clock are
// injected, so the same engine serves the CNI binary, the daemon and the tests.
#pragma once

#include <plexus/cni/protocol.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/invoke/invoker.hpp>
#include <plexus/invoke/result_cache.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/delegate.hpp>
#include <plexus/meta/events.hpp>
#include <plexus/meta/network_source.hpp>
#include <plexus/meta/selection.hpp>
#include <plexus/meta/sticky_claims.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

// runtimeConfig key under which CRI runtimes (containerd, CRI-O) hand the pod's annotations over;
// with it the pod GET is skipped.
inline constexpr std::string_view kPodAnnotationsRuntimeKey = "io.kubernetes.cri.pod-annotations";

struct EngineOptions {
  // readinessindicatorfile: how long ADD/STATUS/GC wait for it, and how often they look.
  std::chrono::milliseconds readiness_timeout{45000};
  std::chrono::milliseconds readiness_poll{1000};
  std::function<void(std::chrono::milliseconds)> sleep;  // null = std::this_thread::sleep_for
  std::function<void(LogLevel, std::string_view)> log;   // null = silent
  std::string node_name;  // recorded in sticky claims (who claimed), informative
  // Where the pod's Events go (when the meta config's sendEvents allows); null = none.
  EventSink* events = nullptr;
};

// What ADD did, for callers that want more than the printed result (the CLI's inspect, tests).
struct Attachment {
  Delegate delegate;
  cni::Result result;
};

// The request values that name files and links (CNI_CONTAINERID, CNI_IFNAME), checked before any
// cache or file is touched, with skel's rules: for ADD, CHECK and DEL both must be set, the ID
// ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ and the name a valid Linux interface name. Throws code 4 naming
// the variable and its value. Every entry point (plexus, plexusd, attach/detach) runs it first.
void validate_request(const cni::Request& request);

class MetaPlugin {
 public:
  // `source` may be null: no Kubernetes and no manifest store (inline delegates / clusterNetwork
  // files only, no network-status).
  MetaPlugin(invoke::Invoker& invoker, NetworkSource* source, EngineOptions options = {});

  // The whole CNI call: never throws; a failure is exit code 1 with the CNI error JSON.
  cni::Reply handle(const cni::Request& request);

  // The commands, throwing cni::Error. add returns the cluster network's result in the meta
  // config's cniVersion, as printed.
  std::string add(const cni::Request& request);
  void del(const cni::Request& request);
  void check(const cni::Request& request);
  void status(const cni::Request& request);
  void gc(const cni::Request& request);

  // Hot-plug (multus-dynamic-networks-controller's job, through multus's /delegate): attach one
  // more network to the running pod of request.container_id, in request.netns, or detach one.
  // `network` is one element of the networks annotation, in either form ("ns/name@net5" or
  // [{"name":...,"ips":[...]}]). The pod is the one its delegate cache names; no other interface
  // is touched; the cache and network-status follow. attach returns the new network's result;
  // a failure leaves the pod as it was and is a Warning on it. detach of a network that is not
  // attached is success (idempotent, as DEL). Both throw cni::Error.
  std::string attach_network(const cni::Request& request, std::string_view network);
  void detach_network(const cni::Request& request, std::string_view network);
  std::string attach_network(const cni::Request& request, const NetworkSelection& selection);
  void detach_network(const cni::Request& request, const NetworkSelection& selection);
  // The same, never throwing: exit code 1 with the CNI error JSON.
  cni::Reply handle_hotplug(const cni::Request& request, std::string_view network, bool attach);
  // plexusd's pod watch: the pod's networks annotation changed to `annotation`; detach what it no
  // longer names, then attach what it newly names (the cluster and default networks are never
  // touched). Each failure is logged and a Warning on the pod, and the others still go; an
  // annotation that does not parse changes nothing.
  void reconcile_networks(const cni::Request& request, std::string_view annotation);

  // The attachments of the last successful ADD, and the network-status it built.
  const std::vector<Attachment>& last_attachments() const { return attachments_; }
  const std::string& last_network_status() const { return network_status_; }

 private:
  std::string attach(const cni::Request& request);
  // Rewrites network-status from the delegates' cached results; a failure is logged, a Warning.
  void publish_network_status(const std::string& pod_namespace, const std::string& pod_name, const std::string& pod_uid,
                              const std::vector<Delegate>& delegates, const invoke::ResultCache& results,
                              const std::string& container_id);
  void wait_for_readiness(const MetaConfig& config) const;
  void log(LogLevel level, std::string_view message) const;
  // An Event about the pod of the ADD in progress, once it is known and if sendEvents is on.
  void record_event(EventType type, std::string_view reason, std::string message) const;
  // DEL: the pod's network-status becomes "[]", as multus unsets it; a failure is only logged.
  void clear_network_status(const cni::Request& request, const std::string& pod_namespace,
                            const std::string& pod_name, const std::string& pod_uid) const;
  // DEL of a pod that got sticky addresses with allowDynamic: its claims go back to the pool.
  void release_dynamic_claims(const std::vector<Delegate>& delegates, const ClaimHolder& pod) const;

  invoke::Invoker& invoker_;
  NetworkSource* source_;
  EngineOptions options_;
  std::vector<Attachment> attachments_;
  std::string network_status_;
  std::optional<PodInfo> event_pod_;  // the ADD's pod, set once known when Events are on
};

}  // namespace plexus::meta
