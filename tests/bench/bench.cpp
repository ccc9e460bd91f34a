// plexus-bench: how long one macvlan attachment takes to ADD and to DEL, four ways, on the
// motivating config (macvlan on eth0, mode bridge, static IPAM, runtimeConfig ips
// ["192.168.111.10/24"], CNI_ARGS IgnoreUnknown=1;MAC=20:01:02:03:04:05, ifname net1):
//   (a) Debian's reference macvlan, exec'd, exec'ing Debian's static
//   (b) plexus's standalone macvlan, exec'd, exec'ing plexus's static (Debian's if not built)
//   (c) plexus's macvlan.so in-process (static in-process too when static.so is built)
//   (d) the kernel floor: the same netlink requests issued directly from this process
// Needs root: it makes its own "host" namespace (veth eth0 as master) and "pod" namespace and
// touches nothing else. Prints a table; not a test.
//
//   plexus-bench [--cycles N] [--warmup N]
#include "harness.hpp"

#include <netns.hpp>

#include <plexus/net/net.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
namespace net = plexus::net;
using plexus::test::macvlan::MacvlanRunner;
using plexus::test::macvlan::Way;
using Clock = std::chrono::steady_clock;

constexpr const char* kConfig =
    R"({"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","master":"eth0","mode":"bridge",)"
    R"("ipam":{"type":"static"},"runtimeConfig":{"ips":["192.168.111.10/24"]}})";
constexpr const char* kArgs = "IgnoreUnknown=1;MAC=20:01:02:03:04:05";
constexpr const char* kMac = "20:01:02:03:04:05";
constexpr const char* kIfname = "net1";

struct Options {
  int cycles = 200;
  int warmup = 5;
  std::string ways = "abcd";  // which rows to run (--only c: just the in-process one, for a profiler)
};

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto number = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a number");
      const int value = std::stoi(argv[++i]);
      if (value < 0) throw std::invalid_argument(arg + " must not be negative");
      return value;
    };
    if (arg == "--cycles") {
      options.cycles = std::max(1, number());
    } else if (arg == "--warmup") {
      options.warmup = number();
    } else if (arg == "--only") {
      if (i + 1 >= argc) throw std::invalid_argument("--only needs letters from abcd");
      options.ways = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: plexus-bench [--cycles N (default 200)] [--warmup N (default 5)] [--only abcd]\n";
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument: " + arg);
    }
  }
  return options;
}

// Milliseconds of each ADD and each DEL.
struct Samples {
  std::vector<double> add;
  std::vector<double> del;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The q-quantile by nearest rank (q in [0, 1]).
double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const auto last = static_cast<double>(values.size() - 1);
  return values[static_cast<std::size_t>(q * last + 0.5)];
}

// ADD then DEL, `warmup` + `cycles` times, through `run` (called on a thread in the host
// namespace). Every reply must succeed: a failing way would time its error path.
Samples time_plugin(const Options& options, const net::Netns& host, const std::string& pod_path,
                    const std::function<cni::Reply(const cni::Request&)>& run) {
  return net::in_netns(host, [&] {
    Samples samples;
    cni::Request request{"ADD", "bench-" + std::to_string(::getpid()), pod_path, kIfname, kArgs, "", kConfig, ""};
    for (int i = 0; i < options.warmup + options.cycles; ++i) {
      request.command = "ADD";
      auto start = Clock::now();
      const auto added = run(request);
      const double add_ms = ms_since(start);
      if (added.exit_code != 0) throw std::runtime_error("ADD failed: " + added.stdout_data + added.stderr_data);
      request.command = "DEL";
      start = Clock::now();
      const auto deleted = run(request);
      const double del_ms = ms_since(start);
      if (deleted.exit_code != 0) throw std::runtime_error("DEL failed: " + deleted.stdout_data + deleted.stderr_data);
      if (i < options.warmup) continue;
      samples.add.push_back(add_ms);
      samples.del.push_back(del_ms);
    }
    return samples;
  });
}

// (d): what macvlan asks of the kernel, and nothing else. Both sockets are opened once (each on a
// thread in its namespace, to which it stays bound) and then driven from one thread.
Samples time_kernel_floor(const Options& options, const net::Netns& host, const net::Netns& pod) {
  auto host_nl = net::in_netns(host, [] { return net::Netlink(); });
  auto pod_nl = net::in_netns(pod, [] { return net::Netlink(); });
  const int master = host_nl.link("eth0").index;
  const auto address = *cni::IPNet::parse("192.168.111.10/24");
  Samples samples;
  for (int i = 0; i < options.warmup + options.cycles; ++i) {
    auto start = Clock::now();
    const auto temp_name = net::random_veth_name();
    host_nl.create_macvlan({.name = temp_name, .master_index = master, .mode = net::MacvlanMode::Bridge, .mtu = 0,
                            .mac = kMac, .netns_fd = pod.fd()});
    const int index = pod_nl.link(temp_name).index;
    pod_nl.rename_link(index, kIfname);
    pod_nl.add_address(index, address);
    pod_nl.set_link_up(index);
    const double add_ms = ms_since(start);
    start = Clock::now();
    pod_nl.delete_link(kIfname);
    const double del_ms = ms_since(start);
    if (i < options.warmup) continue;
    samples.add.push_back(add_ms);
    samples.del.push_back(del_ms);
  }
  return samples;
}

struct Row {
  char letter;
  std::string label;
  std::string detail;
  Samples samples;
};

void print_table(const Options& options, const std::vector<Row>& rows) {
  fmt::print("plexus-bench: macvlan ADD and DEL of the motivating attachment, {} cycles (+{} warm-up), times in ms\n",
             options.cycles, options.warmup);
  fmt::print("{:<34} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}   {:>9} {:>9}\n", "way", "ADD p10", "ADD p50", "ADD p90",
             "DEL p10", "DEL p50", "DEL p90", "ADD/(a)", "DEL/(a)");
  const auto median_of = [&](char letter, bool add) -> std::optional<double> {
    for (const auto& row : rows) {
      if (row.letter == letter) return quantile(add ? row.samples.add : row.samples.del, 0.5);
    }
    return std::nullopt;
  };
  const auto base_add = median_of('a', true);
  const auto base_del = median_of('a', false);
  for (const auto& row : rows) {
    const auto& s = row.samples;
    const double add = quantile(s.add, 0.5);
    const double del = quantile(s.del, 0.5);
    fmt::print("{:<34} {:>8.3f} {:>8.3f} {:>8.3f}   {:>8.3f} {:>8.3f} {:>8.3f}   {:>9} {:>9}\n", row.label,
               quantile(s.add, 0.1), add, quantile(s.add, 0.9), quantile(s.del, 0.1), del, quantile(s.del, 0.9),
               base_add ? fmt::format("{:.3f}", add / *base_add) : "-", base_del ? fmt::format("{:.3f}", del / *base_del) : "-");
  }
  fmt::print("\n");
  for (const auto& row : rows) fmt::print("{}: {}\n", row.label, row.detail);
  const auto in_process_add = median_of('c', true);
  const auto floor_add = median_of('d', true);
  if (base_add && in_process_add && floor_add) {
    fmt::print("\nin-process ADD: {:.3f} of (a) (aim <= 0.200), {:.2f}x the kernel floor (aim <= 2.00)\n",
               *in_process_add / *base_add, *in_process_add / *floor_add);
  }
}

int run_bench(const Options& options) {
  if (::geteuid() != 0) {
    std::cerr << "plexus-bench needs root (it makes network namespaces)\n";
    return 1;
  }
  MacvlanRunner runner(PLEXUS_CNI_BIN_DIR, PLEXUS_PLUGIN_DIR, PLEXUS_REFERENCE_CNI_DIR);
  plexus::test::MacvlanTopology topology;
  const auto host = net::Netns::open(topology.host.path());
  const auto pod = net::Netns::open(topology.pod.path());
  const std::string pod_path = topology.pod.path();

  const bool plexus_static_bin = fs::exists(runner.cni_bin() / "static");
  const bool static_in_process = runner.runs_in_process("static");
  std::vector<Row> rows;
  const auto way = [&](Way w) {
    return [&runner, w](const cni::Request& request) {
      auto with_path = request;
      with_path.path = runner.cni_path(w);
      return runner.run_here(w, with_path);
    };
  };
  const auto wanted = [&](char letter) { return options.ways.find(letter) != std::string::npos; };
  if (wanted('a')) {
    rows.push_back({'a', "(a) reference exec", "Debian's /usr/lib/cni/macvlan exec'ing Debian's static",
                    time_plugin(options, host, pod_path, way(Way::Reference))});
  }
  if (wanted('b')) {
    rows.push_back({'b', "(b) plexus exec",
                    std::string("plexus's cni-bin/macvlan exec'ing ") +
                        (plexus_static_bin ? "plexus's static" : "Debian's static (plexus's is not built)"),
                    time_plugin(options, host, pod_path, way(Way::Exec))});
  }
  if (wanted('c')) {
    rows.push_back({'c', "(c) plexus in-process",
                    std::string("macvlan.so through core/invoke's Router, static ") +
                        (static_in_process ? "in-process (static.so)" : "exec'd (static.so is not built)"),
                    time_plugin(options, host, pod_path, way(Way::InProcess))});
  }
  if (wanted('d')) {
    rows.push_back({'d', "(d) kernel floor", "plexus::net from one process: create in pod with MAC, rename, address, up; delete",
                    time_kernel_floor(options, host, pod)});
  }
  if (rows.empty()) throw std::invalid_argument("--only names none of a, b, c, d");
  print_table(options, rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_bench(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "plexus-bench: " << e.what() << "\n";
    return 1;
  }
}
