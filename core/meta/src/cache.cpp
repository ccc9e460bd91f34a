#include <plexus/meta/cache.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/scope_guard.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace plexus::meta {
namespace {

using cni::ordered_json;

[[noreturn]] void io_failure(std::string_view what, const std::filesystem::path& path, int error) {
  throw cni::Error(cni::ErrorCode::IoFailure, fmt::format("delegate cache: {} {}: {}", what, path.string(), std::strerror(error)));
}

ordered_json to_json(const Delegate& delegate) {
  ordered_json out = ordered_json::object();
  out["name"] = delegate.network_name;
  out["ifname"] = delegate.ifname;
  out["clusterNetwork"] = delegate.cluster_network;
  out["conflist"] = delegate.conflist;
  out["cniArgs"] = delegate.cni_args;
  out["config"] = delegate.config;  // the exact bytes, as a JSON string
  out["ips"] = delegate.ips;
  out["mac"] = delegate.mac;
  out["defaultRoute"] = delegate.default_route;
  out["deviceID"] = delegate.device_id;
  if (delegate.resource_name) out["resourceName"] = *delegate.resource_name;
  return out;
}

Delegate delegate_from_json(const ordered_json& in) {
  Delegate delegate;
  delegate.network_name = in.at("name").get<std::string>();
  delegate.ifname = in.at("ifname").get<std::string>();
  delegate.cluster_network = in.at("clusterNetwork").get<bool>();
  delegate.conflist = in.at("conflist").get<bool>();
  delegate.cni_args = in.at("cniArgs").get<std::string>();
  delegate.config = in.at("config").get<std::string>();
  delegate.ips = in.at("ips").get<std::vector<std::string>>();
  delegate.mac = in.at("mac").get<std::string>();
  delegate.default_route = in.at("defaultRoute").get<std::vector<std::string>>();
  delegate.device_id = in.at("deviceID").get<std::string>();
  if (in.contains("resourceName")) delegate.resource_name = in.at("resourceName").get<std::string>();
  (void)cni::parse_json(delegate.config);  // a config that no longer parses is corruption too
  return delegate;
}

}  // namespace

std::filesystem::path DelegateCache::path_for(std::string_view container_id) const {
  return cni::path_under(dir_, container_id, "container ID");
}

void DelegateCache::write(const CacheEntry& entry) const {
  std::error_code error;
  if (!std::filesystem::exists(dir_, error)) {
    std::filesystem::create_directories(dir_, error);
    if (error) io_failure("cannot create", dir_, error.value());
    ::chmod(dir_.c_str(), 0700);
  }
  ordered_json document = ordered_json::object();
  document["containerID"] = entry.container_id;
  document["podNamespace"] = entry.pod_namespace;
  document["podName"] = entry.pod_name;
  document["podUID"] = entry.pod_uid;
  document["cniVersion"] = entry.cni_version;
  document["delegates"] = ordered_json::array();
  for (const auto& delegate : entry.delegates) document["delegates"].push_back(to_json(delegate));
  const auto bytes = document.dump(2);

  const auto final_path = path_for(entry.container_id);
  auto temp_path = final_path;
  temp_path += fmt::format(".tmp.{}", ::getpid());
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) io_failure("cannot create", temp_path, errno);
  ScopeGuard remove_temp([&] { ::unlink(temp_path.c_str()); });
  {
    ScopeGuard close_fd([fd] { ::close(fd); });
    std::size_t written = 0;
    while (written < bytes.size()) {
      const auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) io_failure("cannot write", temp_path, errno);
      written += static_cast<std::size_t>(n);
    }
    // No fsync, as multus and libcni: the entry only matters while the node is up (a reboot ends
    // its pods), an ADD must not wait on the disk, and a torn entry after a crash reads as
    // Corrupt, from which DEL rebuilds. The rename still keeps readers from a half-written file.
  }
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) io_failure("cannot rename into", final_path, errno);
  remove_temp.dismiss();
}

DelegateCache::Lookup DelegateCache::read(std::string_view container_id) const {
  const auto path = path_for(container_id);
  std::optional<std::string> bytes;
  try {
    bytes = cni::read_file_bounded(path, cni::kMaxFileBytes, "delegate cache entry");
  } catch (const cni::Error& e) {
    return Corrupt{e.msg()};
  }
  if (!bytes) return Missing{};
  try {
    const auto document = cni::parse_json(*bytes);
    CacheEntry entry;
    entry.container_id = document.at("containerID").get<std::string>();
    entry.pod_namespace = document.at("podNamespace").get<std::string>();
    entry.pod_name = document.at("podName").get<std::string>();
    entry.pod_uid = document.at("podUID").get<std::string>();
    entry.cni_version = document.at("cniVersion").get<std::string>();
    for (const auto& delegate : document.at("delegates")) entry.delegates.push_back(delegate_from_json(delegate));
    if (entry.container_id != container_id) {
      return Corrupt{fmt::format("{} belongs to container {}", path.string(), entry.container_id)};
    }
    return entry;
  } catch (const std::exception& e) {
    return Corrupt{fmt::format("{}: {}", path.string(), e.what())};
  }
}

void DelegateCache::remove(std::string_view container_id) const {
  std::error_code error;
  std::filesystem::remove(path_for(container_id), error);
  if (error) io_failure("cannot remove", path_for(container_id), error.value());
}

}  // namespace plexus::meta
