// The motivating workload as a StatefulSet against the API server, end to end: the built `plexus`
// exec'd as kubelet execs it (CNI_* env, config on stdin) in a test "host" namespace whose eth0 is
// the macvlan master, the pods, StatefulSets and NADs in the fake kube-apiserver (real TLS on the
// host namespace's loopback), claims as StickyClaim objects. Two "nodes" are two plexus processes
// started together. MACs and addresses are read back from the kernel.
#include "fake_apiserver.hpp"
#include "netns.hpp"
#include "privileged.hpp"
#include "temp_dir.hpp"

#include <plexus/net/netns.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using plexus::test::FakeApiServer;
using plexus::test::MacvlanTopology;
using plexus::test::shell_quote;
using plexus::test::TempDir;
using plexus::test::TestNetns;
using ::testing::HasSubstr;

constexpr const char* kToken = "sticky-e2e-token";
constexpr const char* kClaimsPath = "/apis/k8s.plexus.dev/v1alpha1/stickyclaims";

json sticky_nad(const std::string& ns, const std::string& name, const std::string& range, const std::string& mac_prefix,
                const std::string& pool = "") {
  json ipam{{"type", "sticky"}, {"range", range}, {"mac", {{"prefix", mac_prefix}, {"start", 5}}}};
  if (!pool.empty()) ipam["pool"] = pool;
  const json config{{"cniVersion", "1.0.0"}, {"name", name}, {"type", "macvlan"}, {"master", "eth0"}, {"mode", "bridge"},
                    {"capabilities", {{"ips", true}, {"mac", true}}}, {"ipam", ipam}};
  return json{{"apiVersion", "k8s.cni.cncf.io/v1"},
              {"kind", "NetworkAttachmentDefinition"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"config", config.dump()}}}};
}

class StickyApiE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    PLEXUS_REQUIRE_ROOT();
    topology_ = std::make_unique<MacvlanTopology>();
    api_ = plexus::net::in_netns(fs::path(topology_->host.path()), [] { return std::make_unique<FakeApiServer>(); });
    api_->accept_token(kToken, "system:serviceaccount:kube-system:plexus");
    work_.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + api_->url() +
                                  "\n    certificate-authority: " + api_->ca_file().string() +
                                  "\nusers:\n- name: plexus\n  user:\n    token: " + kToken +
                                  "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: plexus\ncurrent-context: fake\n");
    config_ = json{{"cniVersion", "1.0.0"},
                   {"name", "plexus"},
                   {"type", "plexus"},
                   {"kubeconfig", (work_.path() / "kubeconfig").string()},
                   {"cniDir", (work_.path() / "cache").string()},
                   {"pluginDirs", json::array({PLEXUS_PLUGIN_DIR})},
                   {"binDir", PLEXUS_CNI_BIN_DIR},
                   {"delegates", json::array({{{"cniVersion", "1.0.0"}, {"name", "lo"}, {"type", "loopback"}}})}};
    work_.write("plexus.conf", config_.dump());
    api_->put_network_attachment_definition(sticky_nad("default", "ip-192-sticky", "192.168.111.10-192.168.111.19/24", "20:01:02:03:04"));
  }
  void TearDown() override {
    if (api_) api_->stop();
  }

  // A StatefulSet and its replica pods as the controller makes them. Returns the uid.
  std::string add_statefulset(const std::string& ns, const std::string& name, int replicas, const std::string& network) {
    const auto stored = api_->put_statefulset(json{{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", {{"replicas", replicas}}}});
    statefulset_uids_[ns + "/" + name] = stored["metadata"]["uid"].get<std::string>();
    networks_[ns + "/" + name] = network;
    for (int k = 0; k < replicas; ++k) add_replica(ns, name, k);
    return stored["metadata"]["uid"].get<std::string>();
  }
  // (Re)creates replica k: a new pod object with a new uid, as after a delete.
  void add_replica(const std::string& ns, const std::string& statefulset, int ordinal) {
    const auto name = statefulset + "-" + std::to_string(ordinal);
    api_->put_pod(json{{"metadata",
                        {{"name", name},
                         {"namespace", ns},
                         {"annotations", {{"k8s.v1.cni.cncf.io/networks", networks_[ns + "/" + statefulset]}}},
                         {"labels", {{"apps.kubernetes.io/pod-index", std::to_string(ordinal)}}},
                         {"ownerReferences", json::array({{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"name", statefulset},
                                                           {"uid", statefulset_uids_[ns + "/" + statefulset]}, {"controller", true}}})}}},
                       {"spec", {{"nodeName", "node-a"}}}});
  }

  // kubelet's call on node `node`: plexus exec'd in the host namespace with CNI_* set.
  plexus::test::CommandResult cni(const std::string& command, const std::string& ns, const std::string& pod, const TestNetns& netns,
                                  const std::string& node) const {
    const auto container = "c-" + netns.name();
    return topology_->host.run(
        "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NODE_NAME=" + node + " CNI_COMMAND=" + command + " CNI_CONTAINERID=" + container +
        " CNI_NETNS=" + shell_quote(netns.path()) + " CNI_IFNAME=eth0 CNI_PATH=" + PLEXUS_CNI_BIN_DIR +
        " CNI_ARGS=" + shell_quote("IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + pod + ";K8S_POD_INFRA_CONTAINER_ID=" + container) +
        " " + std::string(PLEXUS_BUILD_DIR) + "/bin/plexus < " + shell_quote((work_.path() / "plexus.conf").string()) + " 2>/dev/null");
  }
  std::future<plexus::test::CommandResult> cni_async(const std::string& ns, const std::string& pod, const TestNetns& netns,
                                                     const std::string& node) const {
    return std::async(std::launch::async, [this, ns, pod, sandbox = &netns, node] { return cni("ADD", ns, pod, *sandbox, node); });
  }

  // net1's MAC and IPv4 address/prefix, as the kernel has them; empty when there is no net1.
  static std::pair<std::string, std::string> net1(const TestNetns& netns) {
    const auto links = netns.exec_json("ip -j addr show");
    for (const auto& link : links) {
      if (link.at("ifname") != "net1") continue;
      std::string ipv4;
      for (const auto& address : link.at("addr_info")) {
        if (address.at("family") == "inet") ipv4 = address.at("local").get<std::string>() + "/" + std::to_string(address.at("prefixlen").get<int>());
      }
      return {link.at("address").get<std::string>(), ipv4};
    }
    return {};
  }
  static std::vector<std::string> links(const TestNetns& netns) {
    std::vector<std::string> names;
    for (const auto& link : netns.exec_json("ip -j link show")) names.push_back(link.at("ifname").get<std::string>());
    return names;
  }
  std::string network_status(const std::string& ns, const std::string& pod) const {
    const auto object = api_->pod(ns, pod);
    if (!object) return {};
    return object->at("metadata").value("annotations", json::object()).value("k8s.v1.cni.cncf.io/network-status", "");
  }

  TempDir work_{"sticky-api-e2e"};
  std::unique_ptr<MacvlanTopology> topology_;
  std::unique_ptr<FakeApiServer> api_;
  json config_;
  std::map<std::string, std::string> statefulset_uids_;
  std::map<std::string, std::string> networks_;
};

TEST_F(StickyApiE2e, ThreeReplicasOnTwoNodesKeepTheirPairAcrossARestartAndAreSweptAfterTheStatefulSet) {
  add_statefulset("default", "licensed-app", 3, "ip-192-sticky");
  TestNetns pod1("pod");
  TestNetns pod2("pod");
  const TestNetns& pod0 = topology_->pod;
  // Replicas 0 and 1 start at the same moment on two nodes; then replica 2.
  auto first = cni_async("default", "licensed-app-0", pod0, "node-a");
  auto second = cni_async("default", "licensed-app-1", pod1, "node-b");
  const auto r0 = first.get();
  const auto r1 = second.get();
  ASSERT_EQ(r0.exit_code, 0) << r0.output;
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const auto r2 = cni("ADD", "default", "licensed-app-2", pod2, "node-a");
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(net1(pod0), (Pair{"20:01:02:03:04:05", "192.168.111.10/24"}));
  EXPECT_EQ(net1(pod1), (Pair{"20:01:02:03:04:06", "192.168.111.11/24"}));
  EXPECT_EQ(net1(pod2), (Pair{"20:01:02:03:04:07", "192.168.111.12/24"}));
  EXPECT_THAT(network_status("default", "licensed-app-1"), HasSubstr("\"mac\": \"20:01:02:03:04:06\""));
  auto claims = api_->sticky_claims();
  ASSERT_EQ(claims.size(), 3U);
  EXPECT_EQ(claims.at("default-192-168-111-11")["spec"]["node"], "node-b");
  EXPECT_EQ(claims.at("default-192-168-111-11")["spec"]["holder"]["ordinal"], 1);

  // Restart of replica 1: kubelet's DEL, the pod object deleted and re-created (a new uid), the
  // new sandbox on another node.
  const auto deleted = cni("DEL", "default", "licensed-app-1", pod1, "node-b");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(net1(pod1), Pair{});
  EXPECT_EQ(api_->sticky_claims().size(), 3U) << "a replica's DEL keeps its claim";
  api_->delete_pod("default", "licensed-app-1");
  add_replica("default", "licensed-app", 1);
  TestNetns restarted("pod");
  const auto again = cni("ADD", "default", "licensed-app-1", restarted, "node-c");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(net1(restarted), (Pair{"20:01:02:03:04:06", "192.168.111.11/24"}));

  // A StatefulSet in another namespace whose range overlaps: code 7 naming the holder, nothing
  // attached, no claim written.
  api_->put_network_attachment_definition(sticky_nad("team-b", "ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05"));
  add_statefulset("team-b", "db", 1, "ip-db");
  TestNetns db("pod");
  const auto refused = cni("ADD", "team-b", "db-0", db, "node-b");
  EXPECT_EQ(refused.exit_code, 1);
  const auto error = json::parse(refused.output);
  EXPECT_EQ(error["code"], 7);
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("is held by StatefulSet default/licensed-app"));
  EXPECT_THAT(links(db), ::testing::ElementsAre("lo"));
  EXPECT_EQ(api_->sticky_claims().size(), 3U);

  // The StatefulSet deleted: the sweep deletes its claims; db-0 then gets the address.
  ASSERT_EQ(cni("DEL", "default", "licensed-app-0", pod0, "node-a").exit_code, 0);
  ASSERT_EQ(cni("DEL", "default", "licensed-app-1", restarted, "node-c").exit_code, 0);
  ASSERT_EQ(cni("DEL", "default", "licensed-app-2", pod2, "node-a").exit_code, 0);
  api_->delete_statefulset("default", "licensed-app");
  for (int k = 0; k < 3; ++k) api_->delete_pod("default", "licensed-app-" + std::to_string(k));
  const auto swept = topology_->host.run(std::string(PLEXUS_BUILD_DIR) + "/bin/plexus claims --kubeconfig " +
                                         shell_quote((work_.path() / "kubeconfig").string()));
  ASSERT_EQ(swept.exit_code, 0) << swept.output;
  EXPECT_THAT(swept.output, HasSubstr("released default-192-168-111-10"));
  EXPECT_THAT(swept.output, HasSubstr("released default-192-168-111-12"));
  EXPECT_TRUE(api_->sticky_claims().empty());
  const auto won = cni("ADD", "team-b", "db-0", db, "node-b");
  ASSERT_EQ(won.exit_code, 0) << won.output;
  EXPECT_EQ(net1(db), (Pair{"20:01:02:03:05:05", "192.168.111.10/24"}));
}

TEST_F(StickyApiE2e, ApiServerDownAtTheClaimIsCode11WithNothingAttached) {
  add_statefulset("default", "licensed-app", 1, "ip-192-sticky");
  const auto host_links = links(topology_->host);
  // No answer, twice: libcurl sends a request again, once, on a fresh connection when a reused
  // one closes before any answer.
  api_->fail_under_path("POST", kClaimsPath, 2, 0);
  const auto failed = cni("ADD", "default", "licensed-app-0", topology_->pod, "node-a");
  EXPECT_EQ(failed.exit_code, 1);
  const auto error = json::parse(failed.output);
  EXPECT_EQ(error["code"], 11) << failed.output;
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("the API server is unavailable"));
  EXPECT_THAT(links(topology_->pod), ::testing::ElementsAre("lo"));
  EXPECT_EQ(links(topology_->host), host_links);
  EXPECT_TRUE(api_->sticky_claims().empty());
  // kubelet retries once the API server answers: the replica gets its pair.
  const auto retried = cni("ADD", "default", "licensed-app-0", topology_->pod, "node-a");
  ASSERT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_EQ(net1(topology_->pod), (std::pair<std::string, std::string>{"20:01:02:03:04:05", "192.168.111.10/24"}));
}

TEST_F(StickyApiE2e, TwoNodesRacingForAnAddressOfOverlappingRangesExactlyOneAttaches) {
  add_statefulset("default", "licensed-app", 1, "ip-192-sticky");
  api_->put_network_attachment_definition(sticky_nad("team-b", "ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05"));
  add_statefulset("team-b", "db", 1, "ip-db");
  TestNetns db("pod");
  auto app = cni_async("default", "licensed-app-0", topology_->pod, "node-a");
  auto other = cni_async("team-b", "db-0", db, "node-b");
  const auto ra = app.get();
  const auto rb = other.get();
  ASSERT_NE(ra.exit_code == 0, rb.exit_code == 0) << ra.output << "\n" << rb.output;
  const auto& loser_netns = ra.exit_code == 0 ? db : topology_->pod;
  const auto& loser = ra.exit_code == 0 ? rb : ra;
  EXPECT_EQ(json::parse(loser.output)["code"], 7) << loser.output;
  EXPECT_THAT(links(loser_netns), ::testing::ElementsAre("lo"));
  EXPECT_EQ(api_->sticky_claims().size(), 1U);
}

}  // namespace
