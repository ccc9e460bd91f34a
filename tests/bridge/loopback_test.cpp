// The loopback plugin against the real kernel (S26), as plexus's binary, in-process, and Debian's.
#include "harness.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>

#include <string>

namespace plexus::test::bridge {
namespace {

class LoopbackTest : public ::testing::TestWithParam<Way> {
 protected:
  cni::Reply run(const Topology& topology, const cni::Request& request) {
    return Runner::instance().run(GetParam(), "loopback", topology.host, request);
  }
};

json loopback_conf(const std::string& version) {
  return json{{"cniVersion", version}, {"name", "lo-net"}, {"type", "loopback"}};
}

bool lo_is_up(const TestNetns& ns) {
  return ns.exec_json("ip -j link show dev lo")[0]["flags"].dump().find("\"UP\"") != std::string::npos;
}

TEST_P(LoopbackTest, S26AddBringsLoUpAndReportsItDelBringsItDown) {
  PLEXUS_REQUIRE_ROOT();
  for (const auto& version : add_versions(GetParam())) {
    SCOPED_TRACE(version);
    Topology topology;
    topology.pod.exec("ip link set lo down");
    // IFNAME is ignored: it is always lo.
    const auto reply = run(topology, topology.request("ADD", loopback_conf(version), "eth0"));
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    EXPECT_TRUE(lo_is_up(topology.pod));
    const auto result = parse_reply(reply);
    ASSERT_EQ(result["interfaces"].size(), 1U);
    EXPECT_EQ(result["interfaces"][0]["name"], "lo");
    EXPECT_EQ(result["interfaces"][0]["mac"], "00:00:00:00:00:00");
    EXPECT_EQ(result["interfaces"][0]["sandbox"], topology.pod.path());
    ASSERT_EQ(result["ips"].size(), 2U) << result.dump();
    EXPECT_EQ(result["ips"][0]["address"], "127.0.0.1/8");
    EXPECT_EQ(result["ips"][1]["address"], "::1/128");
    EXPECT_EQ(result["ips"][0]["interface"], 0);
    // plexus prints a proper result of the config's version; the reference a 1.x shape under it.
    if (GetParam() != Way::Reference && version != "1.0.0" && version != "1.1.0") {
      EXPECT_EQ(result["ips"][0]["version"], "4");
    }

    auto conf = loopback_conf(version);
    if (version != "0.3.0" && version != "0.3.1") {
      conf["prevResult"] = result;
      EXPECT_EQ(run(topology, topology.request("CHECK", conf)).exit_code, 0);
    }
    ASSERT_EQ(run(topology, topology.request("DEL", loopback_conf(version))).exit_code, 0);
    EXPECT_FALSE(lo_is_up(topology.pod));
    if (version != "0.3.0" && version != "0.3.1") {
      const auto check = run(topology, topology.request("CHECK", conf));
      ASSERT_NE(check.exit_code, 0);
      EXPECT_EQ(parse_reply(check)["msg"], "loopback interface is down");
    }
  }
}

TEST_P(LoopbackTest, APrevResultIsPassedThrough) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  auto conf = loopback_conf("1.0.0");
  conf["prevResult"] = json{{"cniVersion", "1.0.0"},
                            {"interfaces", json::array({json{{"name", "eth0"}, {"mac", "02:00:00:00:00:01"}, {"sandbox", topology.pod.path()}}})},
                            {"ips", json::array({json{{"address", "10.1.2.3/24"}, {"interface", 0}}})}};
  const auto reply = run(topology, topology.request("ADD", conf));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  auto printed = parse_reply(reply);
  if (printed.contains("dns") && printed["dns"].empty()) printed.erase("dns");
  EXPECT_EQ(printed, conf["prevResult"]);
}

TEST_P(LoopbackTest, DelToleratesAGoneOrEmptyNetns) {
  PLEXUS_REQUIRE_ROOT();
  Topology topology;
  auto request = topology.request("DEL", loopback_conf("1.0.0"));
  request.netns = "/run/netns/plexus-never-there-" + std::to_string(::getpid());
  EXPECT_EQ(run(topology, request).exit_code, 0);
  request.netns = "";
  EXPECT_EQ(run(topology, request).exit_code, 0);
}

TEST(LoopbackDifferential, SameResultAsDebiansAt100) {
  PLEXUS_REQUIRE_ROOT();
  json results[2];
  for (const Way way : {Way::Exec, Way::Reference}) {
    Topology topology;
    const auto reply = Runner::instance().run(way, "loopback", topology.host, topology.request("ADD", loopback_conf("1.0.0")));
    ASSERT_EQ(reply.exit_code, 0);
    auto result = normalized_result(parse_reply(reply));
    result["interfaces"][0]["sandbox"] = "pod";
    results[way == Way::Exec ? 0 : 1] = result;
  }
  EXPECT_EQ(results[0], results[1]);
}

INSTANTIATE_TEST_SUITE_P(Ways, LoopbackTest, ::testing::Values(Way::Exec, Way::InProcess, Way::Reference),
                         [](const auto& param_info) { return way_name(param_info.param); });

}  // namespace
}  // namespace plexus::test::bridge
