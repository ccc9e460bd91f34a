// plexus-bench-daemon: one pod's ADD+DEL of the motivating network (macvlan on eth0, mode bridge,
// static IPAM 192.168.111.10/24, MAC 20:01:02:03:04:05 via CNI_ARGS), exec'd by this program as a
// runtime would exec its CNI plugin, three ways:
//   (a) shim + plexusd: `plexus` with "daemonSocket" forwards to a running plexusd (plugins
//       preloaded, in-process)
//   (b) exec'd plexus: the same `plexus` binary without the socket, loading its plugins per call
//   (c) Debian's reference chain: /usr/lib/cni/macvlan exec'd, exec'ing /usr/lib/cni/static
//   (d) for the breakdown: the same request POSTed to plexusd from this process (what (a) costs
//       without starting the shim process)
// and then plexusd's resident memory (VmRSS). Needs root: it makes its own "host" namespace (veth
// eth0 as the master) and "pod" namespace, enters the host one, and touches nothing else.
//
//   plexus-bench-daemon [--cycles N]
#include "daemon_test_support.hpp"

#include <plexus/exec/exec.hpp>

#include <fcntl.h>
#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using plexus::test::TempDir;

constexpr const char* kArgs = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=licensed-app;MAC=20:01:02:03:04:05";

nlohmann::json motivating_network() {
  return {{"cniVersion", "1.0.0"},
          {"name", "ip-192"},
          {"type", "macvlan"},
          {"master", "eth0"},
          {"mode", "bridge"},
          {"ipam", {{"type", "static"}, {"addresses", {{{"address", "192.168.111.10/24"}}}}}}};
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

long vm_rss_kib(pid_t pid) {
  const auto status = plexus::test::read_file(fmt::format("/proc/{}/status", pid));
  const auto at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::stol(status.substr(at + 6));
}

struct Way {
  std::string name;
  fs::path binary;  // empty: POST straight to `socket` from this process (no shim exec)
  std::string config;
  std::string cni_path;
  fs::path socket;
};

// ADD then DEL, `cycles` times; the medians of ADD, DEL and ADD+DEL in ms.
std::array<double, 3> run_way(const Way& way, const std::string& netns, int cycles) {
  std::vector<double> adds, dels, both;
  for (int i = -2; i < cycles; ++i) {  // two warm-up cycles
    plexus::cni::Request request;
    request.container_id = "bench-ctr";
    request.netns = netns;
    request.ifname = "eth0";
    request.args = kArgs;
    request.path = way.cni_path;
    request.stdin_data = way.config;
    request.command = "ADD";
    const auto t0 = Clock::now();
    const auto call = [&way](const plexus::cni::Request& r) {
      return way.binary.empty() ? plexus::daemon::call_daemon(way.socket, r) : plexus::exec::run(way.binary, r);
    };
    const auto added = call(request);
    const auto t1 = Clock::now();
    request.command = "DEL";
    const auto deleted = call(request);
    const auto t2 = Clock::now();
    if (added.exit_code != 0 || deleted.exit_code != 0) {
      throw std::runtime_error(fmt::format("{}: ADD {} {} / DEL {} {}", way.name, added.exit_code, added.stdout_data,
                                           deleted.exit_code, deleted.stdout_data));
    }
    if (i < 0) continue;
    const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    adds.push_back(ms(t1 - t0));
    dels.push_back(ms(t2 - t1));
    both.push_back(ms(t2 - t0));
  }
  return {median(adds), median(dels), median(both)};
}

}  // namespace

int main(int argc, char** argv) {
  int cycles = 50;
  if (argc == 3 && std::string(argv[1]) == "--cycles") cycles = std::max(1, std::stoi(argv[2]));
  if (::geteuid() != 0) {
    std::cerr << "plexus-bench-daemon needs root (it makes network namespaces)\n";
    return 1;
  }
  try {
    TempDir work;
    plexus::test::MacvlanTopology topology;
    // Enter the host namespace: every exec'd plugin and plexusd inherit it.
    const int host_fd = ::open(topology.host.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (host_fd < 0 || ::setns(host_fd, CLONE_NEWNET) != 0) throw std::runtime_error("cannot enter the host namespace");
    ::close(host_fd);

    const std::string build = PLEXUS_BUILD_DIR;
    const auto socket = work.path() / "run" / "plexus.sock";
    const auto daemon_config = work.write("daemon-config.json",
                                          nlohmann::json{{"socketDir", (work.path() / "run").string()},
                                                         {"metricsAddress", ""},
                                                         {"pluginDirs", {PLEXUS_PLUGIN_DIR}}}
                                              .dump());
    plexus::test::PlexusdProcess plexusd(daemon_config, socket, work.path() / "plexusd.log");
    if (!plexusd.wait_ready()) throw std::runtime_error("plexusd did not start: " + plexusd.log());

    nlohmann::json meta = {{"cniVersion", "1.0.0"},
                           {"name", "plexus-bench"},
                           {"type", "plexus"},
                           {"delegates", {motivating_network()}},
                           {"cniDir", (work.path() / "cache").string()},
                           {"binDir", PLEXUS_CNI_BIN_DIR},
                           {"pluginDirs", {PLEXUS_PLUGIN_DIR}}};
    const auto exec_config = meta.dump();
    meta["daemonSocket"] = socket.string();
    const auto shim_config = meta.dump();

    const std::vector<Way> ways = {
        {"(a) shim + plexusd", build + "/bin/plexus", shim_config, "/usr/lib/cni", {}},
        {"(b) exec'd plexus", build + "/bin/plexus", exec_config, "/usr/lib/cni", {}},
        {"(c) Debian macvlan -> static, exec'd", "/usr/lib/cni/macvlan", motivating_network().dump(), "/usr/lib/cni", {}},
        {"(d) plexusd socket only, no shim exec", {}, shim_config, "/usr/lib/cni", socket},
    };
    std::vector<std::array<double, 3>> results;
    for (const auto& way : ways) results.push_back(run_way(way, topology.pod.path(), cycles));

    const long rss = [&] {
      // plexusd is our only child whose comm is plexusd.
      for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (plexus::test::read_file(entry.path() / "comm") == "plexusd\n" &&
            plexus::test::read_file(entry.path() / "cmdline").find(daemon_config.string()) != std::string::npos) {
          return vm_rss_kib(std::stoi(name));
        }
      }
      return -1L;
    }();

    std::cout << fmt::format("motivating example, one pod: ADD then DEL, {} cycles, medians in ms\n", cycles);
    std::cout << fmt::format("{:<40} {:>9} {:>9} {:>10} {:>12}\n", "way", "ADD", "DEL", "ADD+DEL", "vs (c)");
    for (std::size_t i = 0; i < ways.size(); ++i) {
      std::cout << fmt::format("{:<40} {:>9.2f} {:>9.2f} {:>10.2f} {:>11.2f}x\n", ways[i].name, results[i][0], results[i][1],
                               results[i][2], results[i][2] / results[2][2]);
    }
    std::cout << fmt::format("(a)/(b) = {:.2f}x\n", results[0][2] / results[1][2]);
    std::cout << fmt::format("plexusd VmRSS after the run: {} KiB\n", rss);
    plexusd.signal(SIGTERM);
    plexusd.wait_exit();
  } catch (const std::exception& e) {
    std::cerr << "plexus-bench-daemon: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
