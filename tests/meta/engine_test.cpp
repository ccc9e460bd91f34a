// The engine with a fixture Invoker: it records every call and answers as a plugin would, so the
// ordering, rollback, cache and status rules can be checked without namespaces. Scenario tests
// against real plugins come separately.
#include "meta_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/meta/cache.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/manifest_store.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

namespace plexus::meta {
namespace {

using test::TempDir;

struct Call {
  std::string type;
  std::string command;
  std::string ifname;
  std::string args;
  std::string config;
};

class RecordingInvoker final : public invoke::Invoker {
 public:
  std::vector<Call> calls;
  std::set<std::string> failing_add_types;
  std::set<std::string> failing_del_types;
  std::string dns_search;  // a "dns":{"search":[...]} of this many-character domain in every ADD result

  cni::Reply invoke(std::string_view type, const cni::Request& request) override {
    calls.push_back({std::string(type), request.command, request.ifname, request.args, request.stdin_data});
    const auto fail = [](std::string_view msg) { return cni::Reply{1, cni::Error(7, std::string(msg)).to_json(), {}}; };
    if (request.command == "ADD") {
      if (failing_add_types.count(std::string(type)) != 0) return fail(fmt::format("{} refuses", type));
      const auto n = calls.size();
      return cni::Reply{0, fmt::format(R"({{"cniVersion":"1.0.0","interfaces":[{{"name":"{}","mac":"02:00:00:00:00:{:02x}","sandbox":"{}"}}],
        "ips":[{{"address":"10.0.{}.2/24","gateway":"10.0.{}.1","interface":0}}],"routes":[{{"dst":"0.0.0.0/0","gw":"10.0.{}.1"}}]{}}})",
                                       request.ifname, n, request.netns, n, n, n,
                                       dns_search.empty() ? "" : R"(,"dns":{"search":[")" + dns_search + R"("]})"),
                        {}};
    }
    if (request.command == "DEL" && failing_del_types.count(std::string(type)) != 0) return fail("del refused");
    return cni::Reply{};
  }

  std::vector<std::string> sequence() const {
    std::vector<std::string> out;
    for (const auto& call : calls) out.push_back(call.command + " " + call.type + " " + call.ifname);
    return out;
  }
};

struct EngineFixture {
  TempDir manifests;
  TempDir cni_dir;
  TempDir conf_dir;
  RecordingInvoker invoker;

  EngineFixture() {
    conf_dir.write("10-cbr0.conf", R"({"cniVersion":"1.0.0","name":"cbr0","type":"bridge"})");
    manifests.write("objects.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: ip-192, namespace: app}
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","capabilities":{"ips":true,"mac":true}}'
---
kind: NetworkAttachmentDefinition
metadata: {name: storage, namespace: app}
spec:
  config: '{"cniVersion":"1.0.0","name":"storage","plugins":[{"type":"ipvlan"},{"type":"tuning"}]}'
---
kind: Pod
metadata:
  name: web
  namespace: app
  uid: uid-1
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"},{"name":"storage"}]'
)");
  }

  std::string config(const std::string& extra = "") const {
    return fmt::format(R"({{"cniVersion":"0.4.0","name":"plexus","type":"plexus","clusterNetwork":"cbr0","confDir":"{}","cniDir":"{}"{}}})",
                       conf_dir.path().string(), cni_dir.path().string(), extra);
  }

  cni::Request request(const std::string& command, const std::string& extra = "") const {
    cni::Request r;
    r.command = command;
    r.container_id = "ctr1";
    r.netns = "/var/run/netns/test";
    r.ifname = "eth0";
    r.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=ctr1;K8S_POD_UID=uid-1";
    r.path = "/opt/cni/bin";
    r.stdin_data = config(extra);
    return r;
  }
};

// Hot-plug names the cache file by the container ID too: refused first, whatever the command.
TEST(MetaPluginHotplug, AHostileContainerIdIsCode4AndTouchesNothing) {
  EngineFixture f;
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  for (const bool attach : {true, false}) {
    auto request = f.request(attach ? "ADD" : "DEL");
    request.container_id = "../x";
    const auto reply = plugin.handle_hotplug(request, "ip-192", attach);
    EXPECT_EQ(reply.exit_code, 1);
    const auto error = cni::Error::from_json(reply.stdout_data);
    ASSERT_TRUE(error.has_value()) << reply.stdout_data;
    EXPECT_EQ(error->code(), 4);
    EXPECT_EQ(error->msg(), R"(invalid CNI_CONTAINERID "../x": invalid characters in containerID)");
  }
  EXPECT_TRUE(f.invoker.calls.empty());
  EXPECT_TRUE(std::filesystem::is_empty(f.cni_dir.path()));
}

// network-status is bounded (128 KiB; the API server takes 256 KiB of annotations in all): beyond
// it the ADD is code 7 naming the limit and rolled back, nothing cached.
TEST(MetaPluginAdd, OversizedNetworkStatusIsCode7AndRolledBack) {
  EngineFixture f;
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  f.invoker.dns_search = std::string(50 * 1024, 'a');  // three networks: about 150 KiB of status
  const auto reply = plugin.handle(f.request("ADD"));
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  ASSERT_TRUE(error.has_value()) << reply.stdout_data;
  EXPECT_EQ(error->code(), 7);
  EXPECT_NE(error->msg().find("more than the limit of 131072 bytes"), std::string::npos) << error->msg();
  EXPECT_EQ(f.invoker.sequence(), (std::vector<std::string>{"ADD bridge eth0", "ADD macvlan net1", "ADD ipvlan net2", "ADD tuning net2",
                                                            "DEL tuning net2", "DEL ipvlan net2", "DEL macvlan net1", "DEL bridge eth0"}));
  EXPECT_FALSE(std::filesystem::exists(f.cni_dir.path() / "ctr1"));
  EXPECT_TRUE(!std::filesystem::exists(f.cni_dir.path() / "results") || std::filesystem::is_empty(f.cni_dir.path() / "results"));
}

TEST(MetaPluginAdd, AttachesInOrderWritesCacheAndStatusAndReturnsTheMasterInItsVersion) {
  EngineFixture f;
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  const auto reply = plugin.handle(f.request("ADD"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"ADD bridge eth0", "ADD macvlan net1", "ADD ipvlan net2", "ADD tuning net2"}));
  // The master's result, converted to the meta config's 0.4.0.
  const auto result = cni::parse_json(reply.stdout_data);
  EXPECT_EQ(result["cniVersion"], "0.4.0");
  EXPECT_EQ(result["interfaces"][0]["name"], "eth0");
  // The secondary got its MAC/IP in CNI_ARGS and runtimeConfig.
  EXPECT_NE(f.invoker.calls[1].args.find("MAC=20:01:02:03:04:05;IP=192.168.111.10/24"), std::string::npos);
  EXPECT_NE(f.invoker.calls[1].args.find("K8S_POD_INFRA_CONTAINER_ID=ctr1"), std::string::npos);
  EXPECT_EQ(cni::parse_json(f.invoker.calls[1].config)["runtimeConfig"]["mac"], "20:01:02:03:04:05");

  const auto status = store.last_status("app", "web");
  ASSERT_TRUE(status);
  const auto entries = cni::parse_json(*status);
  ASSERT_EQ(entries.size(), 3U);
  EXPECT_EQ(entries[0]["name"], "cbr0");
  EXPECT_EQ(entries[0]["default"], true);
  EXPECT_EQ(entries[1]["name"], "app/ip-192");
  EXPECT_FALSE(entries[1].contains("default"));
  EXPECT_EQ(entries[2]["name"], "app/storage");
  EXPECT_EQ(entries[2]["interface"], "net2");

  const auto cached = DelegateCache(f.cni_dir.path()).read("ctr1");
  ASSERT_TRUE(std::holds_alternative<CacheEntry>(cached));
  EXPECT_EQ(std::get<CacheEntry>(cached).delegates.size(), 3U);
}

TEST(MetaPluginAdd, FailureRollsBackInReverseAndNamesTheNetwork) {
  EngineFixture f;
  f.invoker.failing_add_types = {"ipvlan"};
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  const auto reply = plugin.handle(f.request("ADD"));
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), 7);
  EXPECT_NE(error->msg().find("\"app/storage\""), std::string::npos) << error->msg();
  EXPECT_NE(error->msg().find("ipvlan refuses"), std::string::npos) << error->msg();
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"ADD bridge eth0", "ADD macvlan net1", "ADD ipvlan net2",
                                      "DEL tuning net2", "DEL ipvlan net2", "DEL macvlan net1", "DEL bridge eth0"}));
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Missing>(DelegateCache(f.cni_dir.path()).read("ctr1")));
  EXPECT_FALSE(store.last_status("app", "web"));
}

TEST(MetaPluginDel, RunsTheCachedDelegatesInReverseWithoutThePod) {
  EngineFixture f;
  {
    ManifestStore store(f.manifests.path());
    MetaPlugin plugin(f.invoker, &store);
    ASSERT_EQ(plugin.handle(f.request("ADD")).exit_code, 0);
  }
  f.invoker.calls.clear();
  TempDir empty;  // the pod and its NADs are gone
  ManifestStore gone(empty.path());
  MetaPlugin plugin(f.invoker, &gone);
  const auto reply = plugin.handle(f.request("DEL"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"DEL tuning net2", "DEL ipvlan net2", "DEL macvlan net1", "DEL bridge eth0"}));
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Missing>(DelegateCache(f.cni_dir.path()).read("ctr1")));
  // A second DEL is still success.
  EXPECT_EQ(plugin.handle(f.request("DEL")).exit_code, 0);
}

TEST(MetaPluginDel, CorruptCacheStillTearsDownWhatCanBeFound) {
  EngineFixture f;
  f.cni_dir.write("ctr1", "{garbage");
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  const auto reply = plugin.handle(f.request("DEL"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"DEL tuning net2", "DEL ipvlan net2", "DEL macvlan net1", "DEL bridge eth0"}));
  EXPECT_FALSE(std::filesystem::exists(f.cni_dir.path() / "ctr1"));
}

TEST(MetaPluginDel, ErrorsAreAggregatedAndRetryDeleteOnErrorKeepsTheCache) {
  EngineFixture f;
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  ASSERT_EQ(plugin.handle(f.request("ADD", R"(,"retryDeleteOnError":true)")).exit_code, 0);
  f.invoker.calls.clear();
  f.invoker.failing_del_types = {"macvlan", "bridge"};
  const auto reply = plugin.handle(f.request("DEL", R"(,"retryDeleteOnError":true)"));
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  ASSERT_TRUE(error);
  EXPECT_NE(error->msg().find("app/ip-192"), std::string::npos) << error->msg();
  EXPECT_NE(error->msg().find("cbr0"), std::string::npos) << error->msg();
  EXPECT_EQ(f.invoker.calls.size(), 4U);  // every delegate was attempted
  EXPECT_TRUE(std::holds_alternative<CacheEntry>(DelegateCache(f.cni_dir.path()).read("ctr1")));

  f.invoker.failing_del_types.clear();
  EXPECT_EQ(plugin.handle(f.request("DEL", R"(,"retryDeleteOnError":true)")).exit_code, 0);
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Missing>(DelegateCache(f.cni_dir.path()).read("ctr1")));
}

// No cache: the container was never attached (or its failed ADD was rolled back). The rebuilt
// delegates are still torn down, but one whose DEL fails (its config is refused again) is logged,
// not returned: DEL of a container that has nothing is success.
TEST(MetaPluginDel, WithoutACacheFailuresOfRebuiltDelegatesAreLoggedAndDelSucceeds) {
  EngineFixture f;
  f.invoker.failing_del_types = {"macvlan"};
  std::vector<std::string> logged;
  EngineOptions options;
  options.log = [&](LogLevel level, std::string_view line) {
    if (level == LogLevel::Error) logged.emplace_back(line);
  };
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store, options);
  const auto reply = plugin.handle(f.request("DEL"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"DEL tuning net2", "DEL ipvlan net2", "DEL macvlan net1", "DEL bridge eth0"}));
  ASSERT_EQ(logged.size(), 1U);
  EXPECT_NE(logged[0].find("app/ip-192"), std::string::npos) << logged[0];
}

TEST(MetaPluginAdd, PodAnnotationsFromTheRuntimeSkipThePodLookup) {
  EngineFixture f;
  TempDir nads_only;
  nads_only.write("nad.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: ip-192, namespace: app}
spec: {config: '{"cniVersion":"1.0.0","name":"ip-192","type":"macvlan"}'}
)");
  ManifestStore store(nads_only.path());  // holds no pod
  MetaPlugin plugin(f.invoker, &store);
  const auto reply = plugin.handle(f.request(
      "ADD", R"(,"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"k8s.v1.cni.cncf.io/networks":"ip-192@lic0"}})"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(), (std::vector<std::string>{"ADD bridge eth0", "ADD macvlan lic0"}));
}

TEST(MetaPluginAdd, ReadinessIndicatorTimesOutWithCode11) {
  EngineFixture f;
  int sleeps = 0;
  EngineOptions options;
  options.readiness_timeout = std::chrono::milliseconds(3000);
  options.sleep = [&](std::chrono::milliseconds) { ++sleeps; };
  MetaPlugin plugin(f.invoker, nullptr, options);
  const auto missing = (f.cni_dir.path() / "ready").string();
  const auto reply = plugin.handle(f.request("ADD", fmt::format(R"(,"readinessindicatorfile":"{}")", missing)));
  ASSERT_EQ(reply.exit_code, 1);
  EXPECT_EQ(cni::Error::from_json(reply.stdout_data)->code(), 11);
  EXPECT_EQ(sleeps, 3);
  EXPECT_TRUE(f.invoker.calls.empty());

  f.cni_dir.write("ready", "");
  EXPECT_EQ(plugin.handle(f.request("ADD", fmt::format(R"(,"readinessindicatorfile":"{}")", missing))).exit_code, 0);
}

TEST(MetaPluginCheck, ChecksEveryCachedAttachment) {
  EngineFixture f;
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  ASSERT_EQ(plugin.handle(f.request("ADD")).exit_code, 0);
  f.invoker.calls.clear();
  const auto reply = plugin.handle(f.request("CHECK"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(),
            (std::vector<std::string>{"CHECK bridge eth0", "CHECK macvlan net1", "CHECK ipvlan net2", "CHECK tuning net2"}));
}

TEST(MetaPluginAdd, WithoutSourceInlineDelegatesOnly) {
  EngineFixture f;
  MetaPlugin plugin(f.invoker, nullptr);
  auto request = f.request("ADD");
  request.stdin_data = fmt::format(R"({{"cniVersion":"1.0.0","name":"m","type":"multus","cniDir":"{}",
    "delegates":[{{"cniVersion":"1.0.0","name":"a","type":"bridge"}},{{"cniVersion":"1.0.0","name":"b","type":"ptp"}}]}})",
                                   f.cni_dir.path().string());
  const auto reply = plugin.handle(request);
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(f.invoker.sequence(), (std::vector<std::string>{"ADD bridge eth0", "ADD ptp net1"}));
  EXPECT_EQ(cni::parse_json(plugin.last_network_status()).size(), 2U);
}

}  // namespace
}  // namespace plexus::meta
