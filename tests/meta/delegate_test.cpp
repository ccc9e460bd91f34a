#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/meta/delegate.hpp>

#include <gtest/gtest.h>

namespace plexus::meta {
namespace {

using cni::ordered_json;

ResolvedNetwork network(std::string name, std::string config, bool cluster = false,
                        std::optional<NetworkSelection> selection = std::nullopt) {
  ResolvedNetwork out;
  out.status_name = std::move(name);
  out.conflist = cni::is_conflist(cni::parse_json(config));
  out.config = std::move(config);
  out.cluster_network = cluster;
  out.selection = std::move(selection);
  return out;
}

NetworkSelection licence_selection() {
  NetworkSelection s;
  s.name = "ip-192";
  s.namespace_name = "app";
  s.ips = {"192.168.111.10/24"};
  s.mac = "20:01:02:03:04:05";
  s.default_route = {"192.168.111.1"};
  s.port_mappings = ordered_json::parse(R"([{"hostPort":8080,"containerPort":80}])");
  s.cni_args = ordered_json::parse(R"({"foo":"bar"})");
  return s;
}

TEST(CniArgs, PodIdentityRuntimeExtrasThenMacAndIp) {
  const auto runtime = cni::CniArgs::parse(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c0ffee;"
      "K8S_POD_UID=1234;CUSTOM=x;MAC=aa:aa:aa:aa:aa:aa");
  const auto selection = licence_selection();
  EXPECT_EQ(build_cni_args(runtime, &selection),
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c0ffee;"
            "K8S_POD_UID=1234;CUSTOM=x;MAC=20:01:02:03:04:05;IP=192.168.111.10/24");
  EXPECT_EQ(build_cni_args(cni::CniArgs::parse(""), nullptr),
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=;K8S_POD_UID=");
}

TEST(RuntimeConfig, OnlyDeclaredCapabilitiesReachThePlugin) {
  const auto selection = licence_selection();
  const auto args = capability_args(ordered_json::parse(R"({"bandwidth":{"ingressRate":1}})"), &selection);
  EXPECT_EQ(args["ips"][0], "192.168.111.10/24");
  EXPECT_EQ(args["mac"], "20:01:02:03:04:05");
  EXPECT_EQ(args["bandwidth"]["ingressRate"], 1);  // the runtime's own value carries through

  const auto injected = inject_runtime_config(
      ordered_json::parse(R"({"type":"macvlan","capabilities":{"ips":true,"mac":false,"portMappings":true}})"), args);
  EXPECT_EQ(injected["runtimeConfig"], ordered_json::parse(R"({"ips":["192.168.111.10/24"],"portMappings":[{"hostPort":8080,"containerPort":80}]})"));

  const auto untouched = inject_runtime_config(ordered_json::parse(R"({"type":"x","runtimeConfig":{"keep":1}})"), args);
  EXPECT_EQ(untouched["runtimeConfig"]["keep"], 1);
}

TEST(CniArgsMerge, IntoArgsCniKeepingExistingKeys) {
  const auto merged = merge_cni_args(ordered_json::parse(R"({"type":"x","args":{"cni":{"a":1,"foo":"old"},"other":2}})"),
                                     ordered_json::parse(R"({"foo":"bar"})"));
  EXPECT_EQ(merged["args"], ordered_json::parse(R"({"cni":{"a":1,"foo":"bar"},"other":2})"));
}

TEST(BuildDelegates, InterfaceNamesCountEveryDelegate) {
  auto named = licence_selection();
  named.interface = "lic0";
  NetworkSelection plain;
  plain.name = "plain";
  plain.namespace_name = "app";
  const std::vector<ResolvedNetwork> networks = {
      network("cbr0", R"({"name":"cbr0","type":"bridge"})", true),
      network("app/ip-192", R"({"name":"ip-192","type":"macvlan"})", false, named),
      network("app/plain", R"({"name":"plain","type":"macvlan"})", false, plain),
  };
  DelegateContext context;
  context.container_ifname = "eth0";
  const auto delegates = build_delegates(networks, context);
  ASSERT_EQ(delegates.size(), 3U);
  EXPECT_EQ(delegates[0].ifname, "eth0");
  EXPECT_TRUE(delegates[0].cluster_network);
  EXPECT_EQ(delegates[1].ifname, "lic0");
  EXPECT_EQ(delegates[2].ifname, "net2");  // the named one still used up number 1
  EXPECT_EQ(delegates[0].type(), "bridge");
}

// Two networks into one name: the second ADD would fail and its rollback DEL remove the first.
TEST(BuildDelegates, AnInterfaceNameTakenTwiceIsCode7NamingBothNetworks) {
  auto named = licence_selection();
  named.interface = "net2";  // what the third network gets by its index
  NetworkSelection plain;
  plain.name = "plain";
  plain.namespace_name = "app";
  const std::vector<ResolvedNetwork> networks = {
      network("cbr0", R"({"name":"cbr0","type":"bridge"})", true),
      network("app/ip-192", R"({"name":"ip-192","type":"macvlan"})", false, named),
      network("app/plain", R"({"name":"plain","type":"macvlan"})", false, plain),
  };
  try {
    (void)build_delegates(networks, DelegateContext{});
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_EQ(e.msg(), R"(network "app/plain" asks for interface "net2", which network "app/ip-192" already gets in this pod)");
  }
  named.interface = "eth0";  // the cluster network's
  const std::vector<ResolvedNetwork> onto_eth0 = {network("cbr0", R"({"name":"cbr0","type":"bridge"})", true),
                                                  network("app/ip-192", R"({"name":"ip-192","type":"macvlan"})", false, named)};
  EXPECT_THROW((void)interface_names(onto_eth0, DelegateContext{}), cni::Error);
}

TEST(BuildDelegates, RuntimeConfigAndCniArgsPerPluginOfAConflist) {
  const auto selection = licence_selection();
  const std::vector<ResolvedNetwork> networks = {
      network("cbr0", R"({"name":"cbr0","type":"bridge"})", true),
      network("app/ip-192",
              R"({"cniVersion":"1.0.0","name":"ip-192","plugins":[{"type":"macvlan","capabilities":{"ips":true,"mac":true}},{"type":"portmap","capabilities":{"portMappings":true}}]})",
              false, selection),
  };
  const auto delegates = build_delegates(networks, DelegateContext{});
  ASSERT_EQ(delegates.size(), 2U);
  EXPECT_EQ(delegates[0].config, R"({"name":"cbr0","type":"bridge"})");  // untouched bytes
  const auto config = cni::parse_json(delegates[1].config);
  EXPECT_TRUE(delegates[1].conflist);
  EXPECT_EQ(config["plugins"][0]["runtimeConfig"], ordered_json::parse(R"({"ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"})"));
  EXPECT_EQ(config["plugins"][1]["runtimeConfig"], ordered_json::parse(R"({"portMappings":[{"hostPort":8080,"containerPort":80}]})"));
  EXPECT_EQ(config["plugins"][0]["args"]["cni"]["foo"], "bar");
  EXPECT_EQ(config["plugins"][1]["args"]["cni"]["foo"], "bar");
  EXPECT_EQ(delegates[1].ifname, "net1");
  EXPECT_EQ(delegates[1].mac, "20:01:02:03:04:05");
  EXPECT_EQ(delegates[1].default_route, std::vector<std::string>{"192.168.111.1"});
  EXPECT_NE(delegates[1].cni_args.find(";MAC=20:01:02:03:04:05;IP=192.168.111.10/24"), std::string::npos);
}

}  // namespace
}  // namespace plexus::meta
