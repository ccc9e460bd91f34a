// A failed bridge ADD leaves the node and the pod exactly as they were: `ip -j link/addr/route`
// of the test "host" namespace (where eth0, one end of a veth pair, stands for the node's uplink)
// and of the pod namespace are compared before and after, for plexus's standalone binary exec'd
// and its .so in-process. Debian's bridge runs the same configs as the oracle of which ones fail
// (it changes the host on several of them: promisc on lo or eth0, a bridge left behind).
#include "harness.hpp"
#include "netns_snapshot.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexus::test::bridge {
namespace {

class BridgeHostUnchanged : public ::testing::TestWithParam<Way> {};

struct FailingAdd {
  std::string what;
  json extra;                        // merged into bridge_conf("1.0.0")
  std::vector<std::string> subnets;  // host-local's, unless `extra` has its own ipam
  bool no_pod = false;               // CNI_NETNS names no namespace
  bool bad_config = false;           // then DEL fails too, as the reference's does
};

// The node: eth0 with an address and routes (the uplink), a bridge of another network that is
// down and holds its gateway 10.90.0.1/24 with a pinned MAC, one with an IPv6 gateway only.
void make_node(const Topology& topology) {
  topology.host.exec("ip link add eth0 type veth peer name eth0-peer && ip link set eth0 up && ip link set eth0-peer up");
  topology.host.exec("ip addr add 192.168.200.2/24 dev eth0 && ip route add 198.51.100.0/24 via 192.168.200.1 table 100");
  topology.host.exec("ip link add br-shared address 02:00:00:00:90:01 type bridge && ip addr add 10.90.0.1/24 dev br-shared");
  topology.host.exec("ip link add br-v6 address 02:00:00:00:90:02 type bridge && ip link set br-v6 up &&"
                     " ip addr add 2001:db8:1::1/48 dev br-v6 nodad");
}

TEST_P(BridgeHostUnchanged, AFailedAddChangesNeitherTheNodeNorThePod) {
  PLEXUS_REQUIRE_ROOT();
  const std::vector<std::string> v4 = {"10.91.0.0/24"};
  const std::vector<FailingAdd> cases = {
      {"bridge named lo, promiscMode", {{"bridge", "lo"}, {"promiscMode", true}}, v4},
      {"bridge named after the uplink, promiscMode and mtu", {{"bridge", "eth0"}, {"promiscMode", true}, {"mtu", 1400}}, v4},
      {"bridge named after the uplink", {{"bridge", "eth0"}, {"isGateway", true}}, v4},
      {"new bridge, IPAM fails after the veth exists",
       {{"bridge", "brnew0"}, {"isGateway", true}, {"ipam", {{"type", "host-local"}, {"subnet", "10.93.0.0/33"}}}}, {}, false, true},
      {"new bridge, IPAM returns no address", {{"bridge", "brnew1"}, {"ipam", {{"type", "static"}, {"addresses", json::array()}}}}, {}},
      {"shared bridge (down), another network's IPv4 gateway, no forceAddress",
       {{"bridge", "br-shared"}, {"isGateway", true}, {"promiscMode", true}}, v4},
      {"shared bridge, IPv4 gateway added, then its IPv6 one conflicts", {{"bridge", "br-v6"}, {"isGateway", true}},
       {"10.92.0.0/24", "2001:db8:1:2::/64"}},
      {"new bridge, a VLAN id out of range", {{"bridge", "brnew2"}, {"vlan", 5000}}, v4, false, true},
      {"new bridge, a pod netns that does not exist", {{"bridge", "brnew3"}}, v4, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Topology topology;
    make_node(topology);
    auto conf = bridge_conf("1.0.0", c.extra);
    if (!c.subnets.empty()) conf["ipam"] = topology.host_local(c.subnets);
    auto request = topology.request("ADD", conf);
    if (c.no_pod) request.netns = "/var/run/netns/plexus-no-such-pod";
    const auto host_before = NetnsSnapshot::of(topology.host);
    const auto pod_before = NetnsSnapshot::of(topology.pod);

    auto del = request;
    del.command = "DEL";
    const auto reply = Runner::instance().run(GetParam(), "bridge", topology.host, request);
    ASSERT_NE(reply.exit_code, 0) << "the ADD succeeded: " << reply.stdout_data;
    if (GetParam() == Way::Reference) {  // the oracle of what fails; what it leaves is its own
      EXPECT_EQ(Runner::instance().run(GetParam(), "bridge", topology.host, del).exit_code != 0, c.bad_config);
      continue;
    }

    const auto host_after = NetnsSnapshot::settled(topology.host, host_before);
    EXPECT_TRUE(host_after == host_before) << reply.stdout_data << "\n" << host_after.changes_since(host_before);
    const auto pod_after = NetnsSnapshot::settled(topology.pod, pod_before);
    EXPECT_TRUE(pod_after == pod_before) << reply.stdout_data << "\n" << pod_after.changes_since(pod_before);
    EXPECT_TRUE(topology.reserved_ips().empty());

    // DEL of the failed pod is success (a config error fails it, as the reference's) and changes
    // nothing either.
    const auto deleted = Runner::instance().run(GetParam(), "bridge", topology.host, del);
    EXPECT_EQ(deleted.exit_code != 0, c.bad_config) << deleted.stdout_data;
    const auto host_after_del = NetnsSnapshot::settled(topology.host, host_before);
    EXPECT_TRUE(host_after_del == host_before) << host_after_del.changes_since(host_before);
  }
}

// The refusal names what it refused, the same words as the reference's.
TEST_P(BridgeHostUnchanged, ALinkThatIsNoBridgeIsNamed) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  make_node(topology);
  const auto reply = Runner::instance().run(GetParam(), "bridge", topology.host,
                                            topology.request("ADD", bridge_conf("1.0.0", {{"bridge", "eth0"}, {"promiscMode", true}})));
  ASSERT_NE(reply.exit_code, 0);
  EXPECT_EQ(parse_reply(reply).value("msg", ""), "failed to create bridge \"eth0\": \"eth0\" already exists but is not a bridge");
}

// What a failed ADD undoes is only its own: a bridge that another pod's port joined stays.
TEST_P(BridgeHostUnchanged, ABridgeInUseIsNotUndone) {
  PLEXUS_REQUIRE_ROOT();
  if (GetParam() == Way::Reference) GTEST_SKIP() << "the reference undoes nothing on the bridge";
  Topology topology;
  const auto good = bridge_conf("1.0.0", {{"bridge", "brused"}, {"ipam", topology.host_local({"10.94.0.0/24"})}});
  const auto added = Runner::instance().run(GetParam(), "bridge", topology.host, topology.request("ADD", good));
  ASSERT_EQ(added.exit_code, 0) << added.stdout_data;
  TestNetns second("brp2");
  auto failing = topology.request("ADD", bridge_conf("1.0.0", {{"bridge", "brused"}, {"ipam", {{"type", "static"}, {"addresses", json::array()}}}}));
  failing.netns = second.path();
  failing.container_id = "c2";
  EXPECT_NE(Runner::instance().run(GetParam(), "bridge", topology.host, failing).exit_code, 0);
  const auto links = topology.host.exec_json("ip -j link show brused");
  ASSERT_EQ(links.size(), 1U);
  EXPECT_NE(links[0].value("operstate", ""), "DOWN") << links.dump();
}

INSTANTIATE_TEST_SUITE_P(Ways, BridgeHostUnchanged, ::testing::Values(Way::Exec, Way::InProcess, Way::Reference),
                         [](const auto& param_info) { return way_name(param_info.param); });

}  // namespace
}  // namespace plexus::test::bridge
