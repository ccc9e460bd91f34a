// The bridge plugin against the real kernel, ported from the reference's scenarios S18-S25
// (shared/reference/cni-conformance.md), each run as plexus's binary and as plexus's .so in-process,
// and where Debian's 1.1.1 has the feature, diffed against it.
#include <plexus/net/bridge.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include "harness.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

namespace plexus::test::bridge {
namespace {

class BridgeTest : public ::testing::TestWithParam<Way> {
 protected:
  cni::Reply run(const Topology& topology, const cni::Request& request) {
    return Runner::instance().run(GetParam(), "bridge", topology.host, request);
  }
  // ADD that must succeed; returns the result.
  json add(const Topology& topology, const json& conf, const std::string& ifname = "eth0", const std::string& args = "") {
    const auto reply = run(topology, topology.request("ADD", conf, ifname, "c1", args));
    if (reply.exit_code != 0) throw std::runtime_error("ADD failed: " + conf.dump() + "\n" + reply.stdout_data + reply.stderr_data);
    return parse_reply(reply);
  }
  // A failing call's CNI error message.
  std::string error_of(const Topology& topology, const cni::Request& request) {
    const auto reply = run(topology, request);
    EXPECT_NE(reply.exit_code, 0) << reply.stdout_data;
    if (reply.exit_code == 0) return "";
    return parse_reply(reply).value("msg", "");
  }
};

const json* link_named(const json& links, const std::string& name) {
  for (const auto& link : links) {
    if (link.value("ifname", "") == name) return &link;
  }
  return nullptr;
}

std::vector<std::string> addresses_of(const TestNetns& ns, const std::string& ifname) {
  std::vector<std::string> out;
  for (const auto& link : ns.exec_json("ip -j addr show dev " + ifname)) {
    for (const auto& info : link.value("addr_info", json::array())) {
      const std::string local = info.value("local", "");
      if (local.rfind("fe80", 0) == 0) continue;  // link-local: derived from a random MAC
      out.push_back(local + "/" + std::to_string(info.value("prefixlen", 0)));
    }
  }
  return out;
}

std::vector<std::string> host_veths(const TestNetns& host) {
  std::vector<std::string> names;
  for (const auto& link : host.exec_json("ip -d -j link show type veth")) names.push_back(link.value("ifname", ""));
  return names;
}

// ---- S18: isDefaultGateway ------------------------------------------------------------------
TEST_P(BridgeTest, S18DefaultGatewayGivesThreeInterfacesTheGatewayOnTheBridgeAndADefaultRoute) {
  PLEXUS_REQUIRE_ROOT();
  for (const auto& version : add_versions(GetParam())) {
    SCOPED_TRACE(version);
    Topology topology;
    const auto conf = bridge_conf(version, {{"isDefaultGateway", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
    const auto result = add(topology, conf);
    ASSERT_EQ(result["interfaces"].size(), 3U) << result.dump();
    EXPECT_EQ(result["interfaces"][0]["name"], "bridge0");
    EXPECT_EQ(result["interfaces"][1]["name"].get<std::string>().rfind("veth", 0), 0U);
    EXPECT_EQ(result["interfaces"][2]["name"], "eth0");
    EXPECT_EQ(result["interfaces"][2]["sandbox"], topology.pod.path());
    for (const auto& iface : result["interfaces"]) EXPECT_EQ(iface["mac"].get<std::string>().size(), 17U);
    ASSERT_EQ(result["ips"].size(), 1U);
    EXPECT_EQ(result["ips"][0]["interface"], 2);
    EXPECT_EQ(result["ips"][0]["address"], "10.1.2.2/24");
    EXPECT_EQ(result["ips"][0]["gateway"], "10.1.2.1");

    EXPECT_EQ(addresses_of(topology.host, "bridge0"), std::vector<std::string>{"10.1.2.1/24"});
    EXPECT_EQ(addresses_of(topology.pod, "eth0"), std::vector<std::string>{"10.1.2.2/24"});
    const auto routes = topology.pod.exec_json("ip -j route show default");
    ASSERT_EQ(routes.size(), 1U);
    EXPECT_EQ(routes[0]["gateway"], "10.1.2.1");

    // The bridge's MAC is its own (pinned), not the port's, and is what the result says.
    const auto links = topology.host.exec_json("ip -d -j link show");
    const auto* bridge = link_named(links, "bridge0");
    const auto* port = link_named(links, result["interfaces"][1]["name"]);
    ASSERT_NE(bridge, nullptr);
    ASSERT_NE(port, nullptr);
    EXPECT_NE((*bridge)["address"], (*port)["address"]);
    EXPECT_EQ((*bridge)["address"], result["interfaces"][0]["mac"]);
    EXPECT_EQ((*port)["master"], "bridge0");
    EXPECT_EQ(topology.host.exec("cat /proc/sys/net/ipv4/ip_forward"), "1\n");
  }
}

TEST_P(BridgeTest, S18ASecondPodLeavesTheBridgeMacAlone) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  TestNetns second("brp2");
  const auto conf = bridge_conf("1.0.0", {{"isGateway", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
  const auto first = add(topology, conf);
  auto request = topology.request("ADD", conf, "eth0", "c2");
  request.netns = second.path();
  const auto reply = run(topology, request);
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(parse_reply(reply)["interfaces"][0]["mac"], first["interfaces"][0]["mac"]);
}

// ---- S19: IPv6, dual stack, several subnets ---------------------------------------------------
TEST_P(BridgeTest, S19EverySubnetGetsItsGatewayOnTheBridge) {
  PLEXUS_REQUIRE_ROOT();
  struct Case {
    std::vector<std::string> subnets;
    std::set<std::string> gateways;  // expected on the bridge
  };
  const std::vector<Case> cases = {
      {{"2001:db8:1::/64"}, {"2001:db8:1::1/64"}},
      {{"10.1.2.0/24", "2001:db8:1::/64"}, {"10.1.2.1/24", "2001:db8:1::1/64"}},
      // Two IPv6 subnets that do not overlap may share the bridge (two IPv4 ones may not).
      {{"10.1.2.0/24", "2001:db8:1::/66", "2001:db8:1:0:4000::/66"}, {"10.1.2.1/24", "2001:db8:1::1/66", "2001:db8:1:0:4000::1/66"}}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.subnets.size());
    Topology topology;
    const auto result = add(topology, bridge_conf("1.0.0", {{"isGateway", true}, {"ipam", topology.host_local(c.subnets)}}));
    ASSERT_EQ(result["ips"].size(), c.subnets.size()) << result.dump();
    const auto addresses = addresses_of(topology.host, "bridge0");
    EXPECT_EQ(std::set<std::string>(addresses.begin(), addresses.end()), c.gateways);
    if (c.subnets.size() == 3) {
      Topology other;
      const auto message = error_of(other, other.request("ADD", bridge_conf("0.2.0", {{"isGateway", true}, {"ipam", other.host_local(c.subnets)}})));
      EXPECT_FALSE(message.empty());
    }
  }
}

// ---- S20: DNS -------------------------------------------------------------------------------
TEST_P(BridgeTest, S20DnsComesFromTheConfigElseFromIpam) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  const auto resolv = topology.dir / "resolv.conf";
  std::ofstream(resolv) << "nameserver 192.0.2.0\n";
  auto ipam = topology.host_local({"10.1.2.0/24"});
  ipam["resolvConf"] = resolv.string();
  const auto from_ipam = add(topology, bridge_conf("1.0.0", {{"ipam", ipam}}));
  if (GetParam() == Way::Reference) {
    // Debian's 1.1.1 predates plugins v1.2.0, where bridge started passing the IPAM's DNS on.
    EXPECT_FALSE(from_ipam.contains("dns") && from_ipam["dns"].contains("nameservers"));
  } else {
    EXPECT_EQ(from_ipam["dns"]["nameservers"], json::array({"192.0.2.0"}));
  }
  Topology second;
  auto ipam2 = second.host_local({"10.1.2.0/24"});
  ipam2["resolvConf"] = resolv.string();
  const auto from_config = add(second, bridge_conf("1.0.0", {{"ipam", ipam2}, {"dns", {{"nameservers", {"198.51.100.1"}}}}}));
  EXPECT_EQ(from_config["dns"]["nameservers"], json::array({"198.51.100.1"}));
}

// ---- S21: L2 and disableContainerInterface -----------------------------------------------------
TEST_P(BridgeTest, S21L2HasNoIpsAndTheContainerEndUp) {
  PLEXUS_REQUIRE_ROOT();
  for (const auto& version : add_versions(GetParam())) {
    SCOPED_TRACE(version);
    Topology topology;
    const auto result = add(topology, bridge_conf(version));
    EXPECT_FALSE(result.contains("ips")) << result.dump();
    EXPECT_EQ(result["interfaces"].size(), 3U);
    const auto eth0 = topology.pod.exec_json("ip -j link show dev eth0");
    EXPECT_NE(eth0[0]["flags"].dump().find("\"UP\""), std::string::npos);
  }
}

TEST_P(BridgeTest, S21DisableContainerInterfaceLeavesItDownAndRefusesIpam) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "disableContainerInterface is newer than Debian's 1.1.1";
  Topology topology;
  const auto result = add(topology, bridge_conf("1.0.0", {{"disableContainerInterface", true}}));
  EXPECT_FALSE(result.contains("ips"));
  const auto eth0 = topology.pod.exec_json("ip -j link show dev eth0");
  EXPECT_EQ(eth0[0]["flags"].dump().find("\"UP\""), std::string::npos) << eth0.dump();

  Topology second;
  EXPECT_EQ(error_of(second, second.request("ADD", bridge_conf("1.0.0", {{"disableContainerInterface", true},
                                                                          {"ipam", second.host_local({"10.1.2.0/24"})}}))),
            "cannot use IPAM when DisableContainerInterface flag is set");
  EXPECT_TRUE(host_veths(second.host).empty());
}

// ---- S22: VLANs -----------------------------------------------------------------------------
// CONFIG_BRIDGE_VLAN_FILTERING: some test kernels lack it, and then the reference fails too.
bool kernel_has_vlan_filtering() {
  static const bool supported = [] {
    TestNetns probe("brvf");
    return probe.run("ip link add probe0 type bridge vlan_filtering 1").exit_code == 0;
  }();
  return supported;
}

std::vector<net::PortVlan> vlans_of(const TestNetns& host, const std::string& port) {
  return net::in_netns(net::Netns::open(host.path()), [&] { return net::port_vlans(net::Netlink().link(port).index); });
}

TEST_P(BridgeTest, S22AccessVlanWithGatewayAddsAVlanInterfaceAndFiltering) {
  PLEXUS_REQUIRE_ROOT();
  if (!kernel_has_vlan_filtering()) GTEST_SKIP() << "this kernel has no bridge vlan_filtering";
  Topology topology;
  const auto result = add(topology, bridge_conf("1.0.0", {{"vlan", 100}, {"isGateway", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}}));
  ASSERT_EQ(result["interfaces"].size(), 4U) << result.dump();
  EXPECT_EQ(result["interfaces"][3]["name"], "bridge0.100");
  EXPECT_EQ(topology.host.exec("cat /sys/class/net/bridge0/bridge/vlan_filtering"), "1\n");
  const auto vlans = vlans_of(topology.host, result["interfaces"][1]["name"]);
  const auto has_100 = std::find(vlans.begin(), vlans.end(), net::PortVlan{100, true, true}) != vlans.end();
  EXPECT_TRUE(has_100);
  EXPECT_EQ(addresses_of(topology.host, "bridge0.100"), std::vector<std::string>{"10.1.2.1/24"});
  EXPECT_TRUE(addresses_of(topology.host, "bridge0").empty());
  if (GetParam() != Way::Reference) {
    // preserveDefaultVlan defaults to false (plugins v1.8+): VLAN 1 is gone from the port.
    EXPECT_EQ(vlans, (std::vector<net::PortVlan>{{100, true, true}}));
  }
}

TEST_P(BridgeTest, S22TrunkGivesTaggedVlans) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "vlanTrunk is newer than Debian's 1.1.1";
  if (!kernel_has_vlan_filtering()) GTEST_SKIP() << "this kernel has no bridge vlan_filtering";
  Topology topology;
  const json trunk = json::array({json{{"id", 101}}, json{{"minID", 200}, {"maxID", 210}}});
  const auto result = add(topology, bridge_conf("1.0.0", {{"vlanTrunk", trunk}}));
  const auto vlans = vlans_of(topology.host, result["interfaces"][1]["name"]);
  std::vector<net::PortVlan> expected{{101, false, false}};
  for (std::uint16_t id = 200; id <= 210; ++id) expected.push_back({id, false, false});
  EXPECT_EQ(vlans, expected);
}

TEST_P(BridgeTest, S25InvalidVlansAreConfigErrors) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  for (const int vlan : {-100, 5000}) {
    const auto reply = run(topology, topology.request("ADD", bridge_conf("1.0.0", {{"vlan", vlan}})));
    ASSERT_NE(reply.exit_code, 0);
    EXPECT_EQ(parse_reply(reply)["msg"], "invalid VLAN ID " + std::to_string(vlan) + " (must be between 0 and 4094)");
  }
  if (GetParam() == Way::Reference) return;
  const std::vector<std::pair<json, std::string>> trunks = {
      {json::array({json{{"minID", 0}, {"maxID", 10}}}), "incorrect trunk minID parameter"},
      {json::array({json{{"minID", 1}, {"maxID", 5000}}}), "incorrect trunk maxID parameter"},
      {json::array({json{{"minID", 20}, {"maxID", 10}}}), "minID is greater than maxID in trunk parameter"},
      {json::array({json{{"maxID", 10}}}), "minID and maxID should be configured simultaneously, minID is missing"},
      {json::array({json{{"id", 4095}}}), "incorrect trunk id parameter"}};
  for (const auto& [trunk, message] : trunks) {
    const auto reply = run(topology, topology.request("ADD", bridge_conf("1.0.0", {{"vlanTrunk", trunk}})));
    ASSERT_NE(reply.exit_code, 0);
    EXPECT_EQ(parse_reply(reply)["code"], 7);
    EXPECT_EQ(parse_reply(reply)["msg"], message);
  }
  EXPECT_TRUE(host_veths(topology.host).empty());
}

// ---- S23: MAC precedence --------------------------------------------------------------------
TEST_P(BridgeTest, S23RuntimeConfigMacBeatsArgsBeatsCniArgs) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "Debian's 1.1.1 bridge has no MAC support";
  const std::string cni_args = "IgnoreUnknown=true;MAC=c2:11:22:33:04:56";
  const json args{{"cni", {{"mac", "c2:11:22:33:07:89"}}}};
  const json runtime{{"mac", "02:00:00:00:00:00"}};
  struct Case {
    json extra;
    std::string expected;
  };
  const std::vector<Case> cases = {{json::object(), "c2:11:22:33:04:56"},
                                   {json{{"args", args}}, "c2:11:22:33:07:89"},
                                   {json{{"args", args}, {"runtimeConfig", runtime}}, "02:00:00:00:00:00"}};
  for (const auto& c : cases) {
    Topology topology;
    const auto result = add(topology, bridge_conf("1.0.0", c.extra), "eth0", cni_args);
    EXPECT_EQ(result["interfaces"][2]["mac"], c.expected);
    EXPECT_EQ(topology.pod.exec_json("ip -j link show dev eth0")[0]["address"], c.expected);
  }
}

// ---- S24: ensureAddr ------------------------------------------------------------------------
TEST_P(BridgeTest, S24AnotherIpv4AddressOnTheBridgeIsAnErrorUnlessForced) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  topology.host.exec("ip link add bridge0 type bridge && ip addr add 10.0.0.1/8 dev bridge0");
  const auto conf = bridge_conf("1.0.0", {{"isGateway", true}, {"ipam", topology.host_local({"10.1.0.0/16"})}});
  const auto message = error_of(topology, topology.request("ADD", conf));
  EXPECT_EQ(message, "failed to set bridge addr: \"bridge0\" already has an IP address different from 10.1.0.1/16");
  // S25: the failure came after IPAM and the veth: plexus undoes both (the reference releases
  // the IP but leaves the veth).
  EXPECT_TRUE(topology.reserved_ips().empty());
  if (GetParam() != Way::Reference) {
    EXPECT_TRUE(host_veths(topology.host).empty());
    EXPECT_TRUE(topology.pod.exec_json("ip -j link show type veth").empty());
  }

  // A fresh pod: the reference leaves the failed ADD's eth0 behind.
  auto forced = conf;
  forced["forceAddress"] = true;
  TestNetns pod("brpf");
  auto request = topology.request("ADD", forced);
  request.netns = pod.path();
  const auto reply = run(topology, request);
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(addresses_of(topology.host, "bridge0"), std::vector<std::string>{"10.1.0.1/16"});
}

TEST_P(BridgeTest, S24Ipv6OverlapIsAnErrorAndDisjointSubnetsAreKept) {
  PLEXUS_REQUIRE_ROOT();
  {
    Topology topology;
    topology.host.exec("ip link add bridge0 type bridge && ip addr add 2001:db8:1::1/48 dev bridge0 nodad");
    const auto message = error_of(topology, topology.request("ADD", bridge_conf("1.0.0", {{"isGateway", true},
                                                                                          {"ipam", topology.host_local({"2001:db8:1:2::/64"})}})));
    EXPECT_EQ(message, "failed to set bridge addr: \"bridge0\" already has an IP address different from 2001:db8:1:2::1/64");
  }
  Topology topology;
  topology.host.exec("ip link add bridge0 type bridge && ip addr add 2001:db8:5::1/64 dev bridge0 nodad");
  add(topology, bridge_conf("1.0.0", {{"isGateway", true}, {"ipam", topology.host_local({"2001:db8:1:2::/64"})}}));
  const auto addresses = addresses_of(topology.host, "bridge0");
  EXPECT_EQ(std::set<std::string>(addresses.begin(), addresses.end()),
            (std::set<std::string>{"2001:db8:5::1/64", "2001:db8:1:2::1/64"}));
}

TEST_P(BridgeTest, AnExistingLinkThatIsNoBridgeIsRefused) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  topology.host.exec("ip link add bridge0 type veth peer name bridge0-peer");
  const auto message = error_of(topology, topology.request("ADD", bridge_conf("1.0.0")));
  EXPECT_EQ(message, "failed to create bridge \"bridge0\": \"bridge0\" already exists but is not a bridge");
}

// ---- S25: failures, DEL, masquerade, spoof check ---------------------------------------------
TEST_P(BridgeTest, S25DuplicateAddFailsAndLeavesTheFirstAlone) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  const auto conf = bridge_conf("1.0.0", {{"ipam", topology.host_local({"10.1.2.0/24"})}});
  const auto first = add(topology, conf);
  const auto message = error_of(topology, topology.request("ADD", conf));
  EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  EXPECT_EQ(host_veths(topology.host), std::vector<std::string>{first["interfaces"][1]["name"].get<std::string>()});
  EXPECT_EQ(addresses_of(topology.pod, "eth0"), std::vector<std::string>{"10.1.2.2/24"});
  EXPECT_EQ(topology.reserved_ips().size(), 1U);
}

TEST_P(BridgeTest, S25DelRemovesTheVethAndReleasesTheIpAndIsIdempotent) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  const auto conf = bridge_conf("1.0.0", {{"ipam", topology.host_local({"10.1.2.0/24"})}});
  add(topology, conf);
  ASSERT_EQ(topology.reserved_ips().size(), 1U);
  for (int i = 0; i < 2; ++i) {
    const auto reply = run(topology, topology.request("DEL", conf));
    EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  }
  EXPECT_TRUE(topology.reserved_ips().empty());
  EXPECT_TRUE(host_veths(topology.host).empty());
  EXPECT_TRUE(topology.pod.exec_json("ip -j link show type veth").empty());
}

TEST_P(BridgeTest, S25DelWithTheNetnsGoneOrEmptyReleasesTheIp) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  TestNetns doomed("brpx");
  const auto conf = bridge_conf("1.0.0", {{"ipam", topology.host_local({"10.1.2.0/24"})}});
  auto request = topology.request("ADD", conf);
  request.netns = doomed.path();
  ASSERT_EQ(run(topology, request).exit_code, 0);
  const std::string doomed_path = doomed.path();
  run_command("ip netns delete " + doomed.name());
  request.command = "DEL";
  const auto reply = run(topology, request);
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_TRUE(topology.reserved_ips().empty());
  request.netns = "";
  EXPECT_EQ(run(topology, request).exit_code, 0);
}

TEST_P(BridgeTest, S25IpMasqRulesArePresentAfterAddAndGoneAfterDel) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "the reference masquerades with iptables, plexus with nftables";
  Topology topology;
  const auto conf = bridge_conf("1.0.0", {{"ipMasq", true}, {"isGateway", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
  add(topology, conf);
  const auto ruleset = topology.host.exec("nft list ruleset");
  EXPECT_NE(ruleset.find("ip saddr 10.1.2.2 jump masq-"), std::string::npos) << ruleset;
  EXPECT_NE(ruleset.find("ip daddr != 224.0.0.0/4 masquerade"), std::string::npos) << ruleset;
  EXPECT_NE(ruleset.find("ip daddr 10.1.2.0/24 accept"), std::string::npos) << ruleset;
  ASSERT_EQ(run(topology, topology.request("DEL", conf)).exit_code, 0);
  const auto after = topology.host.exec("nft list ruleset");
  EXPECT_EQ(after.find("10.1.2.2"), std::string::npos) << after;
  EXPECT_EQ(after.find("masq-"), std::string::npos) << after;
}

TEST_P(BridgeTest, S25IpMasqRulesGoEvenWhenTheNetnsIsGone) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "the reference leaves its rules behind here";
  Topology topology;
  TestNetns doomed("brpy");
  const auto conf = bridge_conf("1.0.0", {{"ipMasq", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
  auto request = topology.request("ADD", conf);
  request.netns = doomed.path();
  ASSERT_EQ(run(topology, request).exit_code, 0);
  run_command("ip netns delete " + doomed.name());
  request.command = "DEL";
  ASSERT_EQ(run(topology, request).exit_code, 0);
  EXPECT_EQ(topology.host.exec("nft list ruleset").find("masq-"), std::string::npos);
}

TEST_P(BridgeTest, S25MacSpoofCheckRulesArePresentAfterAddAndGoneAfterDel) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "the reference uses its own nft table";
  Topology topology;
  const auto conf = bridge_conf("1.0.0", {{"macspoofchk", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
  const auto result = add(topology, conf);
  const auto ruleset = topology.host.exec("nft list ruleset");
  EXPECT_NE(ruleset.find("ether saddr " + result["interfaces"][2]["mac"].get<std::string>() + " return"), std::string::npos) << ruleset;
  EXPECT_NE(ruleset.find("iifname \"" + result["interfaces"][1]["name"].get<std::string>() + "\" jump spoof-"), std::string::npos);
  ASSERT_EQ(run(topology, topology.request("DEL", conf)).exit_code, 0);
  EXPECT_EQ(topology.host.exec("nft list ruleset").find("spoof-"), std::string::npos);
}

TEST_P(BridgeTest, S25HairpinAndPromiscAreExclusiveAndHairpinIsSet) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  EXPECT_EQ(error_of(topology, topology.request("ADD", bridge_conf("1.0.0", {{"hairpinMode", true}, {"promiscMode", true}}))),
            std::string("cannot set hairpin mode and promiscuous mode at the same time") + (GetParam() == Way::Reference ? "." : ""));
  const auto result = add(topology, bridge_conf("1.0.0", {{"hairpinMode", true}}));
  const auto port = result["interfaces"][1]["name"].get<std::string>();
  EXPECT_EQ(topology.host.exec("cat /sys/class/net/" + port + "/brport/hairpin_mode"), "1\n");
  Topology promisc;
  add(promisc, bridge_conf("1.0.0", {{"promiscMode", true}}));
  EXPECT_NE(promisc.host.exec_json("ip -j link show dev bridge0")[0]["flags"].dump().find("PROMISC"), std::string::npos);
}

// ---- CHECK ----------------------------------------------------------------------------------
TEST_P(BridgeTest, CheckPassesAfterAddAndFailsOnceTheAddressIsGone) {
  PLEXUS_REQUIRE_ROOT();
  for (const std::string version : {"0.4.0", "1.0.0"}) {
    SCOPED_TRACE(version);
    Topology topology;
    auto conf = bridge_conf(version, {{"isDefaultGateway", true}, {"ipam", topology.host_local({"10.1.2.0/24"})}});
    const auto result = add(topology, conf);
    conf["prevResult"] = result;
    const auto check = run(topology, topology.request("CHECK", conf));
    EXPECT_EQ(check.exit_code, 0) << check.stdout_data;
    topology.pod.exec("ip addr del 10.1.2.2/24 dev eth0");
    const auto message = error_of(topology, topology.request("CHECK", conf));
    EXPECT_NE(message.find("10.1.2.2/24"), std::string::npos) << message;
  }
}

TEST_P(BridgeTest, CheckOfAnL2NetworkPassesUnlikeTheReference) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  auto conf = bridge_conf("1.0.0");
  conf["prevResult"] = add(topology, conf);
  const auto reply = run(topology, topology.request("CHECK", conf));
  if (GetParam() == Way::Reference) {
    // The reference runs IPAM CHECK with an empty type (README: the L2 CHECK quirk).
    ASSERT_NE(reply.exit_code, 0);
    EXPECT_EQ(parse_reply(reply)["msg"], "no plugin name provided");
  } else {
    EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  }
}

INSTANTIATE_TEST_SUITE_P(Ways, BridgeTest, ::testing::Values(Way::Exec, Way::InProcess, Way::Reference),
                         [](const auto& param_info) { return way_name(param_info.param); });

// ---- differential: plexus vs Debian's 1.1.1, same config, fresh namespaces --------------------
struct KernelState {
  json links;      // name -> {kind, master, up}
  json addresses;  // name -> [cidr]
  json routes;     // pod routes, both families, without link-local
  json sysctls;

  friend bool operator==(const KernelState&, const KernelState&) = default;
};

std::string normalized_name(const std::string& name) {
  static const std::regex veth_name("^veth[0-9a-f]{8}$");
  return std::regex_match(name, veth_name) ? "veth" : name;
}

json link_state(const TestNetns& ns) {
  json out = json::object();
  for (const auto& link : ns.exec_json("ip -d -j link show")) {
    const auto name = normalized_name(link.value("ifname", ""));
    out[name] = {{"kind", link.contains("linkinfo") ? link["linkinfo"].value("info_kind", "") : ""},
                 {"master", link.value("master", "")},
                 {"up", link["flags"].dump().find("\"UP\"") != std::string::npos}};
  }
  return out;
}

KernelState kernel_state(const Topology& topology) {
  KernelState state;
  state.links = {{"host", link_state(topology.host)}, {"pod", link_state(topology.pod)}};
  for (const auto* ns : {&topology.host, &topology.pod}) {
    for (const auto& link : ns->exec_json("ip -j addr show")) {
      const auto name = normalized_name(link.value("ifname", ""));
      for (const auto& a : addresses_of(*ns, link.value("ifname", ""))) state.addresses[name].push_back(a);
    }
  }
  for (const char* family : {"-4", "-6"}) {
    for (auto route : topology.pod.exec_json(std::string("ip -j ") + family + " route show")) {
      if (route.value("dst", "").rfind("fe80", 0) == 0 || route.value("dst", "") == "multicast") continue;
      state.routes.push_back(json{{"dst", route.value("dst", "")}, {"gateway", route.value("gateway", "")}, {"dev", route.value("dev", "")}});
    }
  }
  state.sysctls = {{"ip_forward", topology.host.exec("cat /proc/sys/net/ipv4/ip_forward")},
                   {"ip6_forwarding", topology.host.exec("cat /proc/sys/net/ipv6/conf/all/forwarding")},
                   {"bridge_accept_ra", topology.host.exec("cat /proc/sys/net/ipv6/conf/bridge0/accept_ra")},
                   {"eth0_accept_dad", topology.pod.exec("cat /proc/sys/net/ipv6/conf/eth0/accept_dad")},
                   {"eth0_arp_notify", topology.pod.exec("cat /proc/sys/net/ipv4/conf/eth0/arp_notify")}};
  return state;
}

class BridgeDifferential : public ::testing::TestWithParam<std::string> {};

TEST_P(BridgeDifferential, SameResultAndKernelStateAsDebians) {
  PLEXUS_REQUIRE_ROOT();
  const std::vector<json> configs = {
      json{{"isDefaultGateway", true}},
      json{{"isGateway", true}, {"mtu", 1400}, {"hairpinMode", true}},
      json{{"isGateway", true}, {"dual", true}},
      json::object(),  // L2
  };
  std::vector<json> with_vlans = configs;
  if (kernel_has_vlan_filtering()) with_vlans.push_back(json{{"vlan", 100}, {"isGateway", true}, {"preserveDefaultVlan", true}});
  for (const auto& extra : with_vlans) {
    for (const auto& version : {std::string("0.3.1"), std::string("0.4.0"), std::string("1.0.0")}) {
      SCOPED_TRACE(extra.dump() + " " + version);
      json results[2];
      KernelState states[2];
      for (const Way way : {Way::Exec, Way::Reference}) {
        Topology topology;
        auto conf = bridge_conf(version, extra);
        const bool dual = conf.contains("dual");
        conf.erase("dual");
        if (!extra.empty()) {
          conf["ipam"] = topology.host_local(dual ? std::vector<std::string>{"10.1.2.0/24", "2001:db8:1::/64"}
                                                  : std::vector<std::string>{"10.1.2.0/24"});
        }
        const auto reply = Runner::instance().run(way, GetParam(), topology.host, topology.request("ADD", conf));
        ASSERT_EQ(reply.exit_code, 0) << way_name(way) << ": " << reply.stdout_data;
        const int i = way == Way::Exec ? 0 : 1;
        results[i] = normalized_result(parse_reply(reply));
        results[i]["interfaces"][2]["sandbox"] = "pod";
        states[i] = kernel_state(topology);
      }
      EXPECT_EQ(results[0], results[1]) << results[0].dump(1) << "\n" << results[1].dump(1);
      EXPECT_EQ(states[0].links, states[1].links);
      EXPECT_EQ(states[0].addresses, states[1].addresses);
      EXPECT_EQ(states[0].routes, states[1].routes);
      EXPECT_EQ(states[0].sysctls, states[1].sysctls);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Bridge, BridgeDifferential, ::testing::Values(std::string("bridge")));

}  // namespace
}  // namespace plexus::test::bridge
