// plexus_k8s_module: the libcurl transport is lib/plexus/libplexus-k8s.so, loaded on the first
// request. The executable itself then never maps libcurl, and so pays nothing for it on the calls
// that do not reach the API server (VERSION, DEL without a pod lookup, every manifest-store call).
#include "transport.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace plexus::k8s::detail {
namespace {

// Where the module is: next to the executable's tree (build tree, image, and `plexus install`,
// which puts it in <cni bin>/../lib/plexus/ with the plugins), else the configured install dir.
std::vector<std::filesystem::path> module_candidates() {
  std::vector<std::filesystem::path> candidates;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(self.parent_path().parent_path() / "lib" / "plexus" / kModuleFileName);
  candidates.push_back(std::filesystem::path(PLEXUS_K8S_INSTALLED_MODULE_DIR) / kModuleFileName);
  return candidates;
}

// A library mapped into a root process must be one only root (or we) could have written, as the
// plugin registry requires of plugins.
std::string unsafe_reason(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return "missing";
  if (info.st_uid != ::geteuid() && info.st_uid != 0) return "owned by uid " + std::to_string(info.st_uid);
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) return "writable by group or others";
  return {};
}

struct Loaded {
  PerformFn perform = nullptr;
  std::string error;
};

Loaded load_module() {
  std::string tried;
  for (const auto& file : module_candidates()) {
    if (const auto why = unsafe_reason(file); !why.empty()) {
      tried += (tried.empty() ? "" : "; ") + file.string() + ": " + why;
      continue;
    }
    // Never closed: the transport stays in use until exit.
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += (tried.empty() ? "" : "; ") + file.string() + ": " + ::dlerror();
      continue;
    }
    using EntryFn = const ModuleEntry* (*)();
    const auto entry_fn = reinterpret_cast<EntryFn>(::dlsym(handle, kModuleEntryName));
    const ModuleEntry* entry = entry_fn != nullptr ? entry_fn() : nullptr;
    if (entry == nullptr || entry->perform == nullptr || std::strcmp(entry->build, PLEXUS_K8S_MODULE_BUILD) != 0 ||
        entry->call_size != sizeof(HttpCall) || entry->config_size != sizeof(ClusterConfig) ||
        entry->options_size != sizeof(ClientOptions)) {
      ::dlclose(handle);
      tried += (tried.empty() ? "" : "; ") + file.string() + ": not the Kubernetes client of this plexus build";
      continue;
    }
    return {entry->perform, {}};
  }
  return {nullptr, "cannot load the Kubernetes client module " + std::string(kModuleFileName) + " (" + tried + ")"};
}

const Loaded& module() {
  static const Loaded loaded = load_module();  // once, thread-safe
  return loaded;
}

}  // namespace

PerformFn transport() {
  const auto& loaded = module();
  if (loaded.perform != nullptr) return loaded.perform;
  return [](const HttpCall& call) -> Response {
    // As a transport failure: no HTTP answer came.
    throw ApiError(std::string(call.method) + " " + call.config.server + std::string(call.path) + ": " + module().error, 0,
                   {}, {}, 0);
  };
}

}  // namespace plexus::k8s::detail
