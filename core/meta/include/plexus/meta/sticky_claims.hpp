// Claims of the "sticky" IPAM (plexus/ipam/sticky_pool.hpp): before any delegate runs, every
// network whose ipam.type is "sticky" gets one pool slot for the pod's replica, recorded as a claim
// in a ClaimStore (files of a manifest store, or StickyClaim objects on the API server), and the
// slot's address and MAC become the network's "ips" and "mac" exactly as a pod annotation would
// give them (runtimeConfig with capabilities, else CNI_ARGS IP=/MAC=).
//
// The replica's identity: the pod's controller ownerReference of kind StatefulSet plus its
// ordinal (label apps.kubernetes.io/pod-index, else the "<statefulset>-<k>" name suffix); slot k
// for replica k. A claim held by the same StatefulSet (uid) and ordinal is ours; one whose holder
// no longer exists is taken over with a precondition; any other holder is a clear error naming it.
// Pods outside a StatefulSet are refused unless the pool says "allowDynamic": they get the first
// free slot, held by the pod and released on its DEL.
#pragma once

#include <plexus/meta/network_source.hpp>
#include <plexus/meta/resolution.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::meta {

inline constexpr std::string_view kPodIndexLabel = "apps.kubernetes.io/pod-index";

struct ClaimHolder {
  std::string kind;  // "StatefulSet" or "Pod" (allowDynamic)
  std::string namespace_name;
  std::string name;
  std::string uid;                     // empty when the source does not know it (manifests)
  std::optional<std::size_t> ordinal;  // the StatefulSet replica

  // Same object: kind, namespace and name, and the uid when both sides know it.
  bool same_object(const ClaimHolder& other) const;
  // "StatefulSet default/web (uid 1234) replica 0"
  std::string describe() const;
  friend bool operator==(const ClaimHolder&, const ClaimHolder&) = default;
};

struct StickyClaim {
  std::string name;     // DNS-1123: "<pool>-<address label>", the file or object name
  std::string pool;
  std::string address;  // "192.168.111.10/24"
  std::string mac;      // empty when the pool gives no MACs
  std::size_t slot = 0;
  ClaimHolder holder;
  std::string node;     // who claimed it (the demo's table), informative
  std::string version;  // the store's revision of the object (resourceVersion); informative locally
};

// Where claims live. Every call may throw cni::Error: code 11 when the store cannot answer now
// (API server down), code 5 for local I/O failures.
class ClaimStore {
 public:
  virtual ~ClaimStore() = default;
  // Create-if-absent: nullopt when `claim` was created, else the claim already stored under its name.
  virtual std::optional<StickyClaim> create(const StickyClaim& claim) = 0;
  // Whether the holder (a StatefulSet or a Pod, by uid when known) still exists.
  virtual bool holder_exists(const ClaimHolder& holder) = 0;
  // Replaces `stale` by `claim` only while `stale` is what is stored (resourceVersion/holder
  // precondition); false when another writer changed it first.
  virtual bool replace(const StickyClaim& stale, const StickyClaim& claim) = 0;
  // Removes the claim; a missing one is success.
  virtual void release(const StickyClaim& claim) = 0;
  // Every claim of `holder` (kind, namespace, name, uid).
  virtual std::vector<StickyClaim> held_by(const ClaimHolder& holder) = 0;
};

// The holder a pod claims with on network `network_name`: its StatefulSet and ordinal, or the pod
// itself when `allow_dynamic`. Code 7 naming the pod (and allowDynamic) otherwise.
ClaimHolder replica_holder(const PodInfo* pod, bool allow_dynamic, std::string_view network_name);

struct ClaimedNetwork {
  std::size_t network_index = 0;
  StickyClaim claim;
  bool created = false;  // made by this call: released again if the ADD rolls back
};

// Claims a slot for every sticky network of `networks` and sets its selection's ips and mac.
// A sticky network whose selection already asks for ips or mac is refused (code 7). With no store,
// sticky networks are refused (code 7). On a failure part-way, claims made so far are released.
std::vector<ClaimedNetwork> claim_sticky_networks(std::vector<ResolvedNetwork>& networks, const PodInfo* pod,
                                                  ClaimStore* store, std::string_view node);

// Whether a delegate config (conf or conflist) uses the sticky IPAM, and with allowDynamic.
bool uses_sticky(std::string_view config);
bool uses_dynamic_sticky(std::string_view config);

}  // namespace plexus::meta
