// The per-container delegate cache (multus's scratch cache, <cniDir>/<containerID>): written before
// the first delegate runs, so DEL and CHECK work with the API server down or the pod gone.
// Each delegate's config is stored as its exact bytes (multus once lost keys here, issue 1449).
#pragma once

#include <plexus/meta/delegate.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace plexus::meta {

struct CacheEntry {
  std::string container_id;
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  std::string cni_version;  // the meta config's
  std::vector<Delegate> delegates;

  friend bool operator==(const CacheEntry&, const CacheEntry&) = default;
};

class DelegateCache {
 public:
  explicit DelegateCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path path_for(std::string_view container_id) const;

  // Atomically (temp file + rename), mode 0600, creating the directory (0700) when missing.
  // Throws code 5 on an I/O failure.
  void write(const CacheEntry& entry) const;

  struct Missing {};
  struct Corrupt {
    std::string reason;
  };
  using Lookup = std::variant<CacheEntry, Missing, Corrupt>;
  // A missing file is Missing; unreadable or malformed content is Corrupt with the reason.
  Lookup read(std::string_view container_id) const;

  // Removes the entry; a missing file is success.
  void remove(std::string_view container_id) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace plexus::meta
