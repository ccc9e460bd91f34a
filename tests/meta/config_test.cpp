#include <plexus/cni/errors.hpp>
#include <plexus/meta/config.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

namespace plexus::meta {
namespace {

// Runs parse_meta_config and returns the cni::Error it throws.
cni::Error parse_error(const std::string& bytes) {
  try {
    parse_meta_config(bytes);
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << bytes;
  return cni::Error(0, "");
}

TEST(MetaConfig, DefaultsAreMultusDefaults) {
  const auto config = parse_meta_config(R"({"name":"m","type":"multus","cniVersion":"0.3.1","clusterNetwork":"cbr0"})");
  EXPECT_EQ(config.type, "multus");
  EXPECT_EQ(config.cni_version, "0.3.1");
  EXPECT_EQ(config.conf_dir, "/etc/cni/multus/net.d");
  EXPECT_EQ(config.cni_dir, "/var/lib/cni/multus");
  EXPECT_EQ(config.bin_dir, "/opt/cni/bin");
  EXPECT_EQ(config.log_level, LogLevel::Panic);
  EXPECT_TRUE(config.log_to_stderr);
  EXPECT_FALSE(config.namespace_isolation);
  EXPECT_EQ(config.global_namespaces, std::vector<std::string>{"default"});
  EXPECT_EQ(config.system_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(config.multus_namespace, "kube-system");
  EXPECT_FALSE(config.retry_delete_on_error);
  EXPECT_TRUE(config.default_networks.empty());
  EXPECT_TRUE(config.plugin_dirs.empty());
  EXPECT_TRUE(config.delegate_modes.empty());
  EXPECT_TRUE(config.unknown_keys.empty());
  EXPECT_TRUE(config.send_events) << "multus always sends Events";
}

TEST(MetaConfig, SendEventsTurnsThemOff) {
  EXPECT_FALSE(parse_meta_config(R"({"type":"plexus","clusterNetwork":"c","sendEvents":false})").send_events);
  const auto config = parse_meta_config(R"({"type":"plexus","clusterNetwork":"c","sendEvents":true})");
  EXPECT_TRUE(config.send_events);
  EXPECT_TRUE(config.unknown_keys.empty());
  try {
    parse_meta_config(R"({"type":"plexus","clusterNetwork":"c","sendEvents":"no"})");
    FAIL() << "a string for a bool";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_NE(e.msg().find("\"sendEvents\""), std::string::npos) << e.msg();
  }
}

TEST(MetaConfig, EveryKeyIsRead) {
  const auto config = parse_meta_config(R"({
    "name": "plexus-net", "type": "plexus", "cniVersion": "1.0.0",
    "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
    "clusterNetwork": "/etc/cni/net.d/10-flannel.conflist",
    "defaultNetworks": ["extra-a", "extra-b"],
    "confDir": "/c", "cniDir": "/d", "binDir": "/b",
    "logFile": "/var/log/plexus.log", "logLevel": "Debug", "logToStderr": false,
    "readinessindicatorfile": "/run/flannel/subnet.env",
    "namespaceIsolation": true, "globalNamespaces": "default, shared ,infra",
    "systemNamespaces": ["kube-system", "monitoring"], "multusNamespace": "plexus-system",
    "retryDeleteOnError": true, "auxiliaryCNIChainName": "aux",
    "pluginDirs": ["/usr/lib/plexus/plugins"], "delegateMode": {"macvlan": "exec", "bridge": "in-process"},
    "capabilities": {"portMappings": true}, "runtimeConfig": {"portMappings": [{"hostPort": 80}]},
    "somethingNew": 1
  })");
  EXPECT_EQ(config.name, "plexus-net");
  EXPECT_EQ(config.kubeconfig, "/etc/cni/net.d/multus.d/multus.kubeconfig");
  EXPECT_EQ(config.cluster_network, "/etc/cni/net.d/10-flannel.conflist");
  EXPECT_EQ(config.default_networks, (std::vector<std::string>{"extra-a", "extra-b"}));
  EXPECT_EQ(config.conf_dir, "/c");
  EXPECT_EQ(config.cni_dir, "/d");
  EXPECT_EQ(config.bin_dir, "/b");
  EXPECT_EQ(config.log_file, "/var/log/plexus.log");
  EXPECT_EQ(config.log_level, LogLevel::Debug);
  EXPECT_FALSE(config.log_to_stderr);
  EXPECT_EQ(config.readiness_indicator_file, "/run/flannel/subnet.env");
  EXPECT_TRUE(config.namespace_isolation);
  EXPECT_EQ(config.global_namespaces, (std::vector<std::string>{"default", "shared", "infra"}));
  EXPECT_EQ(config.system_namespaces, (std::vector<std::string>{"kube-system", "monitoring"}));
  EXPECT_EQ(config.multus_namespace, "plexus-system");
  EXPECT_TRUE(config.retry_delete_on_error);
  EXPECT_EQ(config.auxiliary_cni_chain_name, "aux");
  EXPECT_EQ(config.plugin_dirs, std::vector<std::string>{"/usr/lib/plexus/plugins"});
  EXPECT_EQ(config.delegate_modes.at("macvlan"), DelegateMode::Exec);
  EXPECT_EQ(config.delegate_modes.at("bridge"), DelegateMode::InProcess);
  EXPECT_TRUE(config.capabilities.at("portMappings"));
  EXPECT_EQ(config.runtime_config["portMappings"][0]["hostPort"], 80);
  EXPECT_EQ(config.unknown_keys, std::vector<std::string>{"somethingNew"});
}

TEST(MetaConfig, KeysMatchCaseInsensitivelyAsGo) {
  const auto config = parse_meta_config(R"({"type":"multus","CLUSTERNETWORK":"cbr0","confdir":"/x"})");
  EXPECT_EQ(config.cluster_network, "cbr0");
  EXPECT_EQ(config.conf_dir, "/x");
  EXPECT_TRUE(config.unknown_keys.empty());
}

TEST(MetaConfig, ThickModesShimTypesAreTheSameMetaConfig) {
  // What `plexus install --daemon-socket` writes: plexusd and the shim's DEL fallback read it as is.
  for (const char* type : {"plexus-shim", "multus-shim"}) {
    const auto config = parse_meta_config(
        fmt::format(R"({{"type":"{}","clusterNetwork":"cbr0","daemonSocket":"/run/plexus/plexus.sock"}})", type));
    EXPECT_EQ(config.type, type);
    EXPECT_EQ(config.cluster_network, "cbr0");
  }
}

TEST(MetaConfig, InlineDelegatesWithoutClusterNetwork) {
  const auto config = parse_meta_config(
      R"({"type":"multus","delegates":[{"cniVersion":"0.3.1","name":"a","type":"bridge"},
                                        {"name":"b","plugins":[{"type":"ptp"}]}]})");
  ASSERT_EQ(config.delegates.size(), 2U);
  EXPECT_EQ(config.delegates[0]["type"], "bridge");
  EXPECT_EQ(config.delegates[1]["name"], "b");
}

TEST(MetaConfig, GlobalNamespacesAlsoAsList) {
  const auto config = parse_meta_config(R"({"type":"plexus","clusterNetwork":"x","globalNamespaces":["a","b"]})");
  EXPECT_EQ(config.global_namespaces, (std::vector<std::string>{"a", "b"}));
}

TEST(MetaConfig, NamespaceIsolationRule) {
  auto config = parse_meta_config(R"({"type":"plexus","clusterNetwork":"x","namespaceIsolation":true,
                                     "globalNamespaces":"shared"})");
  EXPECT_TRUE(config.namespace_allowed("app", "app"));
  EXPECT_TRUE(config.namespace_allowed("app", "shared"));
  EXPECT_FALSE(config.namespace_allowed("app", "other"));
  config.namespace_isolation = false;
  EXPECT_TRUE(config.namespace_allowed("app", "other"));
}

TEST(MetaConfig, BadJsonIsCode6) {
  EXPECT_EQ(parse_error("{not json").code(), 6);
  EXPECT_EQ(parse_error("[1]").code(), 6);
}

struct InvalidCase {
  const char* config;
  const char* key;
  const char* value;
};

class MetaConfigInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(MetaConfigInvalid, IsCode7NamingKeyAndValue) {
  const auto error = parse_error(GetParam().config);
  EXPECT_EQ(error.code(), 7);
  EXPECT_NE(error.msg().find(GetParam().key), std::string::npos) << error.msg();
  EXPECT_NE(error.msg().find(GetParam().value), std::string::npos) << error.msg();
}

INSTANTIATE_TEST_SUITE_P(
    Keys, MetaConfigInvalid,
    ::testing::Values(
        InvalidCase{R"({"type":"bridge","clusterNetwork":"x"})", "\"type\"", "\"bridge\""},
        InvalidCase{R"({"clusterNetwork":"x"})", "\"type\"", "\"\""},
        InvalidCase{R"({"type":"multus"})", "\"clusterNetwork\"", "delegates"},
        InvalidCase{R"({"type":"multus","clusterNetwork":7})", "\"clusterNetwork\"", "7"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","cniVersion":"9.9.9"})", "\"cniVersion\"", "\"9.9.9\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","logLevel":"loud"})", "\"logLevel\"", "\"loud\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","logToStderr":"yes"})", "\"logToStderr\"", "\"yes\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","namespaceIsolation":1})", "\"namespaceIsolation\"", "1"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","retryDeleteOnError":"true"})", "\"retryDeleteOnError\"", "\"true\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","defaultNetworks":"a"})", "\"defaultNetworks\"", "\"a\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","systemNamespaces":[1]})", "\"systemNamespaces\"", "[1]"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","globalNamespaces":5})", "\"globalNamespaces\"", "5"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","multusNamespace":""})", "\"multusNamespace\"", "\"\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","confDir":false})", "\"confDir\"", "false"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","pluginDirs":"/p"})", "\"pluginDirs\"", "\"/p\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","delegateMode":{"macvlan":"fork"}})",
                    "\"delegateMode.macvlan\"", "\"fork\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","delegateMode":["exec"]})", "\"delegateMode\"", "[\"exec\"]"},
        InvalidCase{R"({"type":"multus","delegates":[{"name":"x"}]})", "\"delegates\"", "{\"name\":\"x\"}"},
        InvalidCase{R"({"type":"multus","clusterNetwork":"cbr0","auxiliaryCNIChainName":"aux"})",
                    "\"auxiliaryCNIChainName\"", "\"aux\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","capabilities":{"ips":"yes"}})", "\"capabilities.ips\"",
                    "\"yes\""},
        InvalidCase{R"({"type":"multus","clusterNetwork":"x","runtimeConfig":[]})", "\"runtimeConfig\"", "[]"}));

}  // namespace
}  // namespace plexus::meta
