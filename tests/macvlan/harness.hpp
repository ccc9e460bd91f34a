// Running a macvlan plugin three ways from a test "host" namespace, for tests/macvlan and the
// benchmark (no GoogleTest in here):
//   Exec       plexus's standalone binary, exec'd        (CNI_PATH: plexus's cni-bin, then Debian's)
//   InProcess  plexus's .so through core/invoke's Router  (IPAM in-process when its .so exists)
//   Reference  Debian's /usr/lib/cni/macvlan, exec'd      (CNI_PATH: Debian's only)
// Every call runs on a thread that entered the host namespace, because macvlan looks its master
// up in the caller's namespace (an exec'd child inherits that thread's namespace).
#pragma once

#include <plexus/cni/protocol.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/router.hpp>
#include <plexus/net/netns.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::test::macvlan {

enum class Way { Exec, InProcess, Reference };

inline std::string_view way_name(Way way) {
  switch (way) {
    case Way::Exec: return "exec";
    case Way::InProcess: return "inprocess";
    case Way::Reference: return "reference";
  }
  return "?";
}

class MacvlanRunner {
 public:
  MacvlanRunner(std::filesystem::path cni_bin, std::filesystem::path plugin_dir, std::filesystem::path reference_dir)
      : cni_bin_(std::move(cni_bin)), reference_dir_(std::move(reference_dir)), router_(registry_, exec_) {
    // macvlan itself, and whichever IPAM plugins plexus has built as .so so far.
    for (const char* type : {"macvlan", "static", "host-local"}) {
      const auto file = plugin_dir / (std::string(type) + ".so");
      if (!std::filesystem::exists(file)) continue;
      const auto outcome = registry_.load(file);
      if (outcome.status != invoke::LoadStatus::Loaded) {
        throw std::runtime_error("cannot load " + file.string() + ": " + outcome.message);
      }
      in_process_types_.emplace_back(type);
    }
    if (!router_.runs_in_process("macvlan")) throw std::runtime_error("macvlan.so is not built in " + plugin_dir.string());
  }
  MacvlanRunner(const MacvlanRunner&) = delete;
  MacvlanRunner& operator=(const MacvlanRunner&) = delete;

  // The types served in-process ("macvlan", "static", ...).
  const std::vector<std::string>& in_process_types() const { return in_process_types_; }
  bool runs_in_process(std::string_view type) const { return router_.runs_in_process(type); }
  const std::filesystem::path& cni_bin() const { return cni_bin_; }

  // CNI_PATH for a way: `extra_dir` (a test's own plugins) first when given.
  std::string cni_path(Way way, const std::string& extra_dir = {}) const {
    std::string path = extra_dir.empty() ? "" : extra_dir + ":";
    if (way == Way::Reference) return path + reference_dir_.string();
    return path + cni_bin_.string() + ":" + reference_dir_.string();
  }

  // Runs one request (its path is set here) from a thread inside `host`.
  cni::Reply run(Way way, const net::Netns& host, cni::Request request, const std::string& extra_dir = {}) {
    request.path = cni_path(way, extra_dir);
    return net::in_netns(host, [&] { return run_here(way, request); });
  }

  // As run(), on the calling thread, which must already be in the host namespace.
  cni::Reply run_here(Way way, const cni::Request& request) {
    switch (way) {
      case Way::Exec: return exec::run(cni_bin_ / "macvlan", request);
      case Way::InProcess: return router_.invoke("macvlan", request);
      case Way::Reference: return exec::run(reference_dir_ / "macvlan", request);
    }
    return {};
  }

 private:
  std::filesystem::path cni_bin_;
  std::filesystem::path reference_dir_;
  invoke::PluginRegistry registry_;
  invoke::ExecInvoker exec_;
  invoke::Router router_;
  std::vector<std::string> in_process_types_;
};

}  // namespace plexus::test::macvlan
