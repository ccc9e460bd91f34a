#include <plexus/meta/engine.hpp>

#include <plexus/cni/args.hpp>
#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/version.hpp>
#include <plexus/invoke/chain.hpp>
#include <plexus/invoke/result_cache.hpp>
#include <plexus/meta/cache.hpp>
#include <plexus/meta/default_route.hpp>
#include <plexus/meta/resolution.hpp>
#include <plexus/meta/selection.hpp>
#include <plexus/meta/status.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include <plexus/meta/sticky_claims.hpp>
#include <plexus/scope_guard.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <thread>

namespace plexus::meta {
namespace {

using cni::ordered_json;

// Runs one command and answers as a plugin does: what it prints, or its CNI error (exit 1).
template <typename Command>
cni::Reply answer(Command&& command) {
  try {
    return {0, command(), {}};
  } catch (const cni::Error& e) {
    return {1, e.to_json(), {}};
  } catch (const std::exception& e) {
    return {1, cni::Error(cni::ErrorCode::Internal, e.what()).to_json(), {}};
  }
}

struct Call {
  MetaConfig config;
  cni::CniArgs args;
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  invoke::ResultCache results;
  invoke::ChainRunner chain;

  Call(const cni::Request& request, invoke::Invoker& invoker)
      : config(parse_meta_config(request.stdin_data)),
        args(cni::CniArgs::parse(request.args)),
        pod_namespace(args.get("K8S_POD_NAMESPACE").value_or("")),
        pod_name(args.get("K8S_POD_NAME").value_or("")),
        pod_uid(args.get("K8S_POD_UID").value_or("")),
        results(config.cni_dir),
        // binDir goes in front of the runtime's CNI_PATH, as multus does.
        chain(invoker, results, request.path.empty() ? config.bin_dir : config.bin_dir + ":" + request.path) {}
};

invoke::RuntimeConf runtime_for(const Delegate& delegate, const cni::Request& request) {
  invoke::RuntimeConf runtime;
  runtime.container_id = request.container_id;
  runtime.netns = request.netns;
  runtime.ifname = delegate.ifname;
  runtime.args = cni::CniArgs::parse(delegate.cni_args).pairs();
  return runtime;  // capability args are already injected into the delegate's own config
}

cni::Error wrap(const Delegate& delegate, std::string_view verb, const cni::Error& error) {
  return cni::Error(error.code(),
                    fmt::format("{} network \"{}\" ({}): {}", verb, delegate.network_name, delegate.ifname, error.msg()),
                    error.details());
}

// The pod's annotations from the runtime (runtimeConfig io.kubernetes.cri.pod-annotations), if any.
std::optional<PodInfo> pod_from_runtime_config(const Call& call) {
  const auto it = call.config.runtime_config.find(kPodAnnotationsRuntimeKey);
  if (it == call.config.runtime_config.end() || !it->is_object()) return std::nullopt;
  PodInfo pod{call.pod_namespace, call.pod_name, call.pod_uid, false, {}, {}, {}, false};
  for (const auto& [key, value] : it->items()) {
    if (value.is_string()) pod.annotations.emplace(key, value.get<std::string>());
  }
  return pod;
}

DelegateContext context_for(const Call& call, const cni::Request& request) {
  DelegateContext context;
  context.container_ifname = request.ifname.empty() ? "eth0" : request.ifname;
  context.runtime_args = call.args;
  context.runtime_config = call.config.runtime_config;
  context.runtime_config.erase(kPodAnnotationsRuntimeKey);
  return context;
}

std::vector<Delegate> delegates_for(const Call& call, const cni::Request& request, const PodInfo* pod,
                                    NetworkSource* source) {
  return build_delegates(resolve_networks(call.config, pod, source), context_for(call, request));
}

bool any_sticky(const std::vector<ResolvedNetwork>& networks) {
  return std::any_of(networks.begin(), networks.end(), [](const ResolvedNetwork& network) { return uses_sticky(network.config); });
}

// multus's AddedInterface text: "Add net1 [192.168.111.10/24] from default/ip-192" (Go's %v of
// the result's addresses).
std::string added_interface_message(const Attachment& attachment) {
  std::vector<std::string> ips;
  for (const auto& ip : attachment.result.ips) ips.push_back(ip.address.to_string());
  return fmt::format("Add {} [{}]{}", attachment.delegate.ifname, fmt::join(ips, " "),
                     attachment.delegate.network_name.empty() ? "" : " from " + attachment.delegate.network_name);
}

std::string json_quoted(std::string_view text) { return cni::go_marshal(ordered_json(std::string(text))); }

// A name the pod's namespace already has was not made by this ADD: refused before any delegate
// runs, since the delegate would fail on it and the rollback's DEL then remove a link it never
// made. The cluster network's CNI_IFNAME is the runtime's to choose and is left to its delegate,
// as in multus. A netns that cannot be opened is left for the delegates to report.
void refuse_taken_interfaces(const cni::Request& request, const std::vector<ResolvedNetwork>& networks,
                             const std::vector<std::string>& ifnames) {
  if (request.netns.empty()) return;
  std::optional<net::Netns> pod_netns;
  try {
    pod_netns.emplace(net::Netns::open(request.netns));
  } catch (const std::exception&) {
    return;
  }
  const auto taken = net::in_netns(*pod_netns, [&] {
    net::Netlink nl;
    std::optional<std::size_t> first;
    for (std::size_t i = 0; i < ifnames.size() && !first; ++i) {
      if (networks[i].cluster_network && ifnames[i] == request.ifname) continue;
      if (nl.find_link(ifnames[i])) first = i;
    }
    return first;
  });
  if (taken) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("network \"{}\": interface \"{}\" already exists in the pod's network namespace {}",
                                 networks[*taken].status_name, ifnames[*taken], request.netns));
  }
}

}  // namespace

namespace {

void validate_ids(const cni::Request& request) {
  if (request.container_id.empty()) throw cni::Error(cni::ErrorCode::InvalidEnvironment, "CNI_CONTAINERID missing");
  try {
    cni::validate_container_id(request.container_id);
  } catch (const cni::Error& e) {
    throw cni::Error(cni::ErrorCode::InvalidEnvironment,
                     fmt::format("invalid CNI_CONTAINERID {}: {}", json_quoted(request.container_id), e.msg()),
                     R"(a container ID must match ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$)");
  }
  if (request.ifname.empty()) throw cni::Error(cni::ErrorCode::InvalidEnvironment, "CNI_IFNAME missing");
  try {
    cni::validate_interface_name(request.ifname);
  } catch (const cni::Error& e) {
    throw cni::Error(cni::ErrorCode::InvalidEnvironment, fmt::format("invalid CNI_IFNAME {}: {}", json_quoted(request.ifname), e.msg()),
                     e.details());
  }
}

}  // namespace

void validate_request(const cni::Request& request) {
  if (request.command == "ADD" || request.command == "DEL" || request.command == "CHECK") validate_ids(request);
}

MetaPlugin::MetaPlugin(invoke::Invoker& invoker, NetworkSource* source, EngineOptions options)
    : invoker_(invoker), source_(source), options_(std::move(options)) {}

void MetaPlugin::log(LogLevel level, std::string_view message) const {
  if (options_.log) options_.log(level, message);
}

void MetaPlugin::record_event(EventType type, std::string_view reason, std::string message) const {
  if (!event_pod_) return;
  options_.events->record(PodEvent{event_pod_->namespace_name, event_pod_->name, event_pod_->uid, type,
                                   std::string(reason), std::move(message), std::chrono::system_clock::now()});
}

void MetaPlugin::clear_network_status(const cni::Request& request, const std::string& pod_namespace,
                                      const std::string& pod_name, const std::string& pod_uid) const {
  // As multus, only while the sandbox's netns is there: a DEL after that is the cleanup of a
  // sandbox already gone, not worth an API round trip.
  std::error_code error;
  if (source_ == nullptr || pod_name.empty() || request.netns.empty() || !std::filesystem::exists(request.netns, error)) return;
  try {
    source_->set_network_status(pod_namespace, pod_name, pod_uid, "[]");
  } catch (const std::exception& e) {
    log(LogLevel::Error, fmt::format("cannot clear the network-status of pod {}/{} (DEL goes on): {}", pod_namespace, pod_name, e.what()));
  }
}

void MetaPlugin::wait_for_readiness(const MetaConfig& config) const {
  if (config.readiness_indicator_file.empty()) return;
  const auto sleep = options_.sleep ? options_.sleep : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  std::chrono::milliseconds waited{0};
  while (true) {
    std::error_code error;
    if (std::filesystem::exists(config.readiness_indicator_file, error)) return;
    if (waited >= options_.readiness_timeout) break;
    sleep(options_.readiness_poll);
    waited += options_.readiness_poll;
  }
  throw cni::Error(cni::ErrorCode::TryAgainLater,
                   fmt::format("readiness indicator file {} did not appear within {} ms",
                               config.readiness_indicator_file, options_.readiness_timeout.count()));
}

cni::Reply MetaPlugin::handle(const cni::Request& request) {
  return answer([&]() -> std::string {
    if (request.command == "ADD") return add(request);
    if (request.command == "DEL") {
      del(request);
    } else if (request.command == "CHECK") {
      check(request);
    } else if (request.command == "STATUS") {
      status(request);
    } else if (request.command == "GC") {
      gc(request);
    } else {
      throw cni::Error(cni::ErrorCode::InvalidEnvironment, fmt::format("unknown CNI_COMMAND: {}", request.command));
    }
    return {};
  });
}

// A failure of the ADD is also a Warning on the pod, where `kubectl describe pod` shows it.
std::string MetaPlugin::add(const cni::Request& request) {
  validate_request(request);  // before anything, events included
  event_pod_.reset();
  try {
    return attach(request);
  } catch (const NetworkNotFound& e) {
    record_event(EventType::Warning, kNoNetworkFoundReason, e.event_message());
    throw;
  } catch (const cni::Error& e) {
    record_event(EventType::Warning, kAddFailedReason, e.msg());
    throw;
  } catch (const std::exception& e) {
    record_event(EventType::Warning, kAddFailedReason, e.what());
    throw;
  }
}

std::string MetaPlugin::attach(const cni::Request& request) {
  Call call(request, invoker_);
  for (const auto& key : call.config.unknown_keys) log(LogLevel::Debug, fmt::format("ignoring unknown config key \"{}\"", key));
  wait_for_readiness(call.config);

  std::optional<PodInfo> pod = pod_from_runtime_config(call);
  if (!pod && source_ != nullptr && !call.pod_name.empty()) {
    pod = source_->get_pod(call.pod_namespace, call.pod_name, /*wait_for_pod=*/true);
    if (!pod) log(LogLevel::Error, fmt::format("pod {}/{} not found: attaching the default networks only", call.pod_namespace, call.pod_name));
  }
  if (pod && !call.pod_uid.empty() && !pod->uid.empty() && pod->uid != call.pod_uid && !pod->is_static) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("expected pod {}/{} UID \"{}\" but got \"{}\" from the source",
                                                           call.pod_namespace, call.pod_name, call.pod_uid, pod->uid));
  }
  if (pod && options_.events != nullptr && call.config.send_events) event_pod_ = pod;
  auto networks = resolve_networks(call.config, pod ? &*pod : nullptr, source_);
  refuse_taken_interfaces(request, networks, interface_names(networks, context_for(call, request)));
  // Sticky IPAM: the replica's address and MAC are claimed before anything is attached, since
  // the MAC must be known when the link is made. A pod known only from the runtime's annotations
  // lacks its owner and labels: ask the source.
  std::vector<ClaimedNetwork> claims;
  ClaimStore* claim_store = nullptr;
  if (any_sticky(networks)) {
    if (pod && !pod->complete && source_ != nullptr) {
      if (auto full = source_->get_pod(call.pod_namespace, call.pod_name, /*wait_for_pod=*/true)) pod = std::move(full);
    }
    claim_store = source_ != nullptr ? source_->claim_store() : nullptr;
    claims = claim_sticky_networks(networks, pod ? &*pod : nullptr, claim_store, options_.node_name);
  }
  ScopeGuard release_claims([&] {
    for (const auto& claimed : claims) {
      if (!claimed.created) continue;
      try {
        claim_store->release(claimed.claim);
      } catch (const std::exception& e) {
        log(LogLevel::Error, fmt::format("rollback of sticky claim {}: {}", claimed.claim.name, e.what()));
      }
    }
  });
  const auto delegates = build_delegates(networks, context_for(call, request));
  const DefaultRoutePolicy default_route(delegates);  // refuses ECMP before anything is attached

  // The cache goes first, so a crash half-way still leaves DEL something to tear down.
  const DelegateCache cache(call.config.cni_dir);
  cache.write(CacheEntry{request.container_id, call.pod_namespace, call.pod_name, call.pod_uid,
                         call.config.cni_version, delegates});
  std::vector<Attachment> attached;
  ScopeGuard roll_back([&] {
    for (auto it = attached.rbegin(); it != attached.rend(); ++it) {
      try {
        call.chain.del(invoke::Network::parse(it->delegate.config), runtime_for(it->delegate, request));
      } catch (const std::exception& e) {
        log(LogLevel::Error, fmt::format("rollback of network \"{}\": {}", it->delegate.network_name, e.what()));
      }
    }
    cache.remove(request.container_id);
  });

  for (const auto& delegate : delegates) {
    // Listed before it runs: a delegate that failed half-way gets its DEL too, as multus does.
    attached.push_back(Attachment{delegate, {}});
    try {
      attached.back().result = call.chain.add(invoke::Network::parse(delegate.config), runtime_for(delegate, request));
      default_route.apply(request.netns, request.container_id, delegate, attached.back().result, call.results);
    } catch (const cni::Error& e) {
      throw wrap(delegate, "cannot attach", e);
    }
  }

  for (const auto& attachment : attached) {
    log(LogLevel::Verbose, added_interface_message(attachment));
    record_event(EventType::Normal, kAddedInterfaceReason, added_interface_message(attachment));
  }

  std::vector<ordered_json> entries;
  for (const auto& attachment : attached) {
    for (auto& entry : network_status_entries(attachment.result, attachment.delegate.network_name,
                                              attachment.delegate.cluster_network)) {
      entries.push_back(std::move(entry));
    }
  }
  auto annotation = network_status_annotation(entries);
  if (annotation.size() > kMaxNetworkStatusBytes) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("the network-status annotation would be {} bytes, more than the limit of {} bytes",
                                 annotation.size(), kMaxNetworkStatusBytes));
  }
  if (pod && source_ != nullptr && !call.pod_name.empty()) {
    try {
      source_->set_network_status(call.pod_namespace, call.pod_name, call.pod_uid, annotation);
    } catch (const std::exception& e) {
      // Every delegate succeeded: a working pod is not torn down for its annotation (multus PR 1407).
      const auto message = fmt::format("cannot set network-status on pod {}/{} (its networks stay attached): {}",
                                        call.pod_namespace, call.pod_name, e.what());
      log(LogLevel::Error, message);
      record_event(EventType::Warning, kNetworkStatusFailedReason, message);
    }
  }
  roll_back.dismiss();
  release_claims.dismiss();

  const auto version = cni::effective_version(call.config.cni_version);
  auto printed = cni::print_result(attached.front().result, version);
  attachments_ = std::move(attached);
  network_status_ = std::move(annotation);
  return printed;
}

void MetaPlugin::release_dynamic_claims(const std::vector<Delegate>& delegates, const ClaimHolder& pod) const {
  const bool dynamic = std::any_of(delegates.begin(), delegates.end(), [](const Delegate& d) { return uses_dynamic_sticky(d.config); });
  if (!dynamic || source_ == nullptr || pod.name.empty()) return;
  try {
    auto* store = source_->claim_store();
    if (store == nullptr) return;
    for (const auto& claim : store->held_by(pod)) store->release(claim);
  } catch (const std::exception& e) {
    // DEL stays idempotent and successful; on a cluster the pod's ownerReference frees it later.
    log(LogLevel::Error, fmt::format("cannot release the sticky claims of {}: {}", pod.describe(), e.what()));
  }
}

void MetaPlugin::del(const cni::Request& request) {
  validate_request(request);
  Call call(request, invoker_);
  const DelegateCache cache(call.config.cni_dir);
  std::vector<Delegate> delegates;
  ClaimHolder pod_holder{"Pod", call.pod_namespace, call.pod_name, call.pod_uid, std::nullopt};
  const auto lookup = cache.read(request.container_id);
  const bool rebuilt = !std::holds_alternative<CacheEntry>(lookup);
  if (const auto* entry = std::get_if<CacheEntry>(&lookup)) {
    delegates = entry->delegates;
    pod_holder = ClaimHolder{"Pod", entry->pod_namespace, entry->pod_name, entry->pod_uid, std::nullopt};
  } else {
    // Unlike multus, a missing or corrupt cache does not mean "do nothing": rebuild what can be
    // found (the pod's networks when the pod is still there, else the default networks).
    if (const auto* corrupt = std::get_if<DelegateCache::Corrupt>(&lookup)) {
      log(LogLevel::Error, fmt::format("delegate cache unusable, rebuilding the delegates: {}", corrupt->reason));
    }
    std::optional<PodInfo> pod;
    try {
      pod = pod_from_runtime_config(call);
      if (!pod && source_ != nullptr && !call.pod_name.empty()) pod = source_->get_pod(call.pod_namespace, call.pod_name, false);
      delegates = delegates_for(call, request, pod ? &*pod : nullptr, source_);
    } catch (const std::exception& e) {
      log(LogLevel::Error, fmt::format("cannot resolve the pod's networks for DEL, using the default networks: {}", e.what()));
      delegates = delegates_for(call, request, nullptr, nullptr);
    }
  }

  clear_network_status(request, pod_holder.namespace_name, pod_holder.name, pod_holder.uid);

  std::vector<std::string> errors;
  int code = 0;
  for (auto it = delegates.rbegin(); it != delegates.rend(); ++it) {
    try {
      auto network = invoke::Network::parse(it->config);
      // A conflist without cniVersion gets the meta config's, as multus does on DEL.
      if (network.list.cni_version.empty()) network.list.cni_version = call.config.cni_version;
      call.chain.del(network, runtime_for(*it, request));
      log(LogLevel::Verbose, fmt::format("Del {}{}", it->ifname, it->network_name.empty() ? "" : " from " + it->network_name));
    } catch (const cni::Error& e) {
      const auto wrapped = wrap(*it, "cannot detach", e);
      errors.push_back(wrapped.msg());
      code = code == 0 ? e.code() : code;
    }
  }
  // Rebuilt delegates are a guess at what might be attached (ADD writes the cache before it
  // attaches anything, and a failed ADD removes it after its rollback): their failures, such as a
  // refused config's, are logged, and DEL stays the success it is for a container never attached.
  if (!errors.empty() && rebuilt) {
    for (const auto& error : errors) log(LogLevel::Error, fmt::format("DEL without a delegate cache: {}", error));
  } else if (!errors.empty()) {
    if (!call.config.retry_delete_on_error) cache.remove(request.container_id);
    throw cni::Error(code, fmt::format("{}", fmt::join(errors, "; ")));
  }
  release_dynamic_claims(delegates, pod_holder);
  cache.remove(request.container_id);
}

void MetaPlugin::check(const cni::Request& request) {
  validate_request(request);
  Call call(request, invoker_);
  const DelegateCache cache(call.config.cni_dir);
  const auto lookup = cache.read(request.container_id);
  const auto* entry = std::get_if<CacheEntry>(&lookup);
  if (entry == nullptr) {
    throw cni::Error(cni::ErrorCode::UnknownContainer,
                     fmt::format("no usable delegate cache for container {}", request.container_id));
  }
  // Every attachment is checked, also in clusterNetwork mode (multus checks none there).
  for (const auto& delegate : entry->delegates) {
    try {
      call.chain.check(invoke::Network::parse(delegate.config), runtime_for(delegate, request));
    } catch (const cni::Error& e) {
      throw wrap(delegate, "check failed for", e);
    }
  }
}

void MetaPlugin::status(const cni::Request& request) {
  Call call(request, invoker_);
  wait_for_readiness(call.config);
  for (const auto& delegate : delegates_for(call, request, nullptr, source_)) {
    try {
      call.chain.status(invoke::Network::parse(delegate.config));
    } catch (const cni::Error& e) {
      throw wrap(delegate, "status of", e);
    }
  }
}

void MetaPlugin::gc(const cni::Request& request) {
  Call call(request, invoker_);
  wait_for_readiness(call.config);
  std::optional<std::vector<invoke::GcAttachment>> valid;
  if (const auto* list = cni::find_key(call.config.raw, "cni.dev/valid-attachments"); list != nullptr && list->is_array()) {
    valid.emplace();
    for (const auto& item : *list) {
      const auto* id = cni::find_key(item, "containerID");
      const auto* ifname = cni::find_key(item, "ifname");
      if (id != nullptr && id->is_string() && ifname != nullptr && ifname->is_string()) {
        valid->push_back({id->get<std::string>(), ifname->get<std::string>()});
      }
    }
  }
  std::vector<std::string> errors;
  for (const auto& delegate : delegates_for(call, request, nullptr, source_)) {
    try {
      call.chain.gc(invoke::Network::parse(delegate.config), valid);
    } catch (const cni::Error& e) {
      errors.push_back(wrap(delegate, "gc of", e).msg());
    }
  }
  if (!errors.empty()) throw cni::Error(cni::ErrorCode::Internal, fmt::format("{}", fmt::join(errors, "; ")));
}

// --- hot-plug ------------------------------------------------------------------------------

namespace {

NetworkSelection single_selection(std::string_view network, const std::string& pod_namespace) {
  auto selections = parse_network_selections(network, pod_namespace);
  if (selections.size() != 1) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("invalid network \"{}\": hot-plug takes exactly one network, got {}", network, selections.size()));
  }
  return std::move(selections.front());
}

CacheEntry cached_attachments(const DelegateCache& cache, const std::string& container_id) {
  auto lookup = cache.read(container_id);
  if (auto* entry = std::get_if<CacheEntry>(&lookup)) return std::move(*entry);
  if (const auto* corrupt = std::get_if<DelegateCache::Corrupt>(&lookup)) {
    throw cni::Error(cni::ErrorCode::UnknownContainer,
                     fmt::format("container {}: delegate cache unusable ({}): cannot hot-plug", container_id, corrupt->reason));
  }
  throw cni::Error(cni::ErrorCode::UnknownContainer,
                   fmt::format("container {} is not attached here (no delegate cache): nothing to hot-plug into", container_id));
}

}  // namespace

void MetaPlugin::publish_network_status(const std::string& pod_namespace, const std::string& pod_name, const std::string& pod_uid,
                                        const std::vector<Delegate>& delegates, const invoke::ResultCache& results,
                                        const std::string& container_id) {
  if (source_ == nullptr || pod_name.empty()) return;
  try {
    std::vector<ordered_json> entries;
    for (const auto& delegate : delegates) {
      const auto cached = results.read_result(invoke::Network::parse(delegate.config).list.name, container_id, delegate.ifname);
      if (!cached) continue;
      for (auto& entry : network_status_entries(cni::parse_result(*cached), delegate.network_name, delegate.cluster_network)) {
        entries.push_back(std::move(entry));
      }
    }
    network_status_ = network_status_annotation(entries);
    source_->set_network_status(pod_namespace, pod_name, pod_uid, network_status_);
  } catch (const std::exception& e) {
    const auto message = fmt::format("cannot set network-status on pod {}/{} (its networks stay attached): {}",
                                      pod_namespace, pod_name, e.what());
    log(LogLevel::Error, message);
    record_event(EventType::Warning, kNetworkStatusFailedReason, message);
  }
}

std::string MetaPlugin::attach_network(const cni::Request& request, std::string_view network) {
  const DelegateCache cache(parse_meta_config(request.stdin_data).cni_dir);
  return attach_network(request, single_selection(network, cached_attachments(cache, request.container_id).pod_namespace));
}

std::string MetaPlugin::attach_network(const cni::Request& request, const NetworkSelection& selection) {
  event_pod_.reset();
  Call call(request, invoker_);
  const DelegateCache cache(call.config.cni_dir);
  const CacheEntry before = cached_attachments(cache, request.container_id);
  if (source_ == nullptr) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, "hot-plug needs an API server or a manifest store to find the network in");
  }
  if (auto pod = source_->get_pod(before.pod_namespace, before.pod_name, false); pod && options_.events != nullptr && call.config.send_events) {
    event_pod_ = std::move(pod);
  }
  const auto network = selection.qualified_name() + (selection.interface.empty() ? "" : "@" + selection.interface);
  try {
    if (!selection.default_route.empty()) {
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("invalid network \"{}\": \"default-route\" cannot be hot-plugged (it moves the pod's default route)", network));
    }
    const auto taken = [&](const std::string& ifname) {
      return std::any_of(before.delegates.begin(), before.delegates.end(), [&](const Delegate& d) { return d.ifname == ifname; });
    };
    auto delegate = build_delegates({resolve_selection(selection, before.pod_namespace, call.config, *source_)},
                                    context_for(call, request))
                        .front();
    if (!selection.interface.empty()) {
      if (taken(selection.interface)) {
        throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                         fmt::format("invalid network \"{}\": the pod already has an interface {}", network, selection.interface));
      }
    } else {
      // net<N> counting every delegate, as if the network had been in the annotation from the start.
      std::size_t index = before.delegates.size();
      do {
        delegate.ifname = fmt::format("net{}", index++);
      } while (taken(delegate.ifname));
    }

    // The cache first, as on ADD: a crash half-way still leaves DEL the new interface to tear down.
    CacheEntry after = before;
    after.delegates.push_back(delegate);
    cache.write(after);
    // A delegate that failed half-way gets its DEL too, as on ADD.
    ScopeGuard roll_back([&] {
      try {
        call.chain.del(invoke::Network::parse(delegate.config), runtime_for(delegate, request));
      } catch (const std::exception& e) {
        log(LogLevel::Error, fmt::format("rollback of network \"{}\": {}", delegate.network_name, e.what()));
      }
      cache.write(before);
    });
    cni::Result result;
    try {
      result = call.chain.add(invoke::Network::parse(delegate.config), runtime_for(delegate, request));
    } catch (const cni::Error& e) {
      throw wrap(delegate, "cannot attach", e);
    }
    roll_back.dismiss();

    const Attachment attachment{delegate, result};
    log(LogLevel::Verbose, added_interface_message(attachment));
    record_event(EventType::Normal, kAddedInterfaceReason, added_interface_message(attachment));
    publish_network_status(before.pod_namespace, before.pod_name, before.pod_uid, after.delegates, call.results, request.container_id);
    attachments_ = {attachment};
    return cni::print_result(result, cni::effective_version(call.config.cni_version));
  } catch (const NetworkNotFound& e) {
    record_event(EventType::Warning, kNoNetworkFoundReason, e.event_message());
    throw;
  } catch (const cni::Error& e) {
    record_event(EventType::Warning, kAddFailedReason, e.msg());
    throw;
  }
}

void MetaPlugin::detach_network(const cni::Request& request, std::string_view network) {
  const DelegateCache cache(parse_meta_config(request.stdin_data).cni_dir);
  const auto lookup = cache.read(request.container_id);
  const auto* entry = std::get_if<CacheEntry>(&lookup);
  if (entry == nullptr) return;  // the pod is gone (or was never here): nothing is attached
  detach_network(request, single_selection(network, entry->pod_namespace));
}

void MetaPlugin::detach_network(const cni::Request& request, const NetworkSelection& selection) {
  event_pod_.reset();
  Call call(request, invoker_);
  const DelegateCache cache(call.config.cni_dir);
  const auto lookup = cache.read(request.container_id);
  const auto* before = std::get_if<CacheEntry>(&lookup);
  if (before == nullptr) return;  // the pod is gone (or was never here): nothing is attached
  const auto network = selection.qualified_name() + (selection.interface.empty() ? "" : "@" + selection.interface);
  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < before->delegates.size(); ++i) {
    const auto& d = before->delegates[i];
    if (!d.cluster_network && d.network_name == selection.qualified_name() && (selection.interface.empty() || d.ifname == selection.interface)) {
      matches.push_back(i);
    }
  }
  if (matches.empty()) {
    log(LogLevel::Verbose, fmt::format("detach: {} is not attached to container {}", network, request.container_id));
    return;
  }
  if (matches.size() > 1) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("invalid network \"{}\": attached {} times, name the interface (\"{}@<ifname>\")", network,
                                 matches.size(), selection.qualified_name()));
  }
  const auto& delegate = before->delegates[matches.front()];
  try {
    call.chain.del(invoke::Network::parse(delegate.config), runtime_for(delegate, request));
  } catch (const cni::Error& e) {
    throw wrap(delegate, "cannot detach", e);
  }
  log(LogLevel::Verbose, fmt::format("Del {} from {}", delegate.ifname, delegate.network_name));
  CacheEntry after = *before;
  after.delegates.erase(after.delegates.begin() + static_cast<std::ptrdiff_t>(matches.front()));
  cache.write(after);
  publish_network_status(after.pod_namespace, after.pod_name, after.pod_uid, after.delegates, call.results, request.container_id);
}

void MetaPlugin::reconcile_networks(const cni::Request& request, std::string_view annotation) {
  const auto config = parse_meta_config(request.stdin_data);
  const DelegateCache cache(config.cni_dir);
  const auto lookup = cache.read(request.container_id);
  const auto* entry = std::get_if<CacheEntry>(&lookup);
  if (entry == nullptr) return;  // no longer attached here: its DEL came first
  std::vector<NetworkSelection> wanted;
  try {
    wanted = parse_network_selections(annotation, entry->pod_namespace);
  } catch (const cni::Error& e) {
    if (source_ != nullptr && options_.events != nullptr && config.send_events) {
      event_pod_ = source_->get_pod(entry->pod_namespace, entry->pod_name, false);
    }
    log(LogLevel::Error, fmt::format("pod {}/{}: networks annotation changed to something invalid, nothing hot-plugged: {}",
                                     entry->pod_namespace, entry->pod_name, e.msg()));
    record_event(EventType::Warning, kAddFailedReason, e.msg());
    return;
  }
  const auto matches = [](const NetworkSelection& s, const Delegate& d) {
    return !d.cluster_network && d.network_name == s.qualified_name() && (s.interface.empty() || s.interface == d.ifname);
  };
  // Only the annotation's own networks ("ns/name"): the cluster network and defaultNetworks stay.
  std::vector<NetworkSelection> gone;
  for (const auto& d : entry->delegates) {
    if (d.cluster_network || d.network_name.find('/') == std::string::npos) continue;
    if (std::none_of(wanted.begin(), wanted.end(), [&](const NetworkSelection& s) { return matches(s, d); })) {
      const auto slash = d.network_name.find('/');
      NetworkSelection selection;
      selection.namespace_name = d.network_name.substr(0, slash);
      selection.name = d.network_name.substr(slash + 1);
      selection.interface = d.ifname;
      gone.push_back(std::move(selection));
    }
  }
  std::vector<NetworkSelection> added;
  for (const auto& s : wanted) {
    if (std::none_of(entry->delegates.begin(), entry->delegates.end(), [&](const Delegate& d) { return matches(s, d); })) added.push_back(s);
  }
  const auto pod = fmt::format("{}/{}", entry->pod_namespace, entry->pod_name);
  for (const auto& selection : gone) {
    try {
      detach_network(request, selection);
    } catch (const std::exception& e) {
      log(LogLevel::Error, fmt::format("pod {}: cannot hot-unplug {}: {}", pod, selection.qualified_name(), e.what()));
    }
  }
  for (const auto& selection : added) {
    try {
      attach_network(request, selection);
    } catch (const std::exception& e) {  // a Warning on the pod already
      log(LogLevel::Error, fmt::format("pod {}: cannot hot-plug {}: {}", pod, selection.qualified_name(), e.what()));
    }
  }
}

cni::Reply MetaPlugin::handle_hotplug(const cni::Request& request, std::string_view network, bool attach) {
  return answer([&]() -> std::string {
    validate_ids(request);  // whatever its command: the ID names the cache file
    if (attach) return attach_network(request, network);
    detach_network(request, network);
    return {};
  });
}

}  // namespace plexus::meta
