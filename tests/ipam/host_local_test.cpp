// host-local against Debian's reference plugin. Each comparison runs the same operations twice,
// against two data directories: one served only by the reference, one by plexus (in-process or
// the binary, the test's parameter), then compares the replies and the directories' files. The
// carry-over tests hand one directory back and forth between the two implementations.
#include "ipam_harness.hpp"

#include <plexus/cni/result.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

namespace plexus::ipam_test {
namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every file of a network directory and its content (the lock is empty, so it shows as "").
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) files[entry.path().filename().string()] = read_text(entry.path());
  return files;
}

unsigned mode_of(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return info.st_mode & 07777U;
}

enum class Side { reference, plexus };

class HostLocalTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { trio_ = std::make_unique<PluginTrio>("host-local"); }
  static void TearDownTestSuite() { trio_.reset(); }

  fs::path data_dir(Side side) const { return root_.path() / (side == Side::reference ? "ref" : "plexus"); }
  fs::path network_dir(Side side) const { return data_dir(side) / "net"; }

  // The config with its dataDir pointing at `dir`.
  static std::string config_for(const std::string& ipam_body, const fs::path& dir, const std::string& version,
                                const std::string& extra) {
    return fill(R"({"cniVersion":"{version}","name":"net","ipam":{"type":"host-local","dataDir":"{dir}",{body}}{extra}})",
                {{"version", version}, {"dir", dir.string()}, {"body", ipam_body}, {"extra", extra}});
  }

  cni::Reply run_on(Side runner, Side dir, const std::string& command, const std::string& ipam_body,
                    const std::string& container_id, const std::string& args = {}, const std::string& version = "0.4.0",
                    const std::string& extra = {}, const std::string& ifname = "eth0") const {
    const auto request = make_request(command, config_for(ipam_body, data_dir(dir), version, extra), args, container_id, ifname);
    if (runner == Side::reference) return trio_->reference(request);
    return GetParam() == "so" ? trio_->in_process(request) : trio_->standalone(request);
  }

  // The same operation on both sides, each against its own directory; returns plexus's reply.
  cni::Reply both(const std::string& command, const std::string& ipam_body, const std::string& container_id,
                  const std::string& args = {}, const std::string& version = "0.4.0", const std::string& extra = {},
                  const std::string& ifname = "eth0") const {
    const auto reference = run_on(Side::reference, Side::reference, command, ipam_body, container_id, args, version, extra, ifname);
    const auto plexus = run_on(Side::plexus, Side::plexus, command, ipam_body, container_id, args, version, extra, ifname);
    expect_same_reply(reference, plexus, version, command + " " + container_id);
    return plexus;
  }

  void expect_same_files() const {
    EXPECT_EQ(snapshot(network_dir(Side::plexus)), snapshot(network_dir(Side::reference)));
  }

  static std::string allocated(const cni::Reply& reply) {
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    return result.ips.empty() ? std::string() : result.ips.front().address.ip().to_string();
  }

  static inline std::unique_ptr<PluginTrio> trio_;
  TempDir root_;
};

const std::string kSmallRange = R"("subnet":"10.1.2.0/29")";  // .1 gateway, .2-.6 allocatable

TEST_P(HostLocalTest, AllocationOrderAndRoundRobinMatchTheReference) {
  for (const auto* id : {"c1", "c2", "c3"}) EXPECT_EQ(both("ADD", kSmallRange, id).exit_code, 0);
  EXPECT_EQ(both("DEL", kSmallRange, "c2").exit_code, 0);
  // Round robin: the freed .3 is not reused before the range wraps.
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "c4")), "10.1.2.5");
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "c5")), "10.1.2.6");
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "c6")), "10.1.2.3");  // wrapped, gateway skipped
  const auto exhausted = both("ADD", kSmallRange, "c7");
  EXPECT_EQ(cni::Error::from_json(exhausted.stdout_data)->msg(),
            "failed to allocate for range 0: no IP addresses available in range set: 10.1.2.1-10.1.2.6");
  expect_same_files();
}

TEST_P(HostLocalTest, AllocationsCarryOverInBothDirections) {
  // One directory; the reference and plexus take turns. Each continues after the other's
  // last_reserved_ip and sees the other's files as taken.
  const std::string range = R"("subnet":"10.1.3.0/28")";
  const auto reference_first = run_on(Side::reference, Side::plexus, "ADD", range, "a1");
  EXPECT_EQ(allocated(reference_first), "10.1.3.2");
  EXPECT_EQ(allocated(run_on(Side::plexus, Side::plexus, "ADD", range, "a2")), "10.1.3.3");
  EXPECT_EQ(allocated(run_on(Side::reference, Side::plexus, "ADD", range, "a3")), "10.1.3.4");
  EXPECT_EQ(allocated(run_on(Side::plexus, Side::plexus, "ADD", range, "a4")), "10.1.3.5");
  // Each frees what the other allocated, and finds it for CHECK first.
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "CHECK", range, "a1").exit_code, 0);
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "DEL", range, "a1").exit_code, 0);
  EXPECT_EQ(run_on(Side::reference, Side::plexus, "CHECK", range, "a2").exit_code, 0);
  EXPECT_EQ(run_on(Side::reference, Side::plexus, "DEL", range, "a2").exit_code, 0);
  // A duplicate ADD is refused whoever made the first one.
  const auto duplicate = run_on(Side::reference, Side::plexus, "ADD", range, "a4");
  EXPECT_EQ(cni::Error::from_json(duplicate.stdout_data)->msg(),
            "failed to allocate for range 0: 10.1.3.5 has been allocated to a4, duplicate allocation is not allowed");
  const auto files = snapshot(network_dir(Side::plexus));
  EXPECT_EQ(files.count("10.1.3.2"), 0U);
  EXPECT_EQ(files.count("10.1.3.3"), 0U);
  EXPECT_EQ(files.at("10.1.3.4"), "a3\r\neth0");
  EXPECT_EQ(files.at("10.1.3.5"), "a4\r\neth0");
  EXPECT_EQ(files.at("last_reserved_ip.0"), "10.1.3.5");
}

TEST_P(HostLocalTest, FilesHoldTheOwnerAndAreCreatedPrivately) {
  const auto reply = run_on(Side::plexus, Side::plexus, "ADD", kSmallRange, "owner-1", {}, "0.4.0", {}, "net7");
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  const auto dir = network_dir(Side::plexus);
  EXPECT_EQ(read_text(dir / "10.1.2.2"), "owner-1\r\nnet7");
  EXPECT_EQ(mode_of(dir / "10.1.2.2"), 0600U);
  EXPECT_EQ(read_text(dir / "last_reserved_ip.0"), "10.1.2.2");
  EXPECT_EQ(mode_of(dir / "last_reserved_ip.0"), 0600U);
  EXPECT_TRUE(fs::exists(dir / "lock"));
  EXPECT_EQ(snapshot(dir).size(), 3U);
}

TEST_P(HostLocalTest, LegacyFilesWithOnlyTheContainerIdAreFoundAndReleased) {
  const auto dir = network_dir(Side::plexus);
  fs::create_directories(dir);
  std::ofstream(dir / "10.1.2.4") << "old-ctr";
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "CHECK", kSmallRange, "old-ctr").exit_code, 0);
  // The duplicate check sees it too.
  EXPECT_NE(run_on(Side::plexus, Side::plexus, "ADD", kSmallRange, "old-ctr").stdout_data.find("duplicate allocation"),
            std::string::npos);
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "DEL", kSmallRange, "old-ctr").exit_code, 0);
  EXPECT_FALSE(fs::exists(dir / "10.1.2.4"));
  EXPECT_NE(run_on(Side::plexus, Side::plexus, "CHECK", kSmallRange, "old-ctr").exit_code, 0);
}

TEST_P(HostLocalTest, RequestedIpsFromEverySourceMatchTheReference) {
  const std::string range = R"("subnet":"10.1.4.0/24")";
  EXPECT_EQ(allocated(both("ADD", range, "r1", "IP=10.1.4.50")), "10.1.4.50");
  EXPECT_EQ(allocated(both("ADD", range, "r2", {}, "0.4.0", R"(,"args":{"cni":{"ips":["10.1.4.51"]}})")), "10.1.4.51");
  EXPECT_EQ(allocated(both("ADD", range, "r3", {}, "0.4.0", R"(,"runtimeConfig":{"ips":["10.1.4.52/24"]})")), "10.1.4.52");
  // Taken, the gateway, outside every range, not an IP at all.
  both("ADD", range, "r4", "IP=10.1.4.50");
  both("ADD", range, "r5", "IP=10.1.4.1");
  both("ADD", range, "r6", "IP=10.9.9.9");
  both("ADD", range, "r7", "IP=10.1.4.300");
  both("ADD", range, "r8", "K8S_POD_NAME=x;IP=10.1.4.60");
  EXPECT_EQ(allocated(both("ADD", range, "r9", "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.4.60")), "10.1.4.60");
  // Round robin continues after the last requested IP.
  EXPECT_EQ(allocated(both("ADD", range, "r10")), "10.1.4.61");
  expect_same_files();
}

TEST_P(HostLocalTest, DuplicateAddFailsAndDelThenReAddMovesOn) {
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "d1")), "10.1.2.2");
  const auto duplicate = both("ADD", kSmallRange, "d1");
  EXPECT_EQ(cni::Error::from_json(duplicate.stdout_data)->msg(),
            "failed to allocate for range 0: 10.1.2.2 has been allocated to d1, duplicate allocation is not allowed");
  // Another interface of the same container is another attachment.
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "d1", {}, "0.4.0", {}, "net1")), "10.1.2.3");
  EXPECT_EQ(both("DEL", kSmallRange, "d1").exit_code, 0);
  EXPECT_EQ(both("DEL", kSmallRange, "d1").exit_code, 0);  // idempotent
  EXPECT_NE(both("CHECK", kSmallRange, "d1").exit_code, 0);
  EXPECT_EQ(both("CHECK", kSmallRange, "d1", {}, "0.4.0", {}, "net1").exit_code, 0);
  EXPECT_EQ(allocated(both("ADD", kSmallRange, "d1")), "10.1.2.4");
  expect_same_files();
}

TEST_P(HostLocalTest, LegacyConfigKeysMatchTheReference) {
  const std::string legacy = R"("subnet":"10.1.5.0/24","rangeStart":"10.1.5.10","rangeEnd":"10.1.5.11","gateway":"10.1.5.10",
    "routes":[{"dst":"0.0.0.0/0"}])";
  for (const auto& version : {std::string("0.2.0"), std::string("0.3.1"), std::string("1.0.0")}) {
    // Start is the gateway, so it is skipped; two containers fill the range.
    const auto first = both("ADD", legacy, "l1-" + version, {}, version);
    EXPECT_EQ(first.exit_code, 0) << first.stdout_data;
    both("ADD", legacy, "l2-" + version, {}, version);
    both("DEL", legacy, "l1-" + version, {}, version);
  }
  expect_same_files();
}

TEST_P(HostLocalTest, DualStackRangesAndResolvConf) {
  const auto resolv = root_.path() / "resolv.conf";
  std::ofstream(resolv) << "# comment\nnameserver 192.0.2.0\nsearch a.example b.example\n  options ndots:5\ndomain example\n";
  const std::string ranges = fill(R"("resolvConf":"{resolv}","ranges":[
      [{"subnet":"10.1.6.0/24","rangeStart":"10.1.6.100"},{"subnet":"10.1.7.0/30"}],
      [{"subnet":"fd00:1::/120"}]],
    "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00:1::1"}])",
                                  {{"resolv", resolv.string()}});
  for (const auto& version : {std::string("0.3.0"), std::string("0.4.0"), std::string("1.0.0")}) {
    const auto reply = both("ADD", ranges, "ds-" + version, {}, version);
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 2U);
    EXPECT_TRUE(result.ips[0].address.ip().is_v4());
    EXPECT_TRUE(result.ips[1].address.ip().is_v6());
    EXPECT_EQ(result.dns.nameservers, std::vector<std::string>{"192.0.2.0"});
    EXPECT_EQ(result.dns.search, (std::vector<std::string>{"a.example", "b.example"}));
  }
  // Two v4 range sets are refused below 0.3.0; overlapping sets are refused always.
  both("ADD", R"("ranges":[[{"subnet":"10.1.8.0/24"}],[{"subnet":"10.1.9.0/24"}]])", "v", {}, "0.2.0");
  both("ADD", R"("ranges":[[{"subnet":"10.1.8.0/24"}],[{"subnet":"10.1.8.0/25"}]])", "v", {}, "0.4.0");
  expect_same_files();
}

TEST_P(HostLocalTest, RuntimeIpRangesArePrepended) {
  const std::string range = R"("ranges":[[{"subnet":"10.1.10.0/24"}]])";
  const auto reply = both("ADD", range, "rr", {}, "0.4.0", R"(,"runtimeConfig":{"ipRanges":[[{"subnet":"10.1.11.0/24"}]]})");
  const auto result = cni::parse_result(std::string_view(reply.stdout_data));
  ASSERT_EQ(result.ips.size(), 2U);
  EXPECT_EQ(result.ips[0].address.to_string(), "10.1.11.2/24");
  expect_same_files();
}

TEST_P(HostLocalTest, ConfigErrorsMatchTheReference) {
  const std::vector<std::string> bodies = {
      R"("subnet":"10.1.2.5/24")",
      R"("subnet":"10.1.2.0/31")",
      R"("subnet":"10.1.2.0/24","rangeStart":"10.1.3.1")",
      R"("subnet":"10.1.2.0/24","rangeEnd":"10.1.3.1")",
      R"("subnet":"10.1.2.0/24","rangeStart":"10.1.2.100","rangeEnd":"10.1.2.50")",
      R"("subnet":"10.1.2.0")",
      R"("subnet":"10.1.2.0/24","gateway":"nope")",
      R"("dataDir":"/tmp")",
      R"("ranges":[[]])",
      R"("ranges":[[{"subnet":"10.1.2.0/24"},{"subnet":"fd00::/64"}]])",
      R"("ranges":[[{"subnet":"10.1.2.0/24"},{"subnet":"10.1.2.0/25"}]])",
      R"("ranges":[[{"rangeStart":"10.1.2.3"}]])",
      R"("subnet":"10.1.2.0/24","resolvConf":"/nonexistent/resolv.conf")",
  };
  for (const auto& body : bodies) {
    const auto reply = both("ADD", body, "e1");
    EXPECT_EQ(reply.exit_code, 1) << body;
  }
  const auto no_ipam = make_request("ADD", R"({"cniVersion":"0.4.0","name":"net"})");
  expect_same_reply(trio_->reference(no_ipam), trio_->in_process(no_ipam), "0.4.0", "no ipam");
}

TEST_P(HostLocalTest, ParallelAddsGetDistinctIpsAndParallelDelsFreeThemAll) {
  const std::string range = R"("subnet":"10.2.0.0/24")";
  constexpr int kWorkers = 32;
  std::vector<std::string> ips(kWorkers);
  std::vector<int> codes(kWorkers, -1);
  std::atomic<bool> go{false};
  const auto in_parallel = [&](const std::string& command) {
    std::vector<std::thread> workers;
    for (int i = 0; i < kWorkers; ++i) {
      workers.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        // Half in-process (threads of this process), half exec'd binaries (processes); every one
        // of them takes the same flock.
        const auto request = make_request(command, config_for(range, data_dir(Side::plexus), "0.4.0", ""), {},
                                          "par-" + std::to_string(i));
        const auto reply = i % 2 == 0 ? trio_->in_process(request) : trio_->standalone(request);
        codes[static_cast<std::size_t>(i)] = reply.exit_code;
        if (command == "ADD" && reply.exit_code == 0) ips[static_cast<std::size_t>(i)] = allocated(reply);
      });
    }
    go = true;
    for (auto& worker : workers) worker.join();
    go = false;
  };
  in_parallel("ADD");
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 0), kWorkers);
  const std::set<std::string> distinct(ips.begin(), ips.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kWorkers));
  EXPECT_EQ(distinct.count(""), 0U);
  EXPECT_EQ(snapshot(network_dir(Side::plexus)).size(), static_cast<std::size_t>(kWorkers + 2));  // + lock, last_reserved_ip.0

  in_parallel("DEL");
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 0), kWorkers);
  std::set<std::string> left;
  for (const auto& [name, content] : snapshot(network_dir(Side::plexus))) left.insert(name);
  EXPECT_EQ(left, (std::set<std::string>{"last_reserved_ip.0", "lock"}));
}

TEST_P(HostLocalTest, GcReleasesAttachmentsThatAreNoLongerValid) {
  const std::string range = R"("subnet":"10.3.0.0/24")";
  for (const auto* id : {"g1", "g2", "g3"}) {
    ASSERT_EQ(run_on(Side::plexus, Side::plexus, "ADD", range, id, {}, "1.1.0").exit_code, 0);
  }
  const auto dir = network_dir(Side::plexus);
  std::ofstream(dir / "10.3.0.200") << "g1";  // a legacy file of a valid container survives
  const auto gc = run_on(Side::plexus, Side::plexus, "GC", range, "", {}, "1.1.0",
                         R"(,"cni.dev/valid-attachments":[{"containerID":"g1","ifname":"eth0"}])");
  EXPECT_EQ(gc.exit_code, 0) << gc.stdout_data;
  const auto files = snapshot(dir);
  EXPECT_EQ(files.count("10.3.0.2"), 1U);
  EXPECT_EQ(files.count("10.3.0.3"), 0U);
  EXPECT_EQ(files.count("10.3.0.4"), 0U);
  EXPECT_EQ(files.count("10.3.0.200"), 1U);
  // Without the key GC cannot tell stale from live and keeps everything.
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "GC", range, "", {}, "1.1.0").exit_code, 0);
  EXPECT_EQ(snapshot(dir).count("10.3.0.2"), 1U);
  EXPECT_EQ(run_on(Side::plexus, Side::plexus, "STATUS", range, "", {}, "1.1.0").exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(InProcessAndExec, HostLocalTest, ::testing::Values("so", "bin"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace plexus::ipam_test
