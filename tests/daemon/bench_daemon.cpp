// plexus-bench-daemon: the motivating network (macvlan on eth0, mode bridge, static IPAM
// 192.168.111.10/24, MAC 20:01:02:03:04:05 via CNI_ARGS), exec'd by this program as a runtime would
// exec its CNI plugin:
//   (a) Debian's reference chain: /usr/lib/cni/macvlan exec'd, exec'ing /usr/lib/cni/static
//   (b) thin plexus exec'd: the full `plexus` binary without a daemon, loading its plugins per call
//   (c) plexus-shim + plexusd: the small shim forwarding to a running plexusd (plugins preloaded)
//   (c') the full `plexus` with "daemonSocket" in front of the same plexusd (the old shim path)
//   (d) for the breakdown: the same request POSTed to plexusd from this process (no shim exec)
//   (e) for the floor: plexus-shim exec'd for VERSION, i.e. one process start of the static shim
//       and nothing else; any exec'd CNI entry pays at least this per call
// One pod's ADD then DEL, N cycles; then 100 pods x 2 networks (eth0 + net1, two macvlans) added,
// then deleted, with 8 calls in flight through (c) and through (b); then plexusd's VmRSS. Needs
// root: it makes its own "host" namespace (veth eth0 as the master) and pod namespaces, enters the
// host one, and touches nothing else.
//
//   plexus-bench-daemon [--cycles N] [--only a|b|c|c'|d]   (--only: that way's cycles alone, for profiling)
#include "daemon_test_support.hpp"

#include <plexus/exec/exec.hpp>

#include <fcntl.h>
#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

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

// The median of `cycles` execs of `binary` answering VERSION: the cost of a process start alone.
double run_version(const fs::path& binary, int cycles) {
  std::vector<double> times;
  for (int i = -2; i < cycles; ++i) {
    plexus::cni::Request request;
    request.command = "VERSION";
    const auto t0 = Clock::now();
    const auto reply = plexus::exec::run(binary, request);
    const auto t1 = Clock::now();
    if (reply.exit_code != 0) throw std::runtime_error(binary.string() + " VERSION: " + reply.stdout_data);
    if (i >= 0) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return median(times);
}

constexpr int kPods = 100;
constexpr int kInFlight = 8;

// Two networks per pod: the cluster one on eth0 and a second macvlan on net1 (no fixed MAC: two
// macvlans on one master cannot share it).
nlohmann::json two_networks() {
  auto eth0 = motivating_network();
  auto net1 = motivating_network();
  net1["name"] = "ip-192-b";
  net1["ipam"]["addresses"][0]["address"] = "192.168.112.10/24";
  return nlohmann::json::array({eth0, net1});
}

struct ScaleResult {
  double add_wall_ms = 0;  // all ADDs, first start to last end
  double del_wall_ms = 0;
  double add_median_ms = 0;  // one pod's ADD (both networks)
  double del_median_ms = 0;
};

// `command` for every pod, kInFlight at a time; the wall time and the per-call latencies.
std::pair<double, std::vector<double>> run_all(const fs::path& binary, const std::string& config,
                                               const std::vector<std::unique_ptr<plexus::test::TestNetns>>& pods,
                                               const std::string& command, const std::string& tag) {
  std::vector<double> latencies(pods.size());
  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < kInFlight; ++w) {
    workers.emplace_back([&] {
      for (std::size_t i = next++; i < pods.size(); i = next++) {
        plexus::cni::Request request;
        request.command = command;
        request.container_id = fmt::format("bench-{}-{}", tag, i);
        request.netns = pods[i]->path();
        request.ifname = "eth0";
        request.args = fmt::format("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{}", i);
        request.path = "/usr/lib/cni";
        request.stdin_data = config;
        const auto start = Clock::now();
        const auto reply = plexus::exec::run(binary, request);
        latencies[i] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (reply.exit_code != 0 && failures++ == 0) {
          const std::lock_guard lock(failure_mutex);
          first_failure = reply.stdout_data + reply.stderr_data;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (failures > 0) {
    throw std::runtime_error(fmt::format("{} {}: {} calls failed, first: {}", binary.string(), command, failures.load(), first_failure));
  }
  return {wall, latencies};
}

ScaleResult run_scale(const fs::path& binary, const std::string& config,
                      const std::vector<std::unique_ptr<plexus::test::TestNetns>>& pods, const std::string& tag) {
  const auto [add_wall, adds] = run_all(binary, config, pods, "ADD", tag);
  const auto [del_wall, dels] = run_all(binary, config, pods, "DEL", tag);
  return {add_wall, del_wall, median(adds), median(dels)};
}

}  // namespace

int main(int argc, char** argv) {
  int cycles = 50;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cycles") cycles = std::max(1, std::stoi(argv[i + 1]));
    else if (flag == "--only") only = argv[i + 1];
    else {
      std::cerr << "usage: plexus-bench-daemon [--cycles N] [--only a|b|c|c'|d]\n";
      return 2;
    }
  }
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
        {"(a) Debian macvlan -> static, exec'd", "/usr/lib/cni/macvlan", motivating_network().dump(), "/usr/lib/cni", {}},
        {"(b) thin plexus exec'd", build + "/bin/plexus", exec_config, "/usr/lib/cni", {}},
        {"(c) plexus-shim + plexusd", build + "/bin/plexus-shim", shim_config, "/usr/lib/cni", {}},
        {"(c') full plexus + plexusd", build + "/bin/plexus", shim_config, "/usr/lib/cni", {}},
        {"(d) plexusd socket only, no shim exec", {}, shim_config, "/usr/lib/cni", socket},
    };
    if (!only.empty()) {
      for (const auto& way : ways) {
        if (way.name.rfind("(" + only + ")", 0) != 0) continue;
        const auto [add, del, both] = run_way(way, topology.pod.path(), cycles);
        std::cout << fmt::format("{}: ADD {:.2f} ms, DEL {:.2f} ms, ADD+DEL {:.2f} ms (medians of {})\n", way.name, add, del, both, cycles);
      }
      plexusd.signal(SIGTERM);
      plexusd.wait_exit();
      return 0;
    }
    std::vector<std::array<double, 3>> results;
    for (const auto& way : ways) results.push_back(run_way(way, topology.pod.path(), cycles));
    const double shim_start = run_version(build + "/bin/plexus-shim", cycles);

    // 100 pods x 2 networks, 8 in flight.
    std::vector<std::unique_ptr<plexus::test::TestNetns>> pods;
    for (int i = 0; i < kPods; ++i) pods.push_back(std::make_unique<plexus::test::TestNetns>("bench"));
    meta["delegates"] = two_networks();
    meta.erase("daemonSocket");
    const auto scale_exec_config = meta.dump();
    meta["daemonSocket"] = socket.string();
    const auto scale_shim_config = meta.dump();
    const auto scale_shim = run_scale(build + "/bin/plexus-shim", scale_shim_config, pods, "shim");
    const auto scale_exec = run_scale(build + "/bin/plexus", scale_exec_config, pods, "exec");

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
    std::cout << fmt::format("{:<40} {:>9} {:>9} {:>10} {:>10} {:>12}\n", "way", "ADD", "DEL", "ADD+DEL", "ADD vs (a)", "ADD+DEL vs (a)");
    for (std::size_t i = 0; i < ways.size(); ++i) {
      std::cout << fmt::format("{:<40} {:>9.2f} {:>9.2f} {:>10.2f} {:>9.3f}x {:>13.3f}x\n", ways[i].name, results[i][0],
                               results[i][1], results[i][2], results[i][0] / results[0][0], results[i][2] / results[0][2]);
    }
    std::cout << fmt::format("{:<40} {:>9.2f} {:>9} {:>10} {:>9.3f}x\n", "(e) plexus-shim VERSION: process start", shim_start,
                             "-", "-", shim_start / results[0][0]);
    std::cout << fmt::format("(c)/(b): ADD {:.3f}x, ADD+DEL {:.3f}x\n", results[2][0] / results[1][0], results[2][2] / results[1][2]);
    std::cout << fmt::format("\n{} pods x 2 networks (eth0 + net1), {} in flight, ms\n", kPods, kInFlight);
    std::cout << fmt::format("{:<28} {:>12} {:>12} {:>14} {:>14}\n", "way", "ADD wall", "DEL wall", "ADD median", "DEL median");
    for (const auto& [name, r] : {std::pair{"(c) plexus-shim + plexusd", scale_shim}, std::pair{"(b) thin plexus exec'd", scale_exec}}) {
      std::cout << fmt::format("{:<28} {:>12.1f} {:>12.1f} {:>14.2f} {:>14.2f}\n", name, r.add_wall_ms, r.del_wall_ms, r.add_median_ms,
                               r.del_median_ms);
    }
    std::cout << fmt::format("(c)/(b): ADD wall {:.3f}x, DEL wall {:.3f}x\n", scale_shim.add_wall_ms / scale_exec.add_wall_ms,
                             scale_shim.del_wall_ms / scale_exec.del_wall_ms);
    std::cout << fmt::format("plexusd VmRSS after the run: {} KiB ({:.1f} MiB)\n", rss, static_cast<double>(rss) / 1024.0);
    plexusd.signal(SIGTERM);
    plexusd.wait_exit();
  } catch (const std::exception& e) {
    std::cerr << "plexus-bench-daemon: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
