// libcni's result cache, in its on-disk format, so DEL and CHECK get the ADD result as prevResult
// and a runtime built on libcni reads the same files: <dir>/results/<net>-<cid>-<ifname> holding
// {"kind":"cniCacheV1","containerId","config":<base64>,"ifName","networkName","netns",
//  "cniArgs":[["K","V"]],"capabilityArgs","result"} (Go's json.Marshal of libcni's cachedInfo).
#pragma once

#include <plexus/cni/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::invoke {

// libcni's default CacheDir.
inline constexpr std::string_view kDefaultCacheDir = "/var/lib/cni";

struct CacheEntry {
  std::string container_id;
  std::string config;  // the bytes of the network's config as given (a conflist or a .conf)
  std::string ifname;
  std::string network_name;
  std::string netns;
  std::vector<std::pair<std::string, std::string>> cni_args;
  cni::ordered_json capability_args;  // null or an object
  cni::ordered_json result;           // null or the result object, as the last plugin printed it
};

class ResultCache {
 public:
  explicit ResultCache(std::filesystem::path dir = std::filesystem::path(kDefaultCacheDir)) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }
  // <dir>/results/<net>-<cid>-<ifname>. Throws cni::Error 999 (libcni's wording) when a part is empty.
  std::filesystem::path file_for(std::string_view network, std::string_view container_id, std::string_view ifname) const;

  // Writes atomically (a temp file in the same directory, then rename): a reader sees the old
  // entry or the new one, never half of one. Directories are created 0700, the file is 0600.
  void write(const CacheEntry& entry) const;

  // Nullopt when there is no entry (libcni ignores read errors). Throws cni::Error 999 when the
  // file is not JSON ("failed to unmarshal cached network ...") or of another kind ("... has
  // wrong kind: X").
  std::optional<CacheEntry> read(std::string_view network, std::string_view container_id, std::string_view ifname) const;

  // The cached result object: a cniCacheV1 entry's "result", or, as libcni's legacy fallback, a
  // file that is a bare result. Nullopt when there is no entry or it holds no result.
  std::optional<cni::ordered_json> read_result(std::string_view network, std::string_view container_id,
                                               std::string_view ifname) const;

  // Removing an entry that does not exist is success (DEL is idempotent).
  void remove(std::string_view network, std::string_view container_id, std::string_view ifname) const;

  // libcni's GetCachedAttachments: every readable cniCacheV1 entry with an ifname and a network
  // name, in file name order, only `container_id`'s when it is not empty.
  std::vector<CacheEntry> list(std::string_view container_id = {}) const;

 private:
  std::filesystem::path dir_;
};

// The JSON libcni writes for an entry (compact, struct field order, omitempty as libcni's tags).
std::string cache_entry_json(const CacheEntry& entry);
// Parses what cache_entry_json (or libcni) wrote. Throws cni::Error 999 naming `network`.
CacheEntry parse_cache_entry(std::string_view bytes, std::string_view network);

}  // namespace plexus::invoke
