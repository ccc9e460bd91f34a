// The sticky IPAM's claims in local mode (a manifest store's claims/ directory): the replica's
// identity, claim / re-claim / conflict / takeover / release, two processes racing, 100 claims,
// and the engine handing the claimed address and MAC to the delegate as multus passes ips and mac.
#include "meta_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/meta/cache.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/manifest_store.hpp>
#include <plexus/meta/sticky_claims.hpp>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>

namespace plexus::meta {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using ::testing::HasSubstr;

// A NAD whose macvlan gets sticky IPAM; `ipam_extra` goes into its ipam object.
std::string sticky_nad(const std::string& name, const std::string& range, const std::string& ipam_extra = "") {
  return fmt::format(R"(---
kind: NetworkAttachmentDefinition
metadata: {{name: {0}, namespace: default}}
spec:
  config: '{{"cniVersion":"1.0.0","name":"{0}","type":"macvlan","master":"eth0","capabilities":{{"ips":true,"mac":true}},
    "ipam":{{"type":"sticky","range":"{1}","mac":{{"prefix":"20:01:02:03:04","start":5}}{2}}}}}'
)",
                     name, range, ipam_extra);
}

std::string statefulset(const std::string& name, int replicas, const std::string& network, const std::string& uid) {
  return fmt::format(R"(---
kind: StatefulSet
apiVersion: apps/v1
metadata: {{name: {0}, namespace: default, uid: {3}}}
spec:
  replicas: {1}
  template:
    metadata:
      annotations:
        k8s.v1.cni.cncf.io/networks: {2}
)",
                     name, replicas, network, uid);
}

std::string plain_pod(const std::string& name, const std::string& network) {
  return fmt::format(R"(---
kind: Pod
metadata:
  name: {0}
  namespace: default
  uid: uid-{0}
  annotations:
    k8s.v1.cni.cncf.io/networks: {1}
)",
                     name, network);
}

// Answers ADD as a plugin with one interface would, echoing the MAC and IPs it was given.
class EchoInvoker final : public invoke::Invoker {
 public:
  std::vector<cni::Request> calls;
  cni::Reply invoke(std::string_view /*type*/, const cni::Request& request) override {
    calls.push_back(request);
    if (request.command != "ADD") return {};
    const auto config = cni::parse_json(request.stdin_data);
    const auto runtime = config.value("runtimeConfig", cni::ordered_json::object());
    const auto mac = runtime.value("mac", std::string("02:00:00:00:00:01"));
    const auto ip = runtime.contains("ips") ? runtime["ips"][0].get<std::string>() : std::string("10.0.0.2/24");
    return {0, fmt::format(R"({{"cniVersion":"1.0.0","interfaces":[{{"name":"{}","mac":"{}","sandbox":"{}"}}],
      "ips":[{{"address":"{}","interface":0}}]}})", request.ifname, mac, request.netns, ip), {}};
  }
};

struct StickyFixture {
  TempDir store{"sticky-store"};
  TempDir cni_dir{"sticky-cni"};
  EchoInvoker invoker;

  std::string config() const {
    return fmt::format(R"({{"cniVersion":"1.0.0","name":"plexus","type":"plexus","cniDir":"{}",
      "delegates":[{{"cniVersion":"1.0.0","name":"lo","type":"loopback"}}]}})", cni_dir.path().string());
  }
  cni::Request request(const std::string& command, const std::string& pod, const std::string& container) const {
    cni::Request r;
    r.command = command;
    r.container_id = container;
    r.netns = "/var/run/netns/" + container;
    r.ifname = "eth0";
    r.args = fmt::format("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={}", pod, container);
    r.stdin_data = config();
    return r;
  }
  // One plexus call, with a fresh store view (each kubelet call is a new process).
  cni::Reply call(const std::string& command, const std::string& pod, const std::string& container, std::string* status = nullptr) {
    ManifestStore source(store.path());
    EngineOptions options;
    options.node_name = "node-a";
    MetaPlugin engine(invoker, &source, options);
    auto reply = engine.handle(request(command, pod, container));
    if (status != nullptr) *status = engine.last_network_status();
    return reply;
  }
  std::set<std::string> claim_files() const {
    std::set<std::string> names;
    if (!fs::exists(store.path() / "claims")) return names;
    for (const auto& entry : fs::directory_iterator(store.path() / "claims")) {
      if (entry.path().extension() == ".json") names.insert(entry.path().filename().string());
    }
    return names;
  }
};

// The MAC and IP the last ADD's macvlan delegate received.
std::pair<std::string, std::string> handed_over(const EchoInvoker& invoker) {
  for (auto it = invoker.calls.rbegin(); it != invoker.calls.rend(); ++it) {
    if (it->command != "ADD" || it->ifname == "eth0") continue;
    const auto runtime = cni::parse_json(it->stdin_data)["runtimeConfig"];
    EXPECT_NE(it->args.find("MAC=" + runtime["mac"].get<std::string>()), std::string::npos) << it->args;
    return {runtime["mac"].get<std::string>(), runtime["ips"][0].get<std::string>()};
  }
  return {};
}

PodInfo sts_pod(const std::string& name, std::map<std::string, std::string, std::less<>> labels = {}) {
  return PodInfo{"default", name, "pod-uid", false, {}, std::move(labels), {{"apps/v1", "StatefulSet", "web", "sts-uid", true}}, true};
}

TEST(StickyIdentity, StatefulSetOwnerAndOrdinalFromLabelOrName) {
  const auto holder_of = [](const PodInfo& pod) { return replica_holder(&pod, false, "default/ip-192"); };
  auto holder = holder_of(sts_pod("web-2"));
  EXPECT_EQ(holder, (ClaimHolder{"StatefulSet", "default", "web", "sts-uid", 2}));
  holder = holder_of(sts_pod("web-2", {{std::string(kPodIndexLabel), "2"}}));
  EXPECT_EQ(holder.ordinal, 2U);
  // The label wins where the name does not carry it.
  holder = holder_of(sts_pod("renamed", {{std::string(kPodIndexLabel), "7"}}));
  EXPECT_EQ(holder.ordinal, 7U);
  EXPECT_EQ(holder.describe(), "StatefulSet default/web (uid sts-uid) replica 7");
}

TEST(StickyIdentity, RefusalsNameThePodAndTheWayOut) {
  const auto refused = [](std::optional<PodInfo> pod, const char* needle) {
    try {
      replica_holder(pod ? &*pod : nullptr, false, "default/ip-192");
      ADD_FAILURE() << "accepted";
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 7);
      EXPECT_THAT(e.msg(), HasSubstr(needle));
    }
  };
  PodInfo plain{"default", "loner", "uid-1", false, {}, {}, {}, true};
  refused(plain, "pod default/loner is not part of a StatefulSet");
  refused(plain, "\"allowDynamic\": true");
  refused(std::nullopt, "no pod is known");
  refused(sts_pod("web-1", {{std::string(kPodIndexLabel), "2"}}), "disagrees with the name's ordinal 1");
  refused(sts_pod("web-01"), "has no ordinal");
  refused(sts_pod("other-1"), "has no ordinal");
  PodInfo owned_by_replicaset = plain;
  owned_by_replicaset.owners = {{"apps/v1", "ReplicaSet", "web-5d8f", "rs-uid", true}};
  refused(owned_by_replicaset, "is not part of a StatefulSet");
  // allowDynamic: the pod itself holds a free slot.
  EXPECT_EQ(replica_holder(&plain, true, "n"), (ClaimHolder{"Pod", "default", "loner", "uid-1", std::nullopt}));
}

TEST(StickyLocal, ReplicasGetTheirSlotsAndARestartGetsTheSamePair) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + statefulset("web", 3, "ip-192", "uid-web"));
  std::string status;
  ASSERT_EQ(f.call("ADD", "web-0", "c0", &status).exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker), (std::pair<std::string, std::string>{"20:01:02:03:04:05", "192.168.111.10/24"}));
  const auto entries = cni::parse_json(status);
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(entries[1]["mac"], "20:01:02:03:04:05");
  EXPECT_EQ(entries[1]["ips"][0], "192.168.111.10");
  ASSERT_EQ(f.call("ADD", "web-2", "c2").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker), (std::pair<std::string, std::string>{"20:01:02:03:04:07", "192.168.111.12/24"}));
  EXPECT_EQ(f.claim_files(), (std::set<std::string>{"default-192-168-111-10.json", "default-192-168-111-12.json"}));

  // Restart of replica 0: DEL keeps the claim, the new sandbox gets the same pair.
  ASSERT_EQ(f.call("DEL", "web-0", "c0").exit_code, 0);
  EXPECT_EQ(f.claim_files().size(), 2U);
  ASSERT_EQ(f.call("ADD", "web-0", "c0-restarted").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker), (std::pair<std::string, std::string>{"20:01:02:03:04:05", "192.168.111.10/24"}));

  // The claim file says who holds what.
  const auto claim = claim_from_json(
      [&] {
        std::ifstream in(f.store.path() / "claims" / "default-192-168-111-10.json");
        return std::string(std::istreambuf_iterator<char>(in), {});
      }(),
      "claim");
  EXPECT_EQ(claim.holder, (ClaimHolder{"StatefulSet", "default", "web", "uid-web", 0}));
  EXPECT_EQ(claim.mac, "20:01:02:03:04:05");
  EXPECT_EQ(claim.node, "node-a");
}

TEST(StickyLocal, OverlappingRangeOfAnotherStatefulSetIsRefusedNamingTheHolderUntilItIsDeleted) {
  StickyFixture f;
  f.store.write("web.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + statefulset("web", 2, "ip-192", "uid-web"));
  f.store.write("db.yaml", sticky_nad("ip-db", "192.168.111.11-192.168.111.15/24") + statefulset("db", 2, "ip-db", "uid-db"));
  ASSERT_EQ(f.call("ADD", "web-1", "w1").exit_code, 0);  // 192.168.111.11
  const auto calls_before = f.invoker.calls.size();
  const auto reply = f.call("ADD", "db-0", "d0");
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  EXPECT_EQ(error->code(), 7);
  EXPECT_THAT(error->msg(), HasSubstr("address 192.168.111.11/24"));
  EXPECT_THAT(error->msg(), HasSubstr("is held by StatefulSet default/web (uid uid-web) replica 1"));
  EXPECT_EQ(f.invoker.calls.size(), calls_before) << "nothing may run before the claim";
  EXPECT_FALSE(fs::exists(f.cni_dir.path() / "d0"));
  EXPECT_EQ(f.claim_files(), std::set<std::string>{"default-192-168-111-11.json"});

  // Deleting the StatefulSet's manifest releases its claims on the next call; db-0 then wins.
  fs::remove(f.store.path() / "web.yaml");
  f.store.write("web-nad.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24"));
  ASSERT_EQ(f.call("ADD", "db-0", "d0").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker).second, "192.168.111.11/24");
  EXPECT_EQ(f.claim_files(), std::set<std::string>{"default-192-168-111-11.json"});
}

TEST(StickyLocal, ARecreatedStatefulSetWithANewUidTakesItsOldClaimsOver) {
  StickyFixture f;
  f.store.write("web.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + statefulset("web", 1, "ip-192", "uid-old"));
  ASSERT_EQ(f.call("ADD", "web-0", "a").exit_code, 0);
  f.store.write("web.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + statefulset("web", 1, "ip-192", "uid-new"));
  ASSERT_EQ(f.call("ADD", "web-0", "b").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker).second, "192.168.111.10/24");
  ManifestStore source(f.store.path());
  const auto claims = source.claims().list();
  ASSERT_EQ(claims.size(), 1U);
  EXPECT_EQ(claims[0].holder.uid, "uid-new");
}

TEST(StickyLocal, NonStatefulSetPodIsRefusedAndNothingIsLeft) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + plain_pod("loner", "ip-192"));
  const auto reply = f.call("ADD", "loner", "l0");
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  EXPECT_EQ(error->code(), 7);
  EXPECT_THAT(error->msg(), HasSubstr("pod default/loner is not part of a StatefulSet"));
  EXPECT_TRUE(f.invoker.calls.empty());
  EXPECT_TRUE(f.claim_files().empty());
  EXPECT_FALSE(fs::exists(f.cni_dir.path() / "l0"));
}

TEST(StickyLocal, PodSelectionAskingForItsOwnIpIsRefused) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") +
                                    statefulset("web", 1, R"('[{"name":"ip-192","ips":["192.168.111.99/24"]}]')", "u"));
  const auto reply = f.call("ADD", "web-0", "c");
  ASSERT_EQ(reply.exit_code, 1);
  EXPECT_THAT(reply.stdout_data, HasSubstr("may not also ask for"));
  EXPECT_TRUE(f.claim_files().empty());
}

TEST(StickyLocal, OrdinalBeyondThePoolIsRefused) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.11/24") + statefulset("web", 5, "ip-192", "u"));
  const auto reply = f.call("ADD", "web-2", "c");
  ASSERT_EQ(reply.exit_code, 1);
  EXPECT_THAT(reply.stdout_data, HasSubstr("replica 2 has no address: pool \\\"default\\\" holds 2 (slots 0..1)"));
}

TEST(StickyLocal, FailedAttachReleasesTheClaimItMade) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24", R"(,"routes":[{"dst":"0.0.0.0/0","gw":"192.168.111.1"}])") +
                                    statefulset("web", 1, R"('[{"name":"ip-192","default-route":["192.168.111.1"]},{"name":"ip-192","default-route":["192.168.111.2"]}]')", "u"));
  // Two default-route gateways: refused before anything runs, after the claim was made.
  const auto reply = f.call("ADD", "web-0", "c");
  ASSERT_EQ(reply.exit_code, 1) << reply.stdout_data;
  EXPECT_THAT(reply.stdout_data, HasSubstr("more than one IPv4 default gateway"));
  EXPECT_TRUE(f.claim_files().empty());
}

TEST(StickyLocal, DynamicPodsGetTheFirstFreeSlotReleasedOnDel) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24", R"(,"allowDynamic":true)") +
                                    statefulset("web", 1, "ip-192", "u") + plain_pod("a", "ip-192") + plain_pod("b", "ip-192"));
  ASSERT_EQ(f.call("ADD", "web-0", "w").exit_code, 0);
  ASSERT_EQ(f.call("ADD", "a", "a").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker).second, "192.168.111.11/24");
  ASSERT_EQ(f.call("ADD", "b", "b").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker), (std::pair<std::string, std::string>{"20:01:02:03:04:07", "192.168.111.12/24"}));
  ASSERT_EQ(f.call("DEL", "a", "a").exit_code, 0);
  ASSERT_EQ(f.call("DEL", "a", "a").exit_code, 0) << "DEL is idempotent";
  EXPECT_EQ(f.claim_files(), (std::set<std::string>{"default-192-168-111-10.json", "default-192-168-111-12.json"}));
  ASSERT_EQ(f.call("ADD", "a", "a2").exit_code, 0);
  EXPECT_EQ(handed_over(f.invoker).second, "192.168.111.11/24");
}

// Two processes ("nodes") start the same replica at once (a restart seen twice), and two
// StatefulSets with overlapping ranges start replica 0 at once: every run, exactly one claim file,
// the same pair for the same replica, and exactly one winner for the overlap.
TEST(StickyLocal, TwoProcessesRacing) {
  for (int round = 0; round < 10; ++round) {
    StickyFixture f;
    f.store.write("objects.yaml", sticky_nad("ip-192", "192.168.111.10-192.168.111.20/24") + statefulset("web", 1, "ip-192", "uid-web") +
                                      sticky_nad("ip-db", "192.168.111.10-192.168.111.12/24") + statefulset("db", 1, "ip-db", "uid-db"));
    const auto race = [&](const std::string& first, const std::string& second) {
      int pipes[2][2];
      std::vector<pid_t> children;
      int index = 0;
      for (const auto& pod : {first, second}) {
        EXPECT_EQ(::pipe(pipes[index]), 0);
        const pid_t child = ::fork();
        if (child == 0) {
          ::close(pipes[index][0]);
          const auto reply = f.call("ADD", pod, fmt::format("{}-{}", pod, index));
          const std::string out = reply.exit_code == 0 ? handed_over(f.invoker).second : reply.stdout_data;
          (void)!::write(pipes[index][1], out.data(), out.size());
          ::_exit(reply.exit_code);
        }
        ::close(pipes[index][1]);
        children.push_back(child);
        ++index;
      }
      std::vector<std::pair<int, std::string>> results;
      for (int i = 0; i < 2; ++i) {
        std::string out;
        char buffer[4096];
        for (ssize_t n; (n = ::read(pipes[i][0], buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
        ::close(pipes[i][0]);
        int status = 0;
        ::waitpid(children[static_cast<std::size_t>(i)], &status, 0);
        results.emplace_back(WEXITSTATUS(status), out);
      }
      return results;
    };
    const auto same = race("web-0", "web-0");
    EXPECT_EQ(same[0], (std::pair<int, std::string>{0, "192.168.111.10/24"}));
    EXPECT_EQ(same[1], (std::pair<int, std::string>{0, "192.168.111.10/24"}));
    fs::remove_all(f.store.path() / "claims");
    const auto overlap = race("web-0", "db-0");
    const int winners = (overlap[0].first == 0 ? 1 : 0) + (overlap[1].first == 0 ? 1 : 0);
    EXPECT_EQ(winners, 1) << overlap[0].second << "\n" << overlap[1].second;
    const auto& loser = overlap[0].first == 0 ? overlap[1] : overlap[0];
    EXPECT_THAT(loser.second, HasSubstr("is held by StatefulSet default/"));
    EXPECT_EQ(f.claim_files(), std::set<std::string>{"default-192-168-111-10.json"});
  }
}

TEST(StickyLocal, HundredReplicasHundredDistinctClaims) {
  StickyFixture f;
  f.store.write("objects.yaml", sticky_nad("ip-10", "10.20.0.1-10.20.0.100/24") + statefulset("big", 100, "ip-10", "uid-big"));
  const auto start = std::chrono::steady_clock::now();
  std::set<std::string> macs;
  std::set<std::string> ips;
  for (int k = 0; k < 100; ++k) {
    ASSERT_EQ(f.call("ADD", fmt::format("big-{}", k), fmt::format("c{}", k)).exit_code, 0);
    const auto [mac, ip] = handed_over(f.invoker);
    EXPECT_EQ(ip, fmt::format("10.20.0.{}/24", k + 1));
    macs.insert(mac);
    ips.insert(ip);
  }
  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(macs.size(), 100U);
  EXPECT_EQ(ips.size(), 100U);
  EXPECT_EQ(f.claim_files().size(), 100U);
  std::cout << fmt::format("100 local sticky claims (ADD through the engine, each with a fresh store): {:.1f} ms\n", elapsed);
}

}  // namespace
}  // namespace plexus::meta
