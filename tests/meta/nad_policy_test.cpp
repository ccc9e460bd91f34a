// The tenant policy (nad_policy.hpp) through the engine: a NAD that nests the meta-plugin, names
// a plugin by path, points a path key outside allowedDataRoots or forces a bridge's gateway
// address is refused with code 7 naming the NAD, the key and the value; no delegate runs, no
// cache file is written, and DEL of the pod is still success. The kernel-level proof (nothing on
// the host or in the pod changed, no file created) is in tests/e2e (TenantPolicy*).
#include "meta_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/meta/cache.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/manifest_store.hpp>
#include <plexus/meta/nad_policy.hpp>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace plexus::meta {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using ::testing::HasSubstr;

// Answers every ADD with one interface and records what ran.
class RecordingInvoker final : public invoke::Invoker {
 public:
  std::vector<std::string> calls;
  cni::Reply invoke(std::string_view type, const cni::Request& request) override {
    calls.push_back(request.command + " " + std::string(type) + " " + request.ifname);
    if (request.command != "ADD") return {};
    return {0, fmt::format(R"({{"cniVersion":"1.0.0","interfaces":[{{"name":"{}"}}],"ips":[]}})", request.ifname), {}};
  }
};

struct PolicyFixture {
  TempDir manifests;
  TempDir cni_dir;
  TempDir conf_dir;
  RecordingInvoker invoker;

  PolicyFixture() { conf_dir.write("10-cbr0.conf", R"({"cniVersion":"1.0.0","name":"cbr0","type":"bridge"})"); }

  // One NAD "tenant" in namespace app, holding `config`, and the pod web selecting it.
  void nad(const std::string& config, const std::string& selection = "tenant") const {
    manifests.write("objects.yaml", fmt::format(R"(kind: NetworkAttachmentDefinition
metadata: {{name: tenant, namespace: app}}
spec:
  config: '{}'
---
kind: Pod
metadata:
  name: web
  namespace: app
  uid: uid-1
  annotations:
    k8s.v1.cni.cncf.io/networks: '{}'
)",
                                                config, selection));
  }

  cni::Request request(const std::string& command, const std::string& extra = "") const {
    cni::Request r;
    r.command = command;
    r.container_id = "ctr1";
    r.netns = "/var/run/netns/test";
    r.ifname = "eth0";
    r.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=ctr1;K8S_POD_UID=uid-1";
    r.path = "/opt/cni/bin";
    r.stdin_data = fmt::format(R"({{"cniVersion":"1.0.0","name":"plexus","type":"plexus","clusterNetwork":"cbr0","confDir":"{}","cniDir":"{}"{}}})",
                               conf_dir.path().string(), cni_dir.path().string(), extra);
    return r;
  }

  // ADD refused with code 7 and a message naming each of `names`; nothing ran, nothing cached;
  // then DEL is success and touches only the admin's cluster network.
  void expect_refused(const std::vector<std::string>& names, const std::string& extra = "") {
    ManifestStore store(manifests.path());
    MetaPlugin plugin(invoker, &store);
    const auto reply = plugin.handle(request("ADD", extra));
    ASSERT_EQ(reply.exit_code, 1) << reply.stdout_data;
    const auto error = cni::Error::from_json(reply.stdout_data);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), 7) << error->msg();
    EXPECT_THAT(error->msg(), HasSubstr("network-attachment-definition app/tenant"));
    for (const auto& name : names) EXPECT_THAT(error->msg(), HasSubstr(name));
    EXPECT_TRUE(invoker.calls.empty()) << "a delegate ran: " << invoker.calls.front();
    for (const auto& entry : fs::recursive_directory_iterator(cni_dir.path())) {
      EXPECT_FALSE(entry.is_regular_file()) << "cache written: " << entry.path();
    }
    EXPECT_FALSE(store.last_status("app", "web"));

    const auto deleted = plugin.handle(request("DEL", extra));
    EXPECT_EQ(deleted.exit_code, 0) << deleted.stdout_data;
    EXPECT_EQ(invoker.calls, std::vector<std::string>{"DEL bridge eth0"});
    EXPECT_EQ(plugin.handle(request("DEL", extra)).exit_code, 0) << "DEL again";
    invoker.calls.clear();
  }

  // The ADD's error ("" on success; then the pod is deleted again, and `calls` keeps the ADD's).
  std::string add_error(const std::string& extra = "") {
    ManifestStore store(manifests.path());
    MetaPlugin plugin(invoker, &store);
    const auto reply = plugin.handle(request("ADD", extra));
    if (reply.exit_code != 0) return reply.stdout_data;
    const auto added = invoker.calls;
    EXPECT_EQ(plugin.handle(request("DEL", extra)).exit_code, 0);
    invoker.calls = added;
    return {};
  }
};

TEST(TenantPolicy, ANadMayNotNestTheMetaPlugin) {
  for (const std::string type : {"multus", "plexus", "plexus-shim", "multus-shim", "plexusd"}) {
    SCOPED_TRACE(type);
    PolicyFixture f;
    f.nad(fmt::format(R"({{"cniVersion":"1.0.0","name":"tenant","type":"{}","cniDir":"/tmp/evil-cache","binDir":"/tmp/evil-bin",
      "delegates":[{{"type":"bridge"}}]}})",
                      type));
    f.expect_refused({"\"type\" is \"" + type + "\"", "meta-plugin"});
  }
}

TEST(TenantPolicy, EveryPluginOfAConflistAndItsIpamIsChecked) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","plugins":[{"type":"bridge"},{"type":"Multus"},{"type":"plexus"}]})");
  f.expect_refused({"\"plugins[2].type\" is \"plexus\""});

  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","plugins":[{"type":"bridge","ipam":{"type":"multus"}}]})");
  f.expect_refused({"\"plugins[0].ipam.type\" is \"multus\""});
  // Go matches keys case-insensitively: "Type" is the type.
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","Type":"plexus"})");
  f.expect_refused({"\"Type\" is \"plexus\""});
}

TEST(TenantPolicy, ATypeIsAPlainFileName) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"../../bin/sh"})");
  f.expect_refused({"\"type\" is \"../../bin/sh\"", "plain file name"});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"/bin/sh"})");
  f.expect_refused({"\"type\" is \"/bin/sh\""});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"macvlan","ipam":{"type":"../../../usr/bin/id"}})");
  f.expect_refused({"\"ipam.type\" is \"../../../usr/bin/id\""});
}

TEST(TenantPolicy, HostLocalPathsOutsideTheRootsAreRefused) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/24","dataDir":"/tmp/evil"}})");
  f.expect_refused({"\"ipam.dataDir\" is \"/tmp/evil\"", "outside allowedDataRoots [/var/lib/cni/networks, /run/cni, "
                                                         "/etc/resolv.conf, /run/systemd/resolve]"});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/24","resolvConf":"/etc/shadow"}})");
  f.expect_refused({"\"ipam.resolvConf\" is \"/etc/shadow\""});
  // Out through "..": normalised first.
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","dataDir":"/var/lib/cni/networks/../multus"}})");
  f.expect_refused({"\"ipam.dataDir\" is \"/var/lib/cni/networks/../multus\""});
  // Relative: against which directory? Refused.
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","dataDir":"networks"}})");
  f.expect_refused({"\"ipam.dataDir\" is \"networks\"", "must be absolute"});
}

TEST(TenantPolicy, AnyKeyEndingInDirFilePathOrSocketAtAnyDepth) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"whereabouts-like","kubernetes":{"kubeconfig":"/etc/kubernetes/admin.conf"}})");
  f.expect_refused({"\"kubernetes.kubeconfig\" is \"/etc/kubernetes/admin.conf\""});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","plugins":[{"type":"bridge"},{"type":"x","log_file":"/etc/cron.d/evil"}]})");
  f.expect_refused({"\"plugins[1].log_file\" is \"/etc/cron.d/evil\""});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"x","pluginDirs":["/var/lib/cni/networks","/root"]})");
  f.expect_refused({"\"pluginDirs[1]\" is \"/root\""});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"x","ipam":{"type":"dhcp","daemonSocketPath":"/run/plexus/plexus.sock"}})");
  f.expect_refused({"\"ipam.daemonSocketPath\" is \"/run/plexus/plexus.sock\""});
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"x","socketDir":"/run/containerd"})");
  f.expect_refused({"\"socketDir\" is \"/run/containerd\""});

  EXPECT_TRUE(is_path_key("dataDir"));
  EXPECT_TRUE(is_path_key("RESOLVCONF"));
  EXPECT_TRUE(is_path_key("cniDirs"));
  EXPECT_TRUE(is_path_key("hostSocket"));
  EXPECT_FALSE(is_path_key("master"));
  EXPECT_FALSE(is_path_key("subnet"));
  EXPECT_FALSE(is_path_key("type"));
}

TEST(TenantPolicy, ThePodsCniArgsAreHeldToThePathRule) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge"})",
        R"([{"name":"tenant","cni-args":{"dataDir":"/etc"}}])");
  f.expect_refused({"\"cni-args.dataDir\" is \"/etc\""});
}

TEST(TenantPolicy, PathsUnderTheRootsAreAllowedAndTheRootsAreTheAdminsChoice) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/24",
    "dataDir":"/var/lib/cni/networks/tenant","resolvConf":"/etc/resolv.conf","logFile":""}})");
  EXPECT_EQ(f.add_error(), "");
  EXPECT_EQ(f.invoker.calls, (std::vector<std::string>{"ADD bridge eth0", "ADD bridge net1"}));
  f.invoker.calls.clear();

  TempDir root;
  f.nad(fmt::format(R"({{"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{{"type":"host-local","dataDir":"{}/state"}}}})",
                    root.path().string()));
  EXPECT_THAT(f.add_error(), HasSubstr("outside allowedDataRoots"));
  const auto roots = fmt::format(R"(,"allowedDataRoots":["{}/"])", root.path().string());
  EXPECT_EQ(f.add_error(roots), "") << "under an admin's root";
  // The default roots are replaced, not extended.
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","dataDir":"/var/lib/cni/networks"}})");
  EXPECT_THAT(f.add_error(roots), HasSubstr(fmt::format("outside allowedDataRoots [{}/]", root.path().string())));
}

TEST(TenantPolicy, ASymlinkUnderARootMayNotLeadOutOfIt) {
  PolicyFixture f;
  TempDir root;
  TempDir outside;
  fs::create_directory_symlink(outside.path(), root.path() / "link");
  const auto roots = fmt::format(R"(,"allowedDataRoots":["{}"])", root.path().string());
  f.nad(fmt::format(R"({{"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{{"type":"host-local","dataDir":"{}/link/state"}}}})",
                    root.path().string()));
  f.expect_refused({"/link/state\""}, roots);

  EXPECT_FALSE(is_under_roots(root.path() / "link" / "x", {root.path().string()}));
  EXPECT_TRUE(is_under_roots(root.path() / "real" / "x", {root.path().string()}));
  EXPECT_TRUE(is_under_roots("/etc/resolv.conf", {"/etc/resolv.conf"}));
  EXPECT_FALSE(is_under_roots("/etc/resolv.conf.d/x", {"/etc/resolv.conf"})) << "components, not a string prefix";
  EXPECT_FALSE(is_under_roots("/var/lib/cni/networks-evil", {"/var/lib/cni/networks"}));
  // A root that is itself a link (/var/lib/cni -> /data/cni) still admits what is under it.
  TempDir target;
  const auto linked_root = root.path() / "linked-root";
  fs::create_directory_symlink(target.path(), linked_root);
  EXPECT_TRUE(is_under_roots(linked_root / "x", {linked_root.string()}));
}

TEST(TenantPolicy, ForceAddressNeedsTheAdminsOptIn) {
  PolicyFixture f;
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","bridge":"shared0","isGateway":true,"forceAddress":true})");
  f.expect_refused({"\"forceAddress\" is true", "allowGatewayTakeover"});
  EXPECT_EQ(f.add_error(R"(,"allowGatewayTakeover":true)"), "");
  EXPECT_EQ(f.invoker.calls, (std::vector<std::string>{"ADD bridge eth0", "ADD bridge net1"}));
  f.invoker.calls.clear();
  // false is no takeover.
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","bridge":"shared0","isGateway":true,"forceAddress":false})");
  EXPECT_EQ(f.add_error(), "");
}

// An empty spec names a file in the admin's confDir: its paths are the admin's, but it may still
// not be the meta-plugin (which would resolve the pod's annotation again, without end).
TEST(TenantPolicy, AConfDirFileNamedByANadKeepsItsPathsButMayNotNest) {
  PolicyFixture f;
  f.conf_dir.write("20-tenant.conf",
                   R"({"cniVersion":"1.0.0","name":"tenant","type":"bridge","ipam":{"type":"host-local","dataDir":"/srv/ipam"}})");
  f.nad("");
  EXPECT_EQ(f.add_error(), "");
  f.invoker.calls.clear();
  f.conf_dir.write("20-tenant.conf", R"({"cniVersion":"1.0.0","name":"tenant","type":"plexus","clusterNetwork":"cbr0"})");
  f.expect_refused({"\"type\" is \"plexus\""});
}

TEST(TenantPolicy, TheDefaultNetworkOverrideIsATenantsChoiceToo) {
  PolicyFixture f;
  f.manifests.write("objects.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: tenant, namespace: kube-system}
spec:
  config: '{"cniVersion":"1.0.0","name":"tenant","type":"multus","delegates":[{"type":"bridge"}]}'
---
kind: Pod
metadata:
  name: web
  namespace: app
  uid: uid-1
  annotations:
    v1.multus-cni.io/default-network: tenant
)");
  ManifestStore store(f.manifests.path());
  MetaPlugin plugin(f.invoker, &store);
  const auto reply = plugin.handle(f.request("ADD"));
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::Error::from_json(reply.stdout_data);
  EXPECT_EQ(error->code(), 7);
  EXPECT_THAT(error->msg(), HasSubstr("network-attachment-definition kube-system/tenant: \"type\" is \"multus\""));
  EXPECT_TRUE(f.invoker.calls.empty());
}

// The admin's own networks are trusted as they are: a clusterNetwork whose config has paths
// anywhere is not the tenant's doing.
TEST(TenantPolicy, TheAdminsClusterNetworkIsNotHeldToIt) {
  PolicyFixture f;
  f.conf_dir.write("10-cbr0.conf",
                   R"({"cniVersion":"1.0.0","name":"cbr0","type":"bridge","forceAddress":true,"ipam":{"type":"host-local","dataDir":"/srv/ipam"}})");
  f.nad(R"({"cniVersion":"1.0.0","name":"tenant","type":"macvlan"})");
  EXPECT_EQ(f.add_error(), "");
}

TEST(TenantPolicyConfig, AllowedDataRootsMustBeAbsolute) {
  const auto parse = [](const std::string& extra) {
    return parse_meta_config(R"({"name":"m","type":"plexus","clusterNetwork":"cbr0")" + extra + "}");
  };
  const auto defaults = parse("");
  EXPECT_EQ(defaults.allowed_data_roots,
            (std::vector<std::string>{"/var/lib/cni/networks", "/run/cni", "/etc/resolv.conf", "/run/systemd/resolve"}));
  EXPECT_FALSE(defaults.allow_gateway_takeover);
  EXPECT_TRUE(defaults.unknown_keys.empty());
  EXPECT_EQ(parse(R"(,"allowedDataRoots":["/srv/a"],"allowGatewayTakeover":true)").allowed_data_roots,
            std::vector<std::string>{"/srv/a"});
  for (const std::string bad : {R"(["relative"])", R"([""])", R"("/srv")", R"([1])"}) {
    SCOPED_TRACE(bad);
    try {
      (void)parse(R"(,"allowedDataRoots":)" + bad);
      FAIL() << "accepted";
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 7);
      EXPECT_THAT(e.msg(), HasSubstr("allowedDataRoots"));
    }
  }
}

}  // namespace
}  // namespace plexus::meta
