// The sticky IPAM's claims against the API server (no namespaces, no root): the claim store over
// StickyClaim objects on the fake kube-apiserver (real TLS on loopback), driven as plexus's ADD
// drives it (claim_sticky_networks with the pod read from the API). Replicas and their objects, a
// restart, another namespace's StatefulSet on an overlapping range, takeover from a deleted
// StatefulSet with a resourceVersion precondition (and losing that race), release of orphans,
// 100 claims, two real processes racing (sticky_claim_racer, exec'd), the API server down.
#include "fake_apiserver.hpp"
#include "netns.hpp"
#include "temp_dir.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/k8s/config.hpp>
#include <plexus/meta/k8s_claim_store.hpp>
#include <plexus/meta/k8s_source.hpp>
#include <plexus/meta/sticky_claims.hpp>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <set>

namespace plexus::meta {
namespace {

using nlohmann::json;
using test::FakeApiServer;
using test::shell_quote;
using test::TempDir;
using ::testing::HasSubstr;

constexpr const char* kToken = "sticky-node-token";

// A macvlan NAD's config with sticky IPAM on `range` (pool "default" unless `pool` is given).
std::string sticky_config(const std::string& name, const std::string& range, const std::string& mac_prefix = "20:01:02:03:04",
                          const std::string& pool = "") {
  json ipam{{"type", "sticky"}, {"range", range}, {"mac", {{"prefix", mac_prefix}, {"start", 5}}}};
  if (!pool.empty()) ipam["pool"] = pool;
  return json{{"cniVersion", "1.0.0"}, {"name", name}, {"type", "macvlan"}, {"master", "eth0"},
              {"capabilities", {{"ips", true}, {"mac", true}}}, {"ipam", ipam}}
      .dump();
}

class StickyApi : public ::testing::Test {
 protected:
  StickyApi() {
    server_.accept_token(kToken, "system:serviceaccount:kube-system:plexus");
    k8s::ClusterConfig config;
    config.server = server_.url();
    config.ca_pem = server_.ca().cert_pem();
    config.token = kToken;
    config.source = "test";
    k8s::ClientOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.request_timeout = std::chrono::milliseconds(5000);
    options.retry_interval = std::chrono::milliseconds(50);
    options.retry_window = std::chrono::milliseconds(500);
    client_ = std::make_unique<k8s::ApiClient>(config, options);
    source_ = std::make_unique<KubernetesSource>(*client_);
    work_.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + server_.url() +
                                  "\n    certificate-authority: " + server_.ca_file().string() +
                                  "\nusers:\n- name: plexus\n  user:\n    token: " + kToken +
                                  "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: plexus\ncurrent-context: fake\n");
  }

  // A StatefulSet and its replica pods as the StatefulSet controller makes them: a controller
  // ownerReference with the StatefulSet's uid and the pod-index label. Returns the uid.
  std::string add_statefulset(const std::string& ns, const std::string& name, int replicas) {
    const auto stored = server_.put_statefulset(json{{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", {{"replicas", replicas}}}});
    const auto uid = stored["metadata"]["uid"].get<std::string>();
    for (int k = 0; k < replicas; ++k) add_replica(ns, name, uid, k);
    return uid;
  }
  void add_replica(const std::string& ns, const std::string& statefulset, const std::string& uid, int ordinal) {
    server_.put_pod(json{{"metadata",
                          {{"name", fmt::format("{}-{}", statefulset, ordinal)},
                           {"namespace", ns},
                           {"labels", {{std::string(kPodIndexLabel), std::to_string(ordinal)}}},
                           {"ownerReferences", json::array({{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"name", statefulset},
                                                             {"uid", uid}, {"controller", true}, {"blockOwnerDeletion", true}}})}}},
                         {"spec", {{"nodeName", "node-a"}}}});
  }

  // What plexus's ADD does first for the pod: its sticky networks claimed, in this process.
  std::vector<ClaimedNetwork> claim(const std::string& ns, const std::string& pod, const std::vector<std::string>& configs,
                                    const std::string& node = "node-a") {
    const auto info = source_->get_pod(ns, pod, false);
    std::vector<ResolvedNetwork> networks;
    for (std::size_t i = 0; i < configs.size(); ++i) {
      ResolvedNetwork network;
      network.status_name = fmt::format("{}/net-{}", ns, i);
      network.config = configs[i];
      networks.push_back(network);
    }
    return claim_sticky_networks(networks, info ? &*info : nullptr, source_->claim_store(), node);
  }

  // The same from another process: the racer binary, started now, finished by .get().
  std::future<test::CommandResult> claim_in_process(const std::string& ns, const std::string& pod, const std::string& config,
                                                    const std::string& node) {
    const auto file = work_.write(fmt::format("net-{}-{}.json", pod, node), config);
    const std::string command = fmt::format("{} {} {} {} {} {}", PLEXUS_STICKY_RACER, shell_quote((work_.path() / "kubeconfig").string()),
                                            shell_quote(file.string()), ns, pod, node);
    return std::async(std::launch::async, [command] { return test::run_command(command); });
  }

  std::size_t count(const std::string& method, const std::string& path_prefix) const {
    std::size_t n = 0;
    for (const auto& r : server_.requests()) n += r.method == method && r.path.rfind(path_prefix, 0) == 0 ? 1U : 0U;
    return n;
  }

  static constexpr const char* kClaims = "/apis/k8s.plexus.dev/v1alpha1/stickyclaims";
  FakeApiServer server_;
  std::unique_ptr<k8s::ApiClient> client_;
  std::unique_ptr<KubernetesSource> source_;
  TempDir work_{"sticky-api"};
};

TEST_F(StickyApi, ReplicasClaimTheirSlotsAsClusterScopedObjectsAndARestartGetsTheSamePair) {
  const auto uid = add_statefulset("default", "licensed-app", 3);
  const auto config = sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24");
  for (int k = 0; k < 3; ++k) {
    const auto claimed = claim("default", fmt::format("licensed-app-{}", k), {config}, k == 1 ? "node-b" : "node-a");
    ASSERT_EQ(claimed.size(), 1U);
    EXPECT_TRUE(claimed[0].created);
    EXPECT_EQ(claimed[0].claim.address, fmt::format("192.168.111.1{}/24", k));
    EXPECT_EQ(claimed[0].claim.mac, fmt::format("20:01:02:03:04:0{}", 5 + k));
  }
  const auto objects = server_.sticky_claims();
  ASSERT_EQ(objects.size(), 3U);
  const auto& first = objects.at("default-192-168-111-10");
  EXPECT_EQ(first["apiVersion"], "k8s.plexus.dev/v1alpha1");
  EXPECT_EQ(first["kind"], "StickyClaim");
  EXPECT_FALSE(first["metadata"].contains("namespace")) << "cluster-scoped";
  EXPECT_EQ(first["metadata"]["labels"][std::string(kClaimPoolLabel)], "default");
  EXPECT_EQ(first["metadata"]["labels"][std::string(kClaimHolderNameLabel)], "licensed-app");
  EXPECT_EQ(first["spec"], json::parse(R"({"pool":"default","address":"192.168.111.10/24","mac":"20:01:02:03:04:05","slot":0,"node":"node-a",
      "holder":{"kind":"StatefulSet","namespace":"default","name":"licensed-app","uid":")" + uid + R"(","ordinal":0}})"));
  EXPECT_EQ(objects.at("default-192-168-111-11")["spec"]["node"], "node-b");
  EXPECT_EQ(count("POST", kClaims), 3U);

  // Restart of replica 1 on another node (a new pod object, same StatefulSet and ordinal): the
  // POST finds the name taken (409 AlreadyExists), the GET shows it is ours, nothing is written.
  server_.delete_pod("default", "licensed-app-1");
  add_replica("default", "licensed-app", uid, 1);
  server_.clear_requests();
  const auto again = claim("default", "licensed-app-1", {config}, "node-c");
  EXPECT_FALSE(again[0].created) << "ours already: a failed ADD must not release it";
  EXPECT_EQ(again[0].claim.address, "192.168.111.11/24");
  EXPECT_EQ(again[0].claim.mac, "20:01:02:03:04:06");
  std::vector<std::string> calls;
  for (const auto& r : server_.requests()) calls.push_back(fmt::format("{} {} {}", r.method, r.path, r.status));
  EXPECT_THAT(calls, ::testing::ElementsAre("GET /api/v1/namespaces/default/pods/licensed-app-1 200",
                                            fmt::format("POST {} 409", kClaims),
                                            fmt::format("GET {}/default-192-168-111-11 200", kClaims)));
  EXPECT_EQ(server_.sticky_claims(), objects);
}

TEST_F(StickyApi, OverlappingRangeOfAStatefulSetInAnotherNamespaceIsRefusedNamingTheHolder) {
  const auto uid = add_statefulset("default", "licensed-app", 2);
  add_statefulset("team-b", "db", 1);
  claim("default", "licensed-app-0", {sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24")});
  const auto before = server_.sticky_claims();
  try {
    claim("team-b", "db-0", {sticky_config("ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05")});
    FAIL() << "two StatefulSets got 192.168.111.10";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_THAT(e.msg(), HasSubstr("address 192.168.111.10/24 (pool \"default\" slot 0) for StatefulSet team-b/db"));
    EXPECT_THAT(e.msg(), HasSubstr("is held by StatefulSet default/licensed-app (uid " + uid + ") replica 0"));
    EXPECT_THAT(e.msg(), HasSubstr("do two StatefulSets' sticky ranges overlap?"));
  }
  EXPECT_EQ(server_.sticky_claims(), before) << "the refused claim wrote nothing";
  // Another pool (a separate L2 domain reusing the addresses) does not collide.
  const auto other = claim("team-b", "db-0", {sticky_config("ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05", "lab")});
  EXPECT_EQ(other[0].claim.name, "lab-192-168-111-10");
}

TEST_F(StickyApi, ADeletedStatefulSetsClaimsAreTakenOverWithAPreconditionAndReleasedAsOrphans) {
  add_statefulset("default", "licensed-app", 2);
  const auto config = sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24");
  claim("default", "licensed-app-0", {config});
  claim("default", "licensed-app-1", {config});
  const auto held = server_.sticky_claims().at("default-192-168-111-10");

  // The StatefulSet is deleted: its claims stay until used, then the next holder takes one over.
  server_.delete_statefulset("default", "licensed-app");
  server_.delete_pod("default", "licensed-app-0");
  server_.delete_pod("default", "licensed-app-1");
  const auto db_uid = add_statefulset("team-b", "db", 1);
  server_.clear_requests();
  const auto taken = claim("team-b", "db-0", {sticky_config("ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05")});
  EXPECT_TRUE(taken[0].created);
  EXPECT_EQ(taken[0].claim.mac, "20:01:02:03:05:05");
  EXPECT_EQ(count("GET", "/apis/apps/v1/namespaces/default/statefulsets/licensed-app"), 1U);
  std::optional<plexus::test::RecordedRequest> put;
  for (const auto& r : server_.requests()) {
    if (r.method == "PUT") put = r;
  }
  ASSERT_TRUE(put);
  EXPECT_EQ(put->path, std::string(kClaims) + "/default-192-168-111-10");
  EXPECT_EQ(json::parse(put->body)["metadata"]["resourceVersion"], held["metadata"]["resourceVersion"]) << "the precondition";
  const auto now = server_.sticky_claims().at("default-192-168-111-10");
  EXPECT_EQ(now["spec"]["holder"]["uid"], db_uid);
  EXPECT_EQ(now["metadata"]["uid"], held["metadata"]["uid"]) << "replaced in place, not deleted and re-created";

  // The other orphan is deleted by the sweep (`plexus claims --kubeconfig`); db's claim stays.
  auto& store = source_->claims();
  const auto released = store.release_orphans();
  ASSERT_EQ(released.size(), 1U);
  EXPECT_EQ(released[0].name, "default-192-168-111-11");
  EXPECT_EQ(server_.sticky_claims().size(), 1U);
  EXPECT_EQ(server_.sticky_claims().count("default-192-168-111-10"), 1U);
}

// Deleting a StatefulSet leaves its pods terminating for a while (or running, with
// --cascade=orphan): their addresses are still on the wire, so their claims are not taken over
// until the pods are gone too.
TEST_F(StickyApi, AClaimWhosePodOutlivesItsStatefulSetIsNotTakenOver) {
  add_statefulset("default", "licensed-app", 1);
  claim("default", "licensed-app-0", {sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24")});
  server_.delete_statefulset("default", "licensed-app");  // the pod is still there
  add_statefulset("team-b", "db", 1);
  const auto db = sticky_config("ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05");
  try {
    claim("team-b", "db-0", {db});
    FAIL() << "took the address of a pod still running";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_THAT(e.msg(), HasSubstr("is held by StatefulSet default/licensed-app"));
  }
  EXPECT_TRUE(source_->claims().release_orphans().empty()) << "the sweep leaves it too";
  // The pod orphaned (ownerReference removed, as --cascade=orphan does): still in use.
  auto orphan = *server_.pod("default", "licensed-app-0");
  orphan["metadata"].erase("ownerReferences");
  server_.put_pod(orphan);
  EXPECT_THROW(claim("team-b", "db-0", {db}), cni::Error);
  server_.delete_pod("default", "licensed-app-0");
  EXPECT_EQ(claim("team-b", "db-0", {db})[0].claim.address, "192.168.111.10/24");
}

TEST_F(StickyApi, ARecreatedStatefulSetOfTheSameNameTakesItsOldClaimsOver) {
  add_statefulset("default", "web", 1);
  const auto config = sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24");
  claim("default", "web-0", {config});
  server_.delete_statefulset("default", "web");
  server_.delete_pod("default", "web-0");
  const auto new_uid = add_statefulset("default", "web", 1);
  const auto again = claim("default", "web-0", {config});
  EXPECT_TRUE(again[0].created);
  EXPECT_EQ(again[0].claim.address, "192.168.111.10/24");
  EXPECT_EQ(server_.sticky_claims().at("default-192-168-111-10")["spec"]["holder"]["uid"], new_uid);
}

TEST_F(StickyApi, TakeoverAndReleaseOnlyChangeWhatTheySaw) {
  add_statefulset("default", "web", 1);
  claim("default", "web-0", {sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24")});
  auto& store = source_->claims();
  const auto stale = store.list().at(0);
  ASSERT_FALSE(stale.version.empty());
  // Another writer changes it first (a takeover by another node): this one's PUT gets 409.
  auto theirs = stale;
  theirs.holder = ClaimHolder{"StatefulSet", "team-b", "db", "uid-db", 0};
  ASSERT_TRUE(store.replace(stale, theirs));
  auto mine = stale;
  mine.holder = ClaimHolder{"StatefulSet", "team-c", "cache", "uid-cache", 0};
  EXPECT_FALSE(store.replace(stale, mine));
  EXPECT_EQ(server_.sticky_claims().at(stale.name)["spec"]["holder"]["name"], "db");
  // Release by the old holder leaves the new holder's claim alone; by the holder, it goes.
  store.release(stale);
  EXPECT_EQ(server_.sticky_claims().size(), 1U);
  store.release(theirs);
  EXPECT_TRUE(server_.sticky_claims().empty());
  store.release(theirs);  // a missing claim is success
}

TEST_F(StickyApi, ApiServerDownIsCode11AndTheClaimsMadeBeforeAreReleased) {
  add_statefulset("default", "web", 1);
  const auto first = sticky_config("net-a", "192.168.111.10-192.168.111.19/24");
  const auto second = sticky_config("net-b", "10.10.0.10-10.10.0.19/24", "20:01:02:03:06", "other");
  // The first network's POST goes through, the second gets no answer (connection closed): code 11,
  // and the first network's claim, made by this call, is deleted again. Twice: libcurl sends a
  // request again, once, on a fresh connection when a reused one closes before any answer.
  server_.fail_under_path("POST", kClaims, 2, 0, /*after=*/1);
  try {
    claim("default", "web-0", {first, second});
    FAIL() << "claimed with the API server unreachable";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 11);
    EXPECT_THAT(e.msg(), HasSubstr("cannot create stickyclaim other-10-10-0-10: the API server is unavailable"));
  }
  EXPECT_EQ(count("POST", kClaims), 3U);
  EXPECT_EQ(count("DELETE", std::string(kClaims) + "/default-192-168-111-10"), 1U);
  EXPECT_TRUE(server_.sticky_claims().empty()) << "nothing left behind";

  // Answers 503: the same.
  server_.fail_under_path("POST", kClaims, 1, 503);
  try {
    claim("default", "web-0", {first});
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 11) << e.msg();
  }
  EXPECT_TRUE(server_.sticky_claims().empty());

  // And the server gone altogether, after the pod was read.
  const auto pod = source_->get_pod("default", "web-0", false);
  ASSERT_TRUE(pod);
  server_.stop();
  std::vector<ResolvedNetwork> networks(1);
  networks[0].status_name = "default/net-a";
  networks[0].config = first;
  try {
    claim_sticky_networks(networks, &*pod, source_->claim_store(), "node-a");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 11) << e.msg();
  }
}

TEST_F(StickyApi, MissingRbacAndMissingCrdAreNamed) {
  add_statefulset("default", "web", 1);
  const auto config = sticky_config("net-a", "192.168.111.10-192.168.111.19/24");
  server_.fail_under_path("POST", kClaims, 1, 403);
  try {
    claim("default", "web-0", {config});
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 999);
    EXPECT_THAT(e.msg(), HasSubstr("deploy/rbac.yaml"));
  }
  // A cluster without the CRD answers the collection path 404 (a POST to an existing one never does).
  server_.fail_under_path("POST", kClaims, 1, 404);
  try {
    claim("default", "web-0", {config});
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 999);
    EXPECT_THAT(e.msg(), HasSubstr("deploy/crd.yaml")) << e.msg();
  }
  EXPECT_TRUE(server_.sticky_claims().empty());
}

TEST_F(StickyApi, HundredReplicasHundredDistinctObjects) {
  add_statefulset("default", "big", 100);
  const auto config = sticky_config("ip-10", "10.20.0.1-10.20.0.100/24", "20:01:02:03");
  std::set<std::string> addresses;
  std::set<std::string> macs;
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < 100; ++k) {
    const auto claimed = claim("default", fmt::format("big-{}", k), {config});
    addresses.insert(claimed[0].claim.address);
    macs.insert(claimed[0].claim.mac);
    EXPECT_EQ(claimed[0].claim.slot, static_cast<std::size_t>(k));
  }
  const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(addresses.size(), 100U);
  EXPECT_EQ(macs.size(), 100U);
  EXPECT_EQ(server_.sticky_claims().size(), 100U);
  EXPECT_EQ(source_->claims().held_by(ClaimHolder{"StatefulSet", "default", "big", "", std::nullopt}).size(), 100U);
  std::cout << fmt::format("100 sticky claims on the API server (pod GET + POST each, TLS): {:.1f} ms, {:.2f} ms per claim\n", elapsed,
                           elapsed / 100);
}

// Two nodes (two processes) start the same replica at once, e.g. a kubelet retry on another node
// after a network partition: both get the same claim, exactly one of them created it.
TEST_F(StickyApi, TwoProcessesRacingForTheSameReplicaGetTheSameClaim) {
  add_statefulset("default", "licensed-app", 1);
  const auto config = sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24");
  for (int round = 0; round < 5; ++round) {
    for (const auto& [name, object] : server_.sticky_claims()) server_.delete_sticky_claim(name);
    auto a = claim_in_process("default", "licensed-app-0", config, "node-a");
    auto b = claim_in_process("default", "licensed-app-0", config, "node-b");
    const auto ra = a.get();
    const auto rb = b.get();
    ASSERT_EQ(ra.exit_code, 0) << ra.output;
    ASSERT_EQ(rb.exit_code, 0) << rb.output;
    const auto ja = json::parse(ra.output);
    const auto jb = json::parse(rb.output);
    EXPECT_EQ(ja["address"], "192.168.111.10/24");
    EXPECT_EQ(ja["address"], jb["address"]);
    EXPECT_EQ(ja["mac"], jb["mac"]);
    EXPECT_NE(ja["created"].get<bool>(), jb["created"].get<bool>()) << "exactly one POST won, round " << round;
    EXPECT_EQ(server_.sticky_claims().size(), 1U);
  }
}

// Two StatefulSets in different namespaces whose ranges overlap start at once: exactly one holds
// the address, the other gets code 7 naming it, and only one object exists.
TEST_F(StickyApi, TwoProcessesRacingForOverlappingRangesExactlyOneWins) {
  add_statefulset("default", "licensed-app", 1);
  add_statefulset("team-b", "db", 1);
  const auto app = sticky_config("ip-192-sticky", "192.168.111.10-192.168.111.19/24");
  const auto db = sticky_config("ip-db", "192.168.111.10-192.168.111.12/24", "20:01:02:03:05");
  int app_wins = 0;
  int db_wins = 0;
  for (int round = 0; round < 6; ++round) {
    for (const auto& [name, object] : server_.sticky_claims()) server_.delete_sticky_claim(name);
    auto a = claim_in_process("default", "licensed-app-0", app, "node-a");
    auto b = claim_in_process("team-b", "db-0", db, "node-b");
    const auto ra = a.get();
    const auto rb = b.get();
    ASSERT_NE(ra.exit_code == 0, rb.exit_code == 0) << "exactly one wins, round " << round << "\n" << ra.output << rb.output;
    const auto& loser = ra.exit_code == 0 ? rb : ra;
    const auto error = json::parse(loser.output);
    EXPECT_EQ(error["code"], 7);
    EXPECT_THAT(error["msg"].get<std::string>(),
                HasSubstr(ra.exit_code == 0 ? "is held by StatefulSet default/licensed-app" : "is held by StatefulSet team-b/db"));
    (ra.exit_code == 0 ? app_wins : db_wins) += 1;
    const auto objects = server_.sticky_claims();
    ASSERT_EQ(objects.size(), 1U);
    EXPECT_EQ(objects.begin()->second["spec"]["holder"]["name"], ra.exit_code == 0 ? "licensed-app" : "db");
  }
  std::cout << fmt::format("overlapping race over 6 rounds: default/licensed-app won {}, team-b/db won {}\n", app_wins, db_wins);
}

}  // namespace
}  // namespace plexus::meta
