// plexusd as a real process (root): 64 pods attached and detached in parallel through its socket
// with the in-process macvlan, host-local and static plugins, each pod in its own namespace and
// every macvlan on one test "host" namespace's eth0 (plexusd runs under `ip netns exec <host>`);
// and SIGTERM in the middle of calls loses none of them.
#include "daemon_test_support.hpp"
#include "privileged.hpp"

#include <fmt/format.h>

#include <future>
#include <set>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;

fs::path write_daemon_config(const TempDir& work, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json config = {{"socketDir", (work.path() / "run").string()},
                           {"metricsAddress", ""},
                           {"pluginDirs", {PLEXUS_PLUGIN_DIR}}};
  config.update(extra);
  return work.write("daemon-config.json", config.dump());
}

TEST(PlexusdProcess, RefusesToRunWithoutRoot) {
  if (::geteuid() == 0) {
    // As root, drop to nobody for this one run.
    const auto result = run_command("setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(PLEXUS_BUILD_DIR) + "/bin/plexusd --config /nonexistent");
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("must run as root"), std::string::npos) << result.output;
  } else {
    const auto result = run_command(std::string(PLEXUS_BUILD_DIR) + "/bin/plexusd --config /nonexistent");
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("must run as root"), std::string::npos) << result.output;
  }
}

TEST(PlexusdProcess, SixtyFourPodsInParallelThenCleanDeletes) {
  PLEXUS_REQUIRE_ROOT();
  constexpr int kPods = 64;
  TempDir work;
  MacvlanTopology topology;  // topology.host: eth0 (veth) is every macvlan's master
  std::vector<std::unique_ptr<TestNetns>> pods;
  for (int i = 0; i < kPods; ++i) pods.push_back(std::make_unique<TestNetns>("dpod"));

  // The manifest store: NAD ip-192 (macvlan, static IPAM, ips capability) and one pod per
  // namespace asking for it with its own MAC and IP.
  work.write("store/ip-192.yaml", read_file(fs::path(PLEXUS_SOURCE_DIR) / "deploy/examples/ip-192-nad.yaml"));
  for (int i = 0; i < kPods; ++i) {
    const nlohmann::json selection = nlohmann::json::array(
        {{{"name", "ip-192"}, {"ips", {fmt::format("192.168.111.{}/24", 10 + i)}}, {"mac", fmt::format("20:01:02:03:04:{:02x}", i)}}});
    const nlohmann::json pod = {{"apiVersion", "v1"},
                                {"kind", "Pod"},
                                {"metadata",
                                 {{"name", fmt::format("app-{}", i)},
                                  {"namespace", "default"},
                                  {"uid", fmt::format("uid-{}", i)},
                                  {"annotations", {{"k8s.v1.cni.cncf.io/networks", selection.dump()}}}}}};
    work.write(fmt::format("store/pod-{}.json", i), pod.dump());
  }
  // Thick mode's log: the daemon's logFile gets every call's plugin lines (checked below).
  const auto log_file = work.path() / "plexusd-file.log";
  const auto config_file = write_daemon_config(
      work, {{"manifestStore", (work.path() / "store").string()}, {"logFile", log_file.string()}, {"logLevel", "verbose"}});
  const auto socket = work.path() / "run" / "plexus.sock";
  PlexusdProcess plexusd(config_file, socket, work.path() / "plexusd.log", topology.host.name());
  ASSERT_TRUE(plexusd.wait_ready()) << plexusd.log();

  // eth0 in each pod: macvlan + host-local, inline; net1: ip-192 from the annotation.
  const nlohmann::json meta = {
      {"cniVersion", "1.0.0"},
      {"name", "plexus-daemon-64"},
      {"type", "plexus"},
      {"daemonSocket", socket.string()},
      {"delegates",
       {{{"cniVersion", "1.0.0"},
         {"name", "cluster"},
         {"type", "macvlan"},
         {"master", "eth0"},
         {"mode", "bridge"},
         {"ipam", {{"type", "host-local"}, {"subnet", "10.244.1.0/24"}, {"dataDir", (work.path() / "ipam").string()}}}}}},
      {"cniDir", (work.path() / "cache").string()},
      {"confDir", (work.path() / "net.d").string()},
      {"binDir", PLEXUS_CNI_BIN_DIR}};
  const auto request_for = [&](const std::string& command, int i) {
    return cni_request(command, fmt::format("ctr-{}", i), meta.dump(), "default", fmt::format("app-{}", i), pods[static_cast<std::size_t>(i)]->path());
  };
  const auto run_all = [&](const std::string& command) {
    std::vector<std::future<cni::Reply>> replies;
    for (int i = 0; i < kPods; ++i) {
      replies.push_back(std::async(std::launch::async, [&, i] { return daemon::call_daemon(socket, request_for(command, i)); }));
    }
    std::vector<cni::Reply> out;
    for (auto& reply : replies) out.push_back(reply.get());
    return out;
  };

  const auto added = run_all("ADD");
  std::set<std::string> cluster_ips;
  for (int i = 0; i < kPods; ++i) {
    const auto& reply = added[static_cast<std::size_t>(i)];
    ASSERT_EQ(reply.exit_code, 0) << i << ": " << reply.stdout_data << "\n" << plexusd.log();
    const auto links = pods[static_cast<std::size_t>(i)]->exec_json("ip -j addr show");
    bool saw_eth0 = false;
    bool saw_net1 = false;
    for (const auto& link : links) {
      const auto name = link.value("ifname", "");
      for (const auto& address : link.value("addr_info", nlohmann::json::array())) {
        if (address.value("family", "") != "inet") continue;
        if (name == "eth0") {
          saw_eth0 = true;
          cluster_ips.insert(address.value("local", ""));
        }
        if (name == "net1") {
          saw_net1 = true;
          EXPECT_EQ(address.value("local", ""), fmt::format("192.168.111.{}", 10 + i));
          EXPECT_EQ(address.value("prefixlen", 0), 24);
          EXPECT_EQ(link.value("address", ""), fmt::format("20:01:02:03:04:{:02x}", i));
        }
      }
    }
    EXPECT_TRUE(saw_eth0) << i;
    EXPECT_TRUE(saw_net1) << i;
  }
  EXPECT_EQ(cluster_ips.size(), static_cast<std::size_t>(kPods)) << "host-local handed out a duplicate";
  // Each pod's in-process macvlan logged through the ABI's host log into plexusd's logFile (0600).
  const auto logged = read_file(log_file);
  for (int i = 0; i < kPods; ++i) {
    EXPECT_NE(logged.find(fmt::format("[verbose] [ctr-{}] plugin: macvlan net1 on eth0 (mode bridge, mac 20:01:02:03:04:{:02x})", i, i)),
              std::string::npos)
        << i << "\n" << logged.substr(0, 2000);
  }
  EXPECT_EQ(fs::status(log_file).permissions(), fs::perms::owner_read | fs::perms::owner_write);

  const auto deleted = run_all("DEL");
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(deleted[static_cast<std::size_t>(i)].exit_code, 0) << deleted[static_cast<std::size_t>(i)].stdout_data;
    const auto links = pods[static_cast<std::size_t>(i)]->exec_json("ip -j link show");
    ASSERT_EQ(links.size(), 1U) << i << ": " << links.dump();
    EXPECT_EQ(links[0].value("ifname", ""), "lo");
  }
  // Neither the delegate cache nor libcni's result cache (cache/results) keeps an entry.
  std::vector<std::string> left;
  for (const auto& entry : fs::recursive_directory_iterator(work.path() / "cache")) {
    if (!entry.is_directory()) left.push_back(entry.path().string());
  }
  EXPECT_TRUE(left.empty()) << "cache entries left behind: " << left.size() << ", first " << (left.empty() ? "" : left.front());
  // The host namespace holds only what the test made.
  EXPECT_EQ(topology.host.exec_json("ip -j link show").size(), 3U);

  plexusd.signal(SIGTERM);
  const int status = plexusd.wait_exit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << plexusd.log();
  EXPECT_FALSE(fs::exists(socket));
}

TEST(PlexusdProcess, SigtermDuringCallsAnswersEveryOne) {
  PLEXUS_REQUIRE_ROOT();
  TempDir work;
  write_recorder(work.path() / "bin", work.path(), "1");
  // A CNI config beside the socket, as an installer would write: plexusd must leave it alone.
  const auto cni_config = work.write("net.d/00-plexus.conf", recorder_meta_config(work.path()));
  const auto config_file = write_daemon_config(work);
  const auto socket = work.path() / "run" / "plexus.sock";
  PlexusdProcess plexusd(config_file, socket, work.path() / "plexusd.log");
  ASSERT_TRUE(plexusd.wait_ready()) << plexusd.log();

  constexpr int kCalls = 12;
  const auto config = recorder_meta_config(work.path());
  std::vector<std::future<cni::Reply>> replies;
  for (int i = 0; i < kCalls; ++i) {
    replies.push_back(std::async(std::launch::async, [&, i] {
      return daemon::call_daemon(socket, cni_request("ADD", fmt::format("term-{}", i), config));
    }));
  }
  // Every call has reached its delegate before the signal.
  const auto started = [&] {
    const auto log = read_file(work.path() / "calls.log");
    int count = 0;
    for (auto at = log.find("start "); at != std::string::npos; at = log.find("start ", at + 1)) ++count;
    return count;
  };
  ASSERT_TRUE(eventually([&] { return started() >= kCalls; }, std::chrono::seconds(10))) << started();
  plexusd.signal(SIGTERM);
  // While it drains, readiness says so (or the socket is already gone). The signal is handled
  // asynchronously, so a probe sent right after kill() may still see 200: wait for the change.
  EXPECT_TRUE(eventually(
      [&] {
        try {
          return daemon::http_over_unix(socket, "GET", "/readyz").status == 500;
        } catch (const daemon::DaemonUnavailable&) {
          return true;
        }
      },
      std::chrono::seconds(5)));
  for (auto& reply : replies) {
    const auto answered = reply.get();
    EXPECT_EQ(answered.exit_code, 0) << answered.stdout_data;
    EXPECT_NE(answered.stdout_data.find("10.9.0.1/24"), std::string::npos) << answered.stdout_data;
  }
  const int status = plexusd.wait_exit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << plexusd.log();
  EXPECT_FALSE(fs::exists(socket));
  EXPECT_TRUE(fs::exists(cni_config)) << "plexusd must not delete CNI config on shutdown";
  EXPECT_EQ(recorded_calls(work.path()).size(), static_cast<std::size_t>(kCalls));
  // New calls are refused once it is gone.
  EXPECT_THROW(daemon::call_daemon(socket, cni_request("ADD", "late", config)), daemon::DaemonUnavailable);
}

}  // namespace
}  // namespace plexus::test
