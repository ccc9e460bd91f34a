// What a tenant's network may ask of the node. Anyone who may create a NetworkAttachmentDefinition
// or annotate a pod in their namespace chooses these configs, and plexus runs them as root; only
// the admin's own config (clusterNetwork, defaultNetworks, delegates, the files in confDir) is
// trusted as it is. Checked once, when the pod's selection is resolved, before any side effect.
#pragma once

#include <plexus/meta/config.hpp>
#include <plexus/meta/resolution.hpp>

#include <filesystem>
#include <string_view>
#include <vector>

namespace plexus::meta {

// Refuses (cni::Error code 7, naming the NAD, the key and the value) a network the pod selected
// when any of its plugins, or their IPAM:
//  - has a "type" that names the meta-plugin itself (plexus, multus, their shims and daemons, the
//    installed config's own type) or is no plain file name;
//  - and, when the NAD's own spec wrote the config (not a confDir file it names):
//    - has a path key (cniDir, binDir, confDir, dataDir, resolvConf, kubeconfig, socketDir,
//      logFile, any key ending in Dir, File, Path or Socket, at any depth) whose value is not under
//      allowedDataRoots, lexically and after resolving symlinks;
//    - sets forceAddress while allowGatewayTakeover is off.
// The selection's cni-args (merged into args.cni) are held to the same path rule.
void enforce_tenant_policy(const ResolvedNetwork& network, const MetaConfig& config);

// Is `key` (as written in a config) a path key under the rule above?
bool is_path_key(std::string_view key);

// Is `path` (absolute) one of `roots` or under one, both after lexical normalisation and after
// resolving the symlinks of the part that exists?
bool is_under_roots(const std::filesystem::path& path, const std::vector<std::string>& roots);

}  // namespace plexus::meta
