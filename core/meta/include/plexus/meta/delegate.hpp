// Delegate building: what each network's plugin receives, as multus gives it: the interface name,
// CNI_ARGS (pod identity, the runtime's own args, MAC= and IP=), runtimeConfig filtered by the
// plugin's capabilities, and the pod's cni-args merged into args.cni.
#pragma once

#include <plexus/cni/args.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/meta/resolution.hpp>

#include <optional>
#include <string>
#include <vector>

namespace plexus::meta {

struct DelegateContext {
  std::string container_ifname = "eth0";  // CNI_IFNAME: the cluster network's interface
  cni::CniArgs runtime_args;              // the runtime's CNI_ARGS (K8S_POD_* and any extra keys)
  cni::ordered_json runtime_config = cni::ordered_json::object();  // the meta config's runtimeConfig
};

// One delegate, ready to invoke: everything DEL and CHECK need later is here (and in the cache).
struct Delegate {
  std::string network_name;  // network-status name
  std::string config;        // the bytes the plugin gets (a conf, or a conflist for the chain)
  bool conflist = false;
  bool cluster_network = false;
  std::string ifname;
  std::string cni_args;
  // What the pod asked for, recorded.
  std::vector<std::string> ips;
  std::string mac;
  std::vector<std::string> default_route;
  std::string device_id;
  std::optional<std::string> resource_name;

  // The plugin type of a conf ("" for a conflist).
  std::string type() const;
  friend bool operator==(const Delegate&, const Delegate&) = default;
};

// Delegates in network order. Interface names: a request wins; the cluster network gets
// container_ifname; any other gets net<index>, the index counting every delegate.
std::vector<Delegate> build_delegates(const std::vector<ResolvedNetwork>& networks, const DelegateContext& context);

// The interface each network gets in the pod, in order: the selection's "interface" (or @name),
// else CNI_IFNAME for the cluster network and net<index> for the others. Throws code 7 naming
// both networks when two would get the same name.
std::vector<std::string> interface_names(const std::vector<ResolvedNetwork>& networks, const DelegateContext& context);

// "IgnoreUnknown=true;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..",
// then the runtime's other keys, then MAC= and IP=a,b when the selection asks for them.
std::string build_cni_args(const cni::CniArgs& runtime_args, const NetworkSelection* selection);

// The runtimeConfig values a network could receive: the meta config's own, overlaid with the
// selection's ips, mac, infinibandGUID, portMappings, bandwidth and deviceID.
cni::ordered_json capability_args(const cni::ordered_json& base, const NetworkSelection* selection);

// libcni's rule: "runtimeConfig" is set to the capability args whose names the plugin declares
// true in "capabilities"; a plugin that declares none of them is left untouched.
cni::ordered_json inject_runtime_config(cni::ordered_json plugin, const cni::ordered_json& capability_args);

// args.cni = existing args.cni overlaid with `cni_args`.
cni::ordered_json merge_cni_args(cni::ordered_json plugin, const cni::ordered_json& cni_args);

}  // namespace plexus::meta
