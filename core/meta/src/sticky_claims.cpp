#include <plexus/meta/sticky_claims.hpp>

#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/ipam/sticky_pool.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace plexus::meta {
namespace {

using cni::ordered_json;

[[noreturn]] void refuse(std::string message) {
  throw cni::Error(cni::ErrorCode::InvalidNetworkConfig, std::move(message));
}

// "0", "17": a StatefulSet ordinal as Kubernetes writes it (no sign, no leading zeros).
std::optional<std::size_t> parse_ordinal(std::string_view text) {
  if (text.empty() || text.size() > 9 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The plugin objects of a conf or conflist whose ipam is sticky.
std::vector<ordered_json> sticky_plugins(const ordered_json& config) {
  std::vector<ordered_json> out;
  if (cni::is_conflist(config)) {
    const auto* plugins = cni::find_key(config, "plugins");
    if (plugins == nullptr || !plugins->is_array()) return out;
    for (const auto& plugin : *plugins) {
      if (ipam::uses_sticky_ipam(plugin)) out.push_back(plugin);
    }
  } else if (ipam::uses_sticky_ipam(config)) {
    out.push_back(config);
  }
  return out;
}

StickyClaim claim_for(const ipam::StickyPool& pool, std::size_t slot, const ClaimHolder& holder, std::string_view node) {
  StickyClaim claim;
  const auto& address = pool.addresses[slot];
  claim.name = fmt::format("{}-{}", pool.pool, ipam::address_label(address.ip()));
  claim.pool = pool.pool;
  claim.address = address.to_string();
  claim.mac = pool.mac_for(slot).value_or("");
  claim.slot = slot;
  claim.holder = holder;
  claim.node = std::string(node);
  return claim;
}

// The existing claim is ours: same holder object and, for a replica, the same ordinal.
bool is_ours(const StickyClaim& existing, const ClaimHolder& holder) {
  return existing.holder.same_object(holder) && existing.holder.ordinal == holder.ordinal;
}

// One slot: create it, or recognise it as ours, or take it over from a holder that is gone.
// Returns nullopt when someone else holds it (`holder_out` says who).
std::optional<ClaimedNetwork> try_slot(ClaimStore& store, const StickyClaim& wanted, StickyClaim* held_out) {
  // A takeover can lose to another writer; then the stored claim is read again, a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto existing = store.create(wanted);
    if (!existing) return ClaimedNetwork{0, wanted, true};
    if (is_ours(*existing, wanted.holder)) {
      auto claim = wanted;  // the pool's current address and MAC
      claim.version = existing->version;
      return ClaimedNetwork{0, claim, false};
    }
    if (store.holder_exists(existing->holder)) {
      *held_out = *existing;
      return std::nullopt;
    }
    if (store.replace(*existing, wanted)) return ClaimedNetwork{0, wanted, true};
  }
  throw cni::Error(cni::ErrorCode::TryAgainLater, fmt::format("claim {} keeps changing under concurrent writers", wanted.name));
}

ClaimedNetwork claim_network(ClaimStore& store, const ResolvedNetwork& network, const ordered_json& plugin,
                             const PodInfo* pod, std::string_view node) {
  const auto* ipam_object = cni::find_key(plugin, "ipam");
  ipam::StickyPool pool;
  try {
    pool = ipam::parse_sticky_pool(*ipam_object);
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), fmt::format("network \"{}\": {}", network.status_name, e.msg()));
  }
  const auto holder = replica_holder(pod, pool.allow_dynamic, network.status_name);
  StickyClaim held;
  if (holder.ordinal) {
    if (*holder.ordinal >= pool.size()) {
      refuse(fmt::format("network \"{}\": {} has no address: pool \"{}\" holds {} (slots 0..{})", network.status_name,
                         holder.describe(), pool.pool, pool.size(), pool.size() - 1));
    }
    if (auto claimed = try_slot(store, claim_for(pool, *holder.ordinal, holder, node), &held)) return *claimed;
    refuse(fmt::format("network \"{}\": address {} (pool \"{}\" slot {}) for {} is held by {} (claim {}, node \"{}\"): "
                       "do two StatefulSets' sticky ranges overlap?",
                       network.status_name, held.address, pool.pool, *holder.ordinal, holder.describe(),
                       held.holder.describe(), held.name, held.node));
  }
  for (std::size_t slot = 0; slot < pool.size(); ++slot) {
    if (auto claimed = try_slot(store, claim_for(pool, slot, holder, node), &held)) return *claimed;
  }
  throw cni::Error(cni::ErrorCode::Internal, fmt::format("network \"{}\": every one of pool \"{}\"'s {} addresses is claimed",
                                                         network.status_name, pool.pool, pool.size()));
}

}  // namespace

bool ClaimHolder::same_object(const ClaimHolder& other) const {
  if (kind != other.kind || namespace_name != other.namespace_name || name != other.name) return false;
  return uid.empty() || other.uid.empty() || uid == other.uid;
}

std::string ClaimHolder::describe() const {
  auto text = fmt::format("{} {}/{}", kind, namespace_name, name);
  if (!uid.empty()) text += fmt::format(" (uid {})", uid);
  if (ordinal) text += fmt::format(" replica {}", *ordinal);
  return text;
}

ClaimHolder replica_holder(const PodInfo* pod, bool allow_dynamic, std::string_view network_name) {
  if (pod == nullptr) {
    refuse(fmt::format("network \"{}\" uses sticky IPAM, which needs the pod (its StatefulSet and ordinal), "
                       "but no pod is known for this call",
                       network_name));
  }
  const auto owner = std::find_if(pod->owners.begin(), pod->owners.end(), [](const OwnerReference& ref) {
    return ref.controller && ref.kind == "StatefulSet" && ref.api_version.rfind("apps/", 0) == 0;
  });
  if (owner == pod->owners.end()) {
    if (allow_dynamic) return ClaimHolder{"Pod", pod->namespace_name, pod->name, pod->uid, std::nullopt};
    refuse(fmt::format("network \"{}\" uses sticky IPAM: pod {}/{} is not part of a StatefulSet (no controller "
                       "ownerReference of kind StatefulSet); set \"allowDynamic\": true in its ipam to give such pods "
                       "a free address",
                       network_name, pod->namespace_name, pod->name));
  }
  std::optional<std::size_t> ordinal;
  const auto prefix = owner->name + "-";
  const bool named = pod->name.size() > prefix.size() && pod->name.compare(0, prefix.size(), prefix) == 0;
  const auto from_name = named ? parse_ordinal(std::string_view(pod->name).substr(prefix.size())) : std::nullopt;
  if (const auto label = pod->label(kPodIndexLabel)) {
    ordinal = parse_ordinal(*label);
    if (!ordinal) refuse(fmt::format("pod {}/{}: label {}=\"{}\" is not an ordinal", pod->namespace_name, pod->name, kPodIndexLabel, *label));
    if (from_name && *from_name != *ordinal) {
      refuse(fmt::format("pod {}/{}: label {}=\"{}\" disagrees with the name's ordinal {}", pod->namespace_name, pod->name,
                         kPodIndexLabel, *label, *from_name));
    }
  } else {
    ordinal = from_name;
  }
  if (!ordinal) {
    refuse(fmt::format("network \"{}\" uses sticky IPAM: pod {}/{} of StatefulSet {} has no ordinal (neither label {} "
                       "nor a name \"{}<k>\")",
                       network_name, pod->namespace_name, pod->name, owner->name, kPodIndexLabel, prefix));
  }
  return ClaimHolder{"StatefulSet", pod->namespace_name, owner->name, owner->uid, ordinal};
}

std::vector<ClaimedNetwork> claim_sticky_networks(std::vector<ResolvedNetwork>& networks, const PodInfo* pod,
                                                  ClaimStore* store, std::string_view node) {
  std::vector<ClaimedNetwork> claimed;
  try {
    for (std::size_t index = 0; index < networks.size(); ++index) {
      auto& network = networks[index];
      const auto plugins = sticky_plugins(cni::parse_json(network.config));
      if (plugins.empty()) continue;
      if (plugins.size() > 1) refuse(fmt::format("network \"{}\": more than one plugin uses sticky IPAM", network.status_name));
      if (store == nullptr) {
        refuse(fmt::format("network \"{}\" uses sticky IPAM, which needs a claim store (an API server, or a manifest "
                           "store's claims directory)",
                           network.status_name));
      }
      if (network.selection && (!network.selection->ips.empty() || !network.selection->mac.empty())) {
        refuse(fmt::format("network \"{}\" uses sticky IPAM, which assigns the address and MAC itself: the pod's "
                           "selection may not also ask for \"ips\" or \"mac\"",
                           network.status_name));
      }
      auto result = claim_network(*store, network, plugins.front(), pod, node);
      result.network_index = index;
      if (!network.selection) {
        network.selection.emplace();
        network.selection->name = network.status_name;
      }
      network.selection->ips = {result.claim.address};
      network.selection->mac = result.claim.mac;
      claimed.push_back(std::move(result));
    }
  } catch (...) {
    for (const auto& made : claimed) {
      if (!made.created) continue;
      try {
        store->release(made.claim);
      } catch (const std::exception&) {
        // The original error matters more; a leftover claim of this holder is re-used on retry.
      }
    }
    throw;
  }
  return claimed;
}

bool uses_sticky(std::string_view config) {
  try {
    return !sticky_plugins(cni::parse_json(config)).empty();
  } catch (const std::exception&) {
    return false;
  }
}

bool uses_dynamic_sticky(std::string_view config) {
  try {
    for (const auto& plugin : sticky_plugins(cni::parse_json(config))) {
      const auto* dynamic = cni::find_key(*cni::find_key(plugin, "ipam"), "allowDynamic");
      if (dynamic != nullptr && dynamic->is_boolean() && dynamic->get<bool>()) return true;
    }
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace plexus::meta
