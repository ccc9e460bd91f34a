#include <plexus/meta/local_claim_store.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/scope_guard.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace plexus::meta {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::size_t kMaxClaimBytes = 64 * 1024;

[[noreturn]] void io_failure(std::string message) { throw cni::Error(cni::ErrorCode::IoFailure, std::move(message)); }

// Claim names come from a validated pool name and an address: [a-z0-9-] only, so a file name
// can never leave the directory; checked again here all the same.
bool is_safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 200 &&
         std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::optional<std::string> read_bounded(const fs::path& path) {
  try {
    return cni::read_file_bounded(path, kMaxClaimBytes, "claim file");
  } catch (const cni::Error& e) {
    io_failure(e.msg());
  }
}

// A complete file next to its final name, for link() or rename().
fs::path write_temp(const fs::path& dir, const std::string& bytes) {
  static std::atomic<unsigned> serial{0};
  const auto temp = dir / fmt::format(".tmp-{}-{}", ::getpid(), serial++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) io_failure(fmt::format("cannot create {}: {}", temp.string(), std::strerror(errno)));
  ScopeGuard close_fd([fd] { ::close(fd); });
  ScopeGuard remove([&] { ::unlink(temp.c_str()); });
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) io_failure(fmt::format("cannot write {}: {}", temp.string(), std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  remove.dismiss();
  return temp;
}

// An exclusive flock on <dir>/.lock for read-compare-write sequences.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) : fd_(::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0) io_failure(fmt::format("cannot open {}: {}", (dir / ".lock").string(), std::strerror(errno)));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        io_failure(fmt::format("cannot lock {}: {}", dir.string(), std::strerror(errno)));
      }
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_;
};

void ensure_dir(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) io_failure(fmt::format("cannot create claims directory {}: {}", dir.string(), error.message()));
}

std::optional<StickyClaim> read_claim(const fs::path& path) {
  const auto bytes = read_bounded(path);
  if (!bytes) return std::nullopt;
  return claim_from_json(*bytes, path.string());
}

}  // namespace

std::string claim_to_json(const StickyClaim& claim) {
  json holder = {{"kind", claim.holder.kind}, {"namespace", claim.holder.namespace_name}, {"name", claim.holder.name},
                 {"uid", claim.holder.uid}};
  if (claim.holder.ordinal) holder["ordinal"] = *claim.holder.ordinal;
  const json object = {{"name", claim.name}, {"pool", claim.pool}, {"address", claim.address}, {"mac", claim.mac},
                       {"slot", claim.slot}, {"holder", holder},   {"node", claim.node}};
  return object.dump(2) + "\n";
}

StickyClaim claim_from_json(std::string_view bytes, std::string_view origin) {
  const auto object = json::parse(bytes, nullptr, false);
  try {
    if (!object.is_object()) throw std::runtime_error("not a JSON object");
    StickyClaim claim;
    claim.name = object.at("name").get<std::string>();
    claim.pool = object.at("pool").get<std::string>();
    claim.address = object.at("address").get<std::string>();
    claim.mac = object.value("mac", "");
    claim.slot = object.at("slot").get<std::size_t>();
    claim.node = object.value("node", "");
    const auto& holder = object.at("holder");
    claim.holder.kind = holder.at("kind").get<std::string>();
    claim.holder.namespace_name = holder.at("namespace").get<std::string>();
    claim.holder.name = holder.at("name").get<std::string>();
    claim.holder.uid = holder.value("uid", "");
    if (holder.contains("ordinal") && !holder["ordinal"].is_null()) claim.holder.ordinal = holder["ordinal"].get<std::size_t>();
    return claim;
  } catch (const std::exception& e) {
    io_failure(fmt::format("malformed sticky claim {}: {}", origin, e.what()));
  }
}

fs::path LocalClaimStore::path_for(const StickyClaim& claim) const {
  if (!is_safe_name(claim.name)) io_failure(fmt::format("claim name \"{}\" is not a DNS-1123 name", claim.name));
  return cni::path_under(dir_, claim.name + ".json", "sticky claim");
}

std::optional<StickyClaim> LocalClaimStore::create(const StickyClaim& claim) {
  ensure_dir(dir_);
  const auto path = path_for(claim);
  const auto temp = write_temp(dir_, claim_to_json(claim));
  ScopeGuard remove_temp([&] { ::unlink(temp.c_str()); });
  if (::link(temp.c_str(), path.c_str()) == 0) return std::nullopt;
  if (errno != EEXIST) io_failure(fmt::format("cannot create claim {}: {}", path.string(), std::strerror(errno)));
  // Held already. It may vanish between link() and this read (released): say so as a retry.
  if (auto existing = read_claim(path)) return existing;
  throw cni::Error(cni::ErrorCode::TryAgainLater, fmt::format("claim {} was released while being read", path.string()));
}

bool LocalClaimStore::replace(const StickyClaim& stale, const StickyClaim& claim) {
  ensure_dir(dir_);
  const DirLock lock(dir_);
  const auto path = path_for(claim);
  const auto current = read_claim(path);
  if (!current || !(current->holder == stale.holder)) return false;
  const auto temp = write_temp(dir_, claim_to_json(claim));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    io_failure(fmt::format("cannot replace claim {}: {}", path.string(), std::strerror(errno)));
  }
  return true;
}

void LocalClaimStore::release(const StickyClaim& claim) {
  if (!fs::exists(dir_)) return;
  const DirLock lock(dir_);
  const auto path = path_for(claim);
  const auto current = read_claim(path);
  if (!current || !(current->holder == claim.holder)) return;  // gone, or someone else's now
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    io_failure(fmt::format("cannot release claim {}: {}", path.string(), std::strerror(errno)));
  }
}

std::vector<StickyClaim> LocalClaimStore::list() const {
  std::vector<StickyClaim> claims;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir_, error)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".json" || name.front() == '.') continue;
    if (auto claim = read_claim(entry.path())) claims.push_back(std::move(*claim));
  }
  std::sort(claims.begin(), claims.end(), [](const StickyClaim& a, const StickyClaim& b) { return a.name < b.name; });
  return claims;
}

std::vector<StickyClaim> LocalClaimStore::held_by(const ClaimHolder& holder) {
  std::vector<StickyClaim> out;
  for (auto& claim : list()) {
    if (claim.holder.same_object(holder)) out.push_back(std::move(claim));
  }
  return out;
}

std::vector<StickyClaim> LocalClaimStore::release_orphans() {
  std::vector<StickyClaim> released;
  for (const auto& claim : list()) {
    if (holder_exists_(claim.holder)) continue;
    release(claim);
    released.push_back(claim);
  }
  return released;
}

}  // namespace plexus::meta
