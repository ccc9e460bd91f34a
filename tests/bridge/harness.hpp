// Runs the bridge and loopback plugins three ways from a test "host" namespace:
//   Exec       plexus's standalone binary, exec'd
//   InProcess  plexus's .so through core/invoke's Router
//   Reference  Debian's /usr/lib/cni/<type>, exec'd
// IPAM is exec'd from CNI_PATH: plexus's host-local first (it speaks 1.1.0), then Debian's, for
// plexus's ways; Debian's only for the reference. Every call runs on a thread that entered the host
// namespace: the bridge lives there, never in the machine's own namespace.
#pragma once

#include <plexus/cni/protocol.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/router.hpp>
#include <plexus/net/netns.hpp>
#include "netns.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::test::bridge {

namespace fs = std::filesystem;
using nlohmann::json;

enum class Way { Exec, InProcess, Reference };

inline std::string way_name(Way way) {
  switch (way) {
    case Way::Exec: return "Exec";
    case Way::InProcess: return "InProcess";
    case Way::Reference: return "Reference";
  }
  return "?";
}

// The spec versions each way speaks for ADD (Debian's 1.1.1 stops at 1.0.0).
inline std::vector<std::string> add_versions(Way way) {
  if (way == Way::Reference) return {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  return {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
}

class Runner {
 public:
  static Runner& instance() {
    static Runner runner;
    return runner;
  }

  cni::Reply run(Way way, std::string_view type, const TestNetns& host, cni::Request request) {
    request.path = way == Way::Reference ? std::string(PLEXUS_REFERENCE_CNI_DIR)
                                         : std::string(PLEXUS_CNI_BIN_DIR) + ":" + PLEXUS_REFERENCE_CNI_DIR;
    const auto host_ns = net::Netns::open(host.path());
    return net::in_netns(host_ns, [&] {
      switch (way) {
        case Way::Exec: return exec::run(fs::path(PLEXUS_CNI_BIN_DIR) / std::string(type), request);
        case Way::InProcess: return router_.invoke(type, request);
        case Way::Reference: return exec::run(fs::path(PLEXUS_REFERENCE_CNI_DIR) / std::string(type), request);
      }
      return cni::Reply{};
    });
  }

 private:
  Runner() : router_(registry_, exec_) {
    for (const char* type : {"bridge", "loopback"}) {
      const auto file = fs::path(PLEXUS_PLUGIN_DIR) / (std::string(type) + ".so");
      const auto outcome = registry_.load(file);
      if (outcome.status != invoke::LoadStatus::Loaded) {
        throw std::runtime_error("cannot load " + file.string() + ": " + outcome.message);
      }
    }
  }

  invoke::PluginRegistry registry_;
  invoke::ExecInvoker exec_;
  invoke::Router router_;
};

// A host namespace (where the bridge goes), a pod namespace and a scratch directory (host-local's
// dataDir, resolv.conf files), all removed at the end.
struct Topology {
  TestNetns host{"brh"};
  TestNetns pod{"brp"};
  fs::path dir;

  Topology() : dir(fs::temp_directory_path() / ("plexus-br-" + std::to_string(::getpid()) + "-" + std::to_string(serial()))) {
    fs::create_directories(dir);
  }
  ~Topology() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  // Files host-local keeps for network `name` (one per reserved IP, plus its bookkeeping).
  std::vector<std::string> reserved_ips(const std::string& name = "net1") const {
    std::vector<std::string> ips;
    const auto store = dir / "ipam" / name;
    if (!fs::exists(store)) return ips;
    for (const auto& entry : fs::directory_iterator(store)) {
      const auto file = entry.path().filename().string();
      if (file != "lock" && file.rfind("last_reserved_ip", 0) != 0) ips.push_back(file);
    }
    return ips;
  }

  json host_local(const std::vector<std::string>& subnets) const {
    json ranges = json::array();
    for (const auto& subnet : subnets) ranges.push_back(json::array({json{{"subnet", subnet}}}));
    return json{{"type", "host-local"}, {"ranges", ranges}, {"dataDir", (dir / "ipam").string()}};
  }

  cni::Request request(const std::string& command, const json& conf, const std::string& ifname = "eth0",
                       const std::string& container_id = "c1", const std::string& args = "") const {
    cni::Request request;
    request.command = command;
    request.container_id = container_id;
    request.netns = pod.path();
    request.ifname = ifname;
    request.args = args;
    request.stdin_data = conf.dump();
    return request;
  }

 private:
  static int serial() {
    static std::atomic<int> next{0};
    return next++;
  }
};

// A bridge config of `version` on bridge0 for network net1, `extra` merged in.
inline json bridge_conf(const std::string& version, const json& extra = json::object()) {
  json conf{{"cniVersion", version}, {"name", "net1"}, {"type", "bridge"}, {"bridge", "bridge0"}};
  conf.update(extra);
  return conf;
}

inline json parse_reply(const cni::Reply& reply) { return json::parse(reply.stdout_data); }

// A result with what is random in it (veth names, MACs) replaced by placeholders, and an empty
// "dns" (Debian's 1.1.1 prints it at 1.0.0, plexus does not) dropped.
inline json normalized_result(json result) {
  static const std::regex veth_name("^veth[0-9a-f]{8}$");
  if (result.contains("interfaces")) {
    for (auto& iface : result["interfaces"]) {
      if (std::regex_match(iface.value("name", ""), veth_name)) iface["name"] = "veth";
      if (iface.contains("mac")) iface["mac"] = "mac";
    }
  }
  if (result.contains("dns") && result["dns"].empty()) result.erase("dns");
  return result;
}

}  // namespace plexus::test::bridge
