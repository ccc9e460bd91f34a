// Network configurations (.conf) and lists (.conflist), read with Go's JSON rules: keys match
// case-insensitively, unknown keys are kept (a delegate receives them), null means default.
#pragma once

#include <plexus/cni/json.hpp>
#include <plexus/cni/result.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::cni {

struct NetConf {
  std::string cni_version;  // as written; empty when absent (means 0.1.0)
  std::string name;
  std::string type;
  std::map<std::string, bool> capabilities;
  ordered_json raw;  // the whole object, every key kept

  // Case-insensitive access to any key (nullptr when absent or null).
  const ordered_json* find(std::string_view key) const { return find_key(raw, key); }

  std::string version() const;                 // effective version (0.1.0 when absent)
  std::string ipam_type() const;               // "" when no ipam or no ipam.type
  ordered_json ipam() const;                   // the ipam object, or {} when absent
  ordered_json runtime_config() const;         // the runtimeConfig object, or {}
  ordered_json args() const;                   // the args object, or {}
  std::optional<ordered_json> prev_result() const;
  std::optional<DNS> dns() const;
};

// Typed reads of a plugin's own config keys with Go's rules (case-insensitive key, null or
// absent = the fallback). A value of the wrong JSON type throws code 7 worded as Go's decoder:
// "failed to load netconf: json: cannot unmarshal string into Go struct field NetConf.mtu of type int".
std::string string_field(const ordered_json& object, std::string_view key, std::string fallback = {});
long long int_field(const ordered_json& object, std::string_view key, long long fallback = 0);
bool bool_field(const ordered_json& object, std::string_view key, bool fallback = false);
std::vector<std::string> string_list_field(const ordered_json& object, std::string_view key);

// What skel checks before any command but VERSION: JSON (code 6 "error unmarshall network config:
// ..."), a name (code 7 "missing network name"), valid name characters (code 7).
void validate_stdin_config(std::string_view bytes);

// Full parse; throws code 6 for bad JSON or a field of the wrong type ("failed to load netconf:
// ...") and code 7 for a missing/invalid name.
NetConf parse_netconf(std::string_view bytes);

struct ConfList {
  std::string cni_version;                // chosen version (see cniVersions)
  std::vector<std::string> cni_versions;  // 1.1.0 "cniVersions"
  std::string name;
  bool disable_check = false;
  bool disable_gc = false;
  bool load_only_inlined_plugins = false;
  std::vector<ordered_json> plugins;  // each plugin's own object
  ordered_json raw;
};

// libcni's ConfListFromBytes: name required ("error parsing configuration list: no name"),
// plugins required ("error parsing configuration list: no plugins in list"), cniVersions picks the
// highest version not above plexus's own.
ConfList parse_conflist(std::string_view bytes);

// A .conf as a conflist of one (libcni's ConfListFromConf).
ConfList conflist_from_conf(const NetConf& conf);

// True when bytes hold a list ("plugins" key) rather than a single config.
bool is_conflist(const ordered_json& value);

}  // namespace plexus::cni
