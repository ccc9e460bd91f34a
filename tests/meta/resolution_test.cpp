#include "meta_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/meta/manifest_store.hpp>
#include <plexus/meta/resolution.hpp>

#include <gtest/gtest.h>

namespace plexus::meta {
namespace {

using test::TempDir;

constexpr const char* kManifests = R"(apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ip-192
  namespace: app
  annotations:
    k8s.v1.cni.cncf.io/resourceName: intel.com/sriov
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","capabilities":{"ips":true}}'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: unnamed
  namespace: app
spec:
  config: |
    {"cniVersion":"0.4.0","type":"bridge"}
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: chain
  namespace: shared
spec:
  config: '{"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"bridge"},{"type":"tuning"}]}'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: from-dir
  namespace: app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
)";

constexpr const char* kPods = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: app
  uid: 1234-abcd
  annotations:
    k8s.v1.cni.cncf.io/networks: ip-192@lic0,shared/chain
)";

struct Fixture {
  TempDir manifests;
  TempDir conf_dir;
  MetaConfig config;

  Fixture() {
    manifests.write("nads.yaml", kManifests);
    manifests.write("pods.yml", kPods);
    conf_dir.write("10-other.conf", R"({"cniVersion":"0.3.1","name":"other","type":"ptp"})");
    conf_dir.write("20-from-dir.conflist", R"({"cniVersion":"1.0.0","name":"from-dir","plugins":[{"type":"ptp"}]})");
    conf_dir.write("05-broken.conf", "{not json");
    config = parse_meta_config(R"({"type":"plexus","clusterNetwork":"other"})");
    config.conf_dir = conf_dir.path().string();
  }
};

NetworkSelection select(std::string ns, std::string name) {
  NetworkSelection selection;
  selection.namespace_name = std::move(ns);
  selection.name = std::move(name);
  return selection;
}

TEST(ManifestStore, ReadsNadsAndPodsFromSeveralDocuments) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  const auto nad = store.get_network_attachment("app", "ip-192");
  ASSERT_TRUE(nad);
  EXPECT_EQ(nad->resource_name, "intel.com/sriov");
  EXPECT_NE(nad->config.find("macvlan"), std::string::npos);
  EXPECT_FALSE(store.get_network_attachment("default", "ip-192"));
  EXPECT_FALSE(store.get_network_attachment("app", "ignored"));
  const auto pod = store.get_pod("app", "web", true);
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->uid, "1234-abcd");
  EXPECT_EQ(pod->annotation(kNetworksAnnotation), "ip-192@lic0,shared/chain");
}

TEST(ManifestStore, MalformedYamlNamesTheFile) {
  TempDir dir;
  dir.write("bad.yaml", "kind: [unclosed");
  try {
    ManifestStore store(dir.path());
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_NE(e.msg().find("bad.yaml"), std::string::npos) << e.msg();
  }
}

// Found by tests/fuzz/manifest_store_fuzz: each crashed plexus (a stack overflow, a hang, or an
// exception that is no cni::Error) before it was refused as a bad manifest.
TEST(ManifestStore, HostileYamlIsCode7NamingTheFile) {
  const std::string laughs = "kind: Pod\nmetadata: {name: x}\na: &a [x,x,x,x,x,x,x,x,x,x]\n"
                             "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                             "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                             "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
  const std::pair<std::string, std::string> cases[] = {
      {"kind: Pod\nmetadata: &a {name: x, self: *a}\n", "deeper than 64"},      // alias cycle
      {laughs, "more than 100000 YAML nodes"},                                   // 10^7 nodes expanded
      {"kind: Pod\n? [a]\n: b\nmetadata: {name: x}\n", "bad conversion"},      // a key that is no scalar
      {"{\"kind\": \"Pod\"},", "must be JSON"},                                  // yaml-cpp 0.7 never returns
      {",kind: Pod\n", "line 1: a document may not start with ','"},            // nor here
      {"kind: Pod\nmetadata: {name: x}\n---\n# c\n ,x\n", "line 5: a document may not start"},
      {"kind: NetworkAttachmentDefinition\nmetadata: {name: n}\nspec:\n  config:\n    type: bri\x94" "dge\n",
       "invalid UTF-8"},
  };
  for (const auto& [yaml, why] : cases) {
    TempDir dir;
    dir.write("hostile.yaml", yaml);
    try {
      ManifestStore store(dir.path());
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 7);
      EXPECT_NE(e.msg().find("hostile.yaml"), std::string::npos) << e.msg();
      EXPECT_NE(e.msg().find(why), std::string::npos) << e.msg();
    }
  }
}

TEST(Resolution, SelectionFromNadKeepsConfigAndResourceName) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  const auto network = resolve_selection(select("app", "ip-192"), "app", f.config, store);
  EXPECT_EQ(network.status_name, "app/ip-192");
  EXPECT_EQ(network.config, R"({"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","capabilities":{"ips":true}})");
  EXPECT_FALSE(network.conflist);
  EXPECT_EQ(network.resource_name, "intel.com/sriov");
  ASSERT_TRUE(network.selection);
}

TEST(Resolution, MissingNameIsInjected) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  const auto network = resolve_selection(select("app", "unnamed"), "app", f.config, store);
  const auto config = cni::parse_json(network.config);
  EXPECT_EQ(config["name"], "unnamed");
  EXPECT_EQ(config["type"], "bridge");
}

TEST(Resolution, EmptySpecLoadsTheConfDirFileOfThatName) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  const auto network = resolve_selection(select("app", "from-dir"), "app", f.config, store);
  EXPECT_TRUE(network.conflist);
  EXPECT_EQ(network.config, R"({"cniVersion":"1.0.0","name":"from-dir","plugins":[{"type":"ptp"}]})");
}

TEST(Resolution, ConflistNad) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  const auto network = resolve_selection(select("shared", "chain"), "app", f.config, store);
  EXPECT_TRUE(network.conflist);
  EXPECT_EQ(network.status_name, "shared/chain");
}

TEST(Resolution, MissingNadNamesNetworkAndNamespace) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  try {
    resolve_selection(select("app", "nope"), "app", f.config, store);
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_NE(e.msg().find("\"nope\" in namespace \"app\""), std::string::npos) << e.msg();
  }
}

TEST(Resolution, NamespaceIsolation) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  f.config.namespace_isolation = true;
  f.config.global_namespaces = {"default"};
  EXPECT_NO_THROW(resolve_selection(select("app", "ip-192"), "app", f.config, store));  // own namespace
  try {
    resolve_selection(select("shared", "chain"), "app", f.config, store);
    FAIL() << "isolation did not refuse";
  } catch (const cni::Error& e) {
    EXPECT_NE(e.msg().find("namespace isolation"), std::string::npos) << e.msg();
    EXPECT_NE(e.msg().find("shared/chain"), std::string::npos) << e.msg();
  }
  f.config.global_namespaces = {"default", "shared"};
  EXPECT_NO_THROW(resolve_selection(select("shared", "chain"), "app", f.config, store));
}

TEST(Resolution, ClusterNetworkByNameDirectoryAndFile) {
  Fixture f;
  const auto by_name = resolve_default_network("other", f.config, nullptr);
  EXPECT_EQ(by_name.status_name, "other");
  // A directory means its first file, as multus: here that is 05-broken.conf, which does not parse.
  EXPECT_THROW(resolve_default_network(f.conf_dir.path().string(), f.config, nullptr), cni::Error);
  EXPECT_THROW(resolve_default_network("nothing-of-that-name", f.config, nullptr), cni::Error);
}

TEST(Resolution, ClusterNetworkDirectoryPicksFirstSortedFile) {
  TempDir dir;
  dir.write("30-b.conf", R"({"name":"b","type":"ptp"})");
  dir.write("20-a.conflist", R"({"name":"a","plugins":[{"type":"ptp"}]})");
  dir.write("10-z.json", R"({"name":"z","type":"ptp"})");  // not a candidate for a directory
  Fixture f;
  const auto network = resolve_default_network(dir.path().string(), f.config, nullptr);
  EXPECT_EQ(network.status_name, "a");
  EXPECT_TRUE(network.conflist);
  const auto by_file = resolve_default_network((dir.path() / "30-b.conf").string(), f.config, nullptr);
  EXPECT_EQ(by_file.status_name, "b");
  EXPECT_THROW(resolve_default_network((dir.path() / "missing.conf").string(), f.config, nullptr), cni::Error);
}

TEST(Resolution, ClusterNetworkNadInMultusNamespaceBeforeConfDir) {
  Fixture f;
  f.manifests.write("kube.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: other, namespace: kube-system}
spec: {config: '{"name":"other-from-nad","type":"bridge"}'}
)");
  ManifestStore store(f.manifests.path());
  const auto network = resolve_default_network("other", f.config, &store);
  EXPECT_NE(network.config.find("other-from-nad"), std::string::npos);
  EXPECT_EQ(network.status_name, "other-from-nad");
}

TEST(Resolution, PodNetworksInDelegateOrder) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  f.config.default_networks = {"from-dir"};
  const auto pod = store.get_pod("app", "web", false);
  const auto networks = resolve_networks(f.config, &*pod, &store);
  ASSERT_EQ(networks.size(), 4U);
  EXPECT_TRUE(networks[0].cluster_network);
  EXPECT_EQ(networks[0].status_name, "other");
  EXPECT_EQ(networks[1].status_name, "from-dir");
  EXPECT_FALSE(networks[1].cluster_network);
  EXPECT_EQ(networks[2].status_name, "app/ip-192");
  EXPECT_EQ(networks[2].selection->interface, "lic0");
  EXPECT_EQ(networks[3].status_name, "shared/chain");
}

TEST(Resolution, DefaultNetworksSkippedForSystemNamespaces) {
  Fixture f;
  f.config.default_networks = {"from-dir"};
  PodInfo pod{"kube-system", "coredns", "u", false, {}};
  TempDir empty;
  ManifestStore store(empty.path());
  EXPECT_EQ(resolve_networks(f.config, &pod, &store).size(), 1U);
  pod.namespace_name = "app";
  EXPECT_EQ(resolve_networks(f.config, &pod, &store).size(), 2U);
}

TEST(Resolution, InlineDelegatesWhenNoClusterNetwork) {
  Fixture f;
  auto config = parse_meta_config(R"({"type":"multus","delegates":[{"name":"d0","type":"bridge"},{"name":"d1","type":"ptp"}]})");
  const auto networks = resolve_networks(config, nullptr, nullptr);
  ASSERT_EQ(networks.size(), 2U);
  EXPECT_TRUE(networks[0].cluster_network);
  EXPECT_FALSE(networks[1].cluster_network);
  EXPECT_EQ(networks[1].status_name, "d1");
}

TEST(Resolution, DefaultNetworkAnnotationReplacesTheMasterAndObeysIsolation) {
  Fixture f;
  ManifestStore store(f.manifests.path());
  PodInfo pod{"app", "web", "u", false, {{std::string(kDefaultNetworkAnnotation), "app/ip-192"}}};
  auto networks = resolve_networks(f.config, &pod, &store);
  ASSERT_EQ(networks.size(), 1U);
  EXPECT_TRUE(networks[0].cluster_network);
  EXPECT_EQ(networks[0].status_name, "ip-192");

  pod.annotations[std::string(kDefaultNetworkAnnotation)] = "shared/chain";
  f.config.namespace_isolation = true;
  EXPECT_THROW(resolve_networks(f.config, &pod, &store), cni::Error);

  pod.annotations[std::string(kDefaultNetworkAnnotation)] = "app/ip-192,shared/chain";
  f.config.namespace_isolation = false;
  EXPECT_THROW(resolve_networks(f.config, &pod, &store), cni::Error);
}

}  // namespace
}  // namespace plexus::meta
