#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/invoke/result_cache.hpp>
#include <plexus/scope_guard.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace plexus::invoke {
namespace {

constexpr std::string_view kKind = "cniCacheV1";
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Go marshals a []byte as standard base64 with padding.
std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const unsigned b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0U;
    const auto b2 = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0U;
    const unsigned triple = (b0 << 16U) | (b1 << 8U) | b2;
    out += kAlphabet[(triple >> 18U) & 63U];
    out += kAlphabet[(triple >> 12U) & 63U];
    out += i + 1 < bytes.size() ? kAlphabet[(triple >> 6U) & 63U] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[triple & 63U] : '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    unsigned triple = 0;
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      unsigned value = 0;
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++padding;
      } else {
        const auto pos = kAlphabet.find(c);
        if (pos == std::string_view::npos || padding > 0) return std::nullopt;
        value = static_cast<unsigned>(pos);
      }
      triple = (triple << 6U) | value;
    }
    out += static_cast<char>((triple >> 16U) & 0xFFU);
    if (padding < 2) out += static_cast<char>((triple >> 8U) & 0xFFU);
    if (padding < 1) out += static_cast<char>(triple & 0xFFU);
  }
  return out;
}

// A Go map[string]interface{} marshals with its keys sorted at every level.
cni::ordered_json sorted(const cni::ordered_json& value) { return cni::ordered_json(cni::json(value)); }

bool empty_map(const cni::ordered_json& value) { return value.is_null() || (value.is_object() && value.empty()); }

cni::Error cache_error(std::string msg) { return cni::Error(cni::ErrorCode::Internal, std::move(msg)); }

// mkdir -p with mode 0700 for every directory it creates, as libcni's os.MkdirAll(dir, 0700).
void make_private_dirs(const std::filesystem::path& dir) {
  std::filesystem::path built;
  for (const auto& part : dir) {
    built /= part;
    if (::mkdir(built.c_str(), 0700) != 0 && errno != EEXIST) {
      throw cache_error(fmt::format("mkdir {}: {}", built.string(), std::strerror(errno)));
    }
  }
}

// An unreadable entry reads as none, as libcni's; an oversized or special file is an error.
std::optional<std::string> read_file(const std::filesystem::path& file) {
  try {
    return cni::read_file_bounded(file, cni::kMaxFileBytes, "cached result");
  } catch (const cni::Error& e) {
    if (e.code() == static_cast<int>(cni::ErrorCode::IoFailure)) return std::nullopt;
    throw;
  }
}

std::string string_field(const cni::ordered_json& object, std::string_view key) {
  const auto* value = cni::find_key(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

}  // namespace

std::string cache_entry_json(const CacheEntry& entry) {
  // libcni's cachedInfo, field by field, with its omitempty tags.
  cni::ordered_json out;
  out["kind"] = kKind;
  out["containerId"] = entry.container_id;
  out["config"] = base64_encode(entry.config);
  out["ifName"] = entry.ifname;
  out["networkName"] = entry.network_name;
  if (!entry.netns.empty()) out["netns"] = entry.netns;
  if (!entry.cni_args.empty()) {
    auto pairs = cni::ordered_json::array();
    for (const auto& [key, value] : entry.cni_args) pairs.push_back({key, value});
    out["cniArgs"] = pairs;
  }
  if (!empty_map(entry.capability_args)) out["capabilityArgs"] = sorted(entry.capability_args);
  if (!empty_map(entry.result)) out["result"] = sorted(entry.result);
  return cni::go_marshal(out);
}

CacheEntry parse_cache_entry(std::string_view bytes, std::string_view network) {
  cni::ordered_json value;
  try {
    value = cni::parse_json(bytes);
  } catch (const std::exception& e) {
    throw cache_error(fmt::format("failed to unmarshal cached network \"{}\" config: {}", network, e.what()));
  }
  if (!value.is_object()) {
    throw cache_error(fmt::format("failed to unmarshal cached network \"{}\" config: not an object", network));
  }
  if (const auto kind = string_field(value, "kind"); kind != kKind) {
    throw cache_error(fmt::format("read cached network \"{}\" config has wrong kind: {}", network, kind));
  }
  CacheEntry entry;
  entry.container_id = string_field(value, "containerId");
  if (const auto* config = cni::find_key(value, "config"); config != nullptr && config->is_string()) {
    auto decoded = base64_decode(config->get<std::string>());
    if (!decoded) {
      throw cache_error(fmt::format("failed to unmarshal cached network \"{}\" config: illegal base64 data", network));
    }
    entry.config = std::move(*decoded);
  }
  entry.ifname = string_field(value, "ifName");
  entry.network_name = string_field(value, "networkName");
  entry.netns = string_field(value, "netns");
  if (const auto* args = cni::find_key(value, "cniArgs"); args != nullptr && args->is_array()) {
    for (const auto& pair : *args) {
      if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string()) {
        entry.cni_args.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
      }
    }
  }
  if (const auto* caps = cni::find_key(value, "capabilityArgs"); caps != nullptr && caps->is_object()) {
    entry.capability_args = *caps;
  }
  if (const auto* result = cni::find_key(value, "result"); result != nullptr && result->is_object()) {
    entry.result = *result;
  }
  return entry;
}

std::filesystem::path ResultCache::file_for(std::string_view network, std::string_view container_id,
                                            std::string_view ifname) const {
  if (network.empty() || container_id.empty() || ifname.empty()) {
    throw cache_error(fmt::format(
        "cache file path requires network name (\"{}\"), container ID (\"{}\"), and interface name (\"{}\")", network,
        container_id, ifname));
  }
  // Each part must be a file name on its own too: path_under refuses it, naming the part.
  for (const auto& [what, part] : {std::pair{"network name", network}, std::pair{"container ID", container_id},
                                   std::pair{"interface name", ifname}}) {
    (void)cni::path_under(dir_, part, what);
  }
  return cni::path_under(dir_ / "results", fmt::format("{}-{}-{}", network, container_id, ifname), "result cache entry");
}

void ResultCache::write(const CacheEntry& entry) const {
  const auto file = file_for(entry.network_name, entry.container_id, entry.ifname);
  make_private_dirs(file.parent_path());
  const auto bytes = cache_entry_json(entry);

  // The temp file's name starts with '.', which no network name does, so list() never sees it.
  std::string temp = (file.parent_path() / ("." + file.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());  // created 0600
  if (fd < 0) throw cache_error(fmt::format("failed to create {}: {}", temp, std::strerror(errno)));
  ScopeGuard close_fd([fd] { ::close(fd); });
  ScopeGuard remove_temp([&temp] { ::unlink(temp.c_str()); });
  for (std::size_t written = 0; written < bytes.size();) {
    const auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw cache_error(fmt::format("failed to write {}: {}", temp, std::strerror(errno)));
    written += static_cast<std::size_t>(n);
  }
  // No fsync, as libcni: cached results outlive no reboot that matters (the pods go with it), and
  // an ADD must not wait on the disk. The rename keeps readers from a half-written file.
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    throw cache_error(fmt::format("failed to rename {} to {}: {}", temp, file.string(), std::strerror(errno)));
  }
  remove_temp.dismiss();
}

std::optional<CacheEntry> ResultCache::read(std::string_view network, std::string_view container_id,
                                            std::string_view ifname) const {
  const auto bytes = read_file(file_for(network, container_id, ifname));
  if (!bytes) return std::nullopt;
  return parse_cache_entry(*bytes, network);
}

std::optional<cni::ordered_json> ResultCache::read_result(std::string_view network, std::string_view container_id,
                                                          std::string_view ifname) const {
  const auto bytes = read_file(file_for(network, container_id, ifname));
  if (!bytes) return std::nullopt;
  try {
    auto entry = parse_cache_entry(*bytes, network);
    if (entry.result.is_null()) return std::nullopt;
    return std::move(entry.result);
  } catch (const cni::Error&) {
    // libcni's legacy format: the file is the result itself.
    try {
      auto legacy = cni::parse_json(*bytes);
      if (legacy.is_object()) return legacy;
    } catch (const std::exception&) {
    }
    throw;
  }
}

void ResultCache::remove(std::string_view network, std::string_view container_id, std::string_view ifname) const {
  const auto file = file_for(network, container_id, ifname);
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    throw cache_error(fmt::format("failed to remove {}: {}", file.string(), std::strerror(errno)));
  }
}

std::vector<CacheEntry> ResultCache::list(std::string_view container_id) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "results", ec)) {
    auto name = file.path().filename().string();
    if (!name.empty() && name.front() != '.') names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  std::vector<CacheEntry> entries;
  for (const auto& name : names) {
    if (!container_id.empty()) {
      // libcni's pre-filter: "-<cid>-" somewhere after the start and before the end.
      const auto part = fmt::format("-{}-", container_id);
      const auto pos = name.find(part);
      if (pos == std::string::npos || pos == 0 || pos + part.size() >= name.size()) continue;
    }
    const auto bytes = read_file(dir_ / "results" / name);
    if (!bytes) continue;
    try {
      auto entry = parse_cache_entry(*bytes, name);
      if (!container_id.empty() && entry.container_id != container_id) continue;
      if (entry.ifname.empty() || entry.network_name.empty()) continue;
      entries.push_back(std::move(entry));
    } catch (const cni::Error&) {
      continue;  // not ours to judge: libcni skips it too
    }
  }
  return entries;
}

}  // namespace plexus::invoke
