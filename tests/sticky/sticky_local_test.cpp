// The motivating workload as a StatefulSet, in local mode: `plexus attach` of replicas web-0 and
// web-1 (derived from a StatefulSet manifest in the store) in pod namespaces the test makes, each
// getting its own pool slot on net1 (a real macvlan on the test host's veth, the MAC and IP read
// back from the kernel); a replica detached and re-attached in a new namespace gets the same pair;
// another StatefulSet with an overlapping range is refused with nothing attached; removing the
// StatefulSet's manifest releases every claim.
#include "netns.hpp"
#include "privileged.hpp"
#include "temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using plexus::test::check_output;
using plexus::test::MacvlanTopology;
using plexus::test::run_command;
using plexus::test::shell_quote;
using plexus::test::TempDir;
using plexus::test::TestNetns;
using ::testing::HasSubstr;

constexpr const char* kManifests = R"(
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: ip-192, namespace: default}
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","master":"eth0","mode":"bridge",
    "capabilities":{"ips":true,"mac":true},
    "ipam":{"type":"sticky","range":"192.168.111.10-192.168.111.20/24","mac":{"prefix":"20:01:02:03:04","start":5}}}'
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: licensed-app, namespace: default, uid: 6b1d3c52-0000-4000-8000-000000000001}
spec:
  replicas: 3
  template:
    metadata:
      annotations:
        k8s.v1.cni.cncf.io/networks: ip-192
)";

constexpr const char* kOverlapping = R"(
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: ip-db, namespace: default}
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-db","type":"macvlan","master":"eth0","capabilities":{"ips":true,"mac":true},
    "ipam":{"type":"sticky","range":"192.168.111.10-192.168.111.12/24","mac":{"prefix":"20:01:02:03:05"}}}'
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default, uid: 6b1d3c52-0000-4000-8000-000000000002}
spec:
  replicas: 1
  template:
    metadata:
      annotations:
        k8s.v1.cni.cncf.io/networks: ip-db
)";

class StickyLocalMode : public ::testing::Test {
 protected:
  void SetUp() override {
    PLEXUS_REQUIRE_ROOT();
    topology_ = std::make_unique<MacvlanTopology>();
    store_.write("licensed-app.yaml", kManifests);
    store_.write("plexus.conf", R"({"cniVersion":"1.0.0","name":"plexus","type":"plexus","cniDir":")" + (work_.path() / "cache").string() +
                                     R"(","pluginDirs":[")" PLEXUS_PLUGIN_DIR R"("],"binDir":")" PLEXUS_CNI_BIN_DIR R"(",
      "delegates":[{"cniVersion":"1.0.0","name":"lo","type":"loopback"}]})");
    fs::rename(store_.path() / "plexus.conf", work_.path() / "plexus.conf");
  }

  plexus::test::CommandResult plexus(const std::string& verb, const std::string& pod, const TestNetns& netns,
                                     const std::string& node = "node-a") const {
    return topology_->host.run(std::string(PLEXUS_BUILD_DIR) + "/bin/plexus " + verb + " --config " +
                               shell_quote((work_.path() / "plexus.conf").string()) + " --store " + shell_quote(store_.path().string()) +
                               " --pod default/" + pod + " --netns " + shell_quote(netns.path()) + " --node " + node);
  }
  std::string claims() const {
    return check_output(std::string(PLEXUS_BUILD_DIR) + "/bin/plexus claims --store " + shell_quote(store_.path().string()));
  }
  // net1's MAC and IPv4 address/prefix, as the kernel has them.
  static std::pair<std::string, std::string> net1(const TestNetns& netns) {
    const auto link = netns.exec_json("ip -j addr show net1").at(0);
    std::string ipv4;
    for (const auto& address : link.at("addr_info")) {
      if (address.at("family") == "inet") ipv4 = address.at("local").get<std::string>() + "/" + std::to_string(address.at("prefixlen").get<int>());
    }
    return {link.at("address").get<std::string>(), ipv4};
  }

  TempDir work_{"sticky-work"};
  TempDir store_{"sticky-store"};
  std::unique_ptr<MacvlanTopology> topology_;
};

TEST_F(StickyLocalMode, ReplicasKeepTheirPairAcrossRestartsAndAreReleasedWithTheStatefulSet) {
  TestNetns second("pod");
  const auto first = plexus("attach", "licensed-app-0", topology_->pod);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto attached = plexus("attach", "licensed-app-1", second, "node-b");
  ASSERT_EQ(attached.exit_code, 0) << attached.output;
  EXPECT_THAT(attached.output, HasSubstr("\"mac\": \"20:01:02:03:04:06\"")) << "network-status shows the MAC";
  EXPECT_EQ(net1(topology_->pod), (std::pair<std::string, std::string>{"20:01:02:03:04:05", "192.168.111.10/24"}));
  EXPECT_EQ(net1(second), (std::pair<std::string, std::string>{"20:01:02:03:04:06", "192.168.111.11/24"}));
  const auto table = claims();
  EXPECT_THAT(table, HasSubstr("default-192-168-111-10"));
  EXPECT_THAT(table, HasSubstr("node-b"));

  // Restart of replica 0 on another "node": detach, then attach into a fresh namespace.
  ASSERT_EQ(plexus("detach", "licensed-app-0", topology_->pod).exit_code, 0);
  EXPECT_NE(topology_->pod.run("ip link show net1").exit_code, 0);
  TestNetns restarted("pod");
  const auto again = plexus("attach", "licensed-app-0", restarted, "node-b");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(net1(restarted), (std::pair<std::string, std::string>{"20:01:02:03:04:05", "192.168.111.10/24"}));

  // A second StatefulSet whose range overlaps: refused, naming the holder, nothing attached.
  store_.write("db.yaml", kOverlapping);
  TestNetns db("pod");
  const auto links_before = db.exec_json("ip -j link show");
  const auto refused = plexus("attach", "db-0", db);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("is held by StatefulSet default/licensed-app"));
  EXPECT_EQ(db.exec_json("ip -j link show"), links_before);
  EXPECT_EQ(run_command("ip -n " + topology_->host.name() + " -j link show type macvlan").output.find("20:01:02:03:05"), std::string::npos);

  // Deleting the StatefulSet: its claims are released; db-0 can now have the address.
  ASSERT_EQ(plexus("detach", "licensed-app-0", restarted).exit_code, 0);
  ASSERT_EQ(plexus("detach", "licensed-app-1", second).exit_code, 0);
  fs::remove(store_.path() / "licensed-app.yaml");
  const auto released = claims();
  EXPECT_THAT(released, HasSubstr("released default-192-168-111-10"));
  EXPECT_THAT(released, HasSubstr("released default-192-168-111-11"));
  EXPECT_TRUE(fs::is_empty(store_.path() / "claims") ||
              std::none_of(fs::directory_iterator(store_.path() / "claims"), fs::directory_iterator(),
                           [](const fs::directory_entry& e) { return e.path().extension() == ".json"; }));
  const auto won = plexus("attach", "db-0", db);
  ASSERT_EQ(won.exit_code, 0) << won.output;
  EXPECT_EQ(net1(db), (std::pair<std::string, std::string>{"20:01:02:03:05:00", "192.168.111.10/24"}));
  ASSERT_EQ(plexus("detach", "db-0", db).exit_code, 0);
}

}  // namespace
