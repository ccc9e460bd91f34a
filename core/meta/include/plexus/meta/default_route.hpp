// The "default-route" selection field, applied as multus applies it (pkg/multus CmdAdd with
// pkg/netutils): when any network of the pod asks for default-route gateways, every delegate's
// interface loses its default routes right after that delegate's ADD, and the network that asked
// gets a default route via each of its gateways on its own interface. The delegate's result (and
// libcni's result cache entry for it) lose the removed default routes and gain the new ones, so
// CHECK, GC and network-status's "gateway" all see the routes the pod really has.
#pragma once

#include <plexus/cni/result.hpp>
#include <plexus/invoke/result_cache.hpp>
#include <plexus/meta/delegate.hpp>

#include <string>
#include <vector>

namespace plexus::meta {

class DefaultRoutePolicy {
 public:
  // Checks every delegate's request before anything is attached: more than one IPv4 or more than
  // one IPv6 gateway over the whole pod is refused (multus: no ECMP for default-route), code 7.
  explicit DefaultRoutePolicy(const std::vector<Delegate>& delegates);

  // Whether any network asked for a default route (else apply() does nothing).
  bool active() const { return active_; }

  // Right after `delegate`'s ADD returned `result`: inside `netns`, deletes the default routes on
  // the delegate's interface, then (for the network that asked) adds the default route via each
  // requested gateway on it, an existing identical route being success. `result` and the cache
  // entry under `container_id` are updated to match. A result without interfaces and IPs is left
  // alone, as multus does. Kernel failures are code 999 naming the interface and gateway.
  void apply(const std::string& netns, const std::string& container_id, const Delegate& delegate,
             cni::Result& result, const invoke::ResultCache& cache) const;

 private:
  bool active_ = false;
};

// The routes of `result` minus its default routes, plus a default route via each gateway.
void replace_default_routes(cni::Result& result, const std::vector<cni::IPAddress>& gateways);

}  // namespace plexus::meta
