#include <plexus/cni/result.hpp>
#include <plexus/meta/status.hpp>

#include <gtest/gtest.h>

namespace plexus::meta {
namespace {

TEST(NetworkStatus, SingleInterfaceResult) {
  const auto result = cni::parse_result(std::string_view(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"net1","mac":"20:01:02:03:04:05","mtu":1500,"sandbox":"/var/run/netns/x"}],
    "ips":[{"address":"192.168.111.10/24","gateway":"192.168.111.1","interface":0}],
    "routes":[{"dst":"0.0.0.0/0","gw":"192.168.111.1"},{"dst":"10.0.0.0/8"}],
    "dns":{"nameservers":["8.8.8.8"]}})"));
  const auto entries = network_status_entries(result, "app/ip-192", false);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(network_status_annotation(entries), R"([{
    "name": "app/ip-192",
    "interface": "net1",
    "ips": [
        "192.168.111.10"
    ],
    "mac": "20:01:02:03:04:05",
    "mtu": 1500,
    "dns": {
        "nameservers": [
            "8.8.8.8"
        ]
    },
    "gateway": [
        "192.168.111.1"
    ]
}])");
}

TEST(NetworkStatus, DefaultNetworkAndEmptyDnsAndNoMtu) {
  const auto result = cni::parse_result(std::string_view(R"({"cniVersion":"0.4.0",
    "interfaces":[{"name":"eth0","mac":"0a:58:0a:f4:01:05","sandbox":"/ns"}],
    "ips":[{"version":"4","address":"10.244.1.5/24","interface":0}],
    "routes":[{"dst":"0.0.0.0/0"}]})"));
  const auto entries = network_status_entries(result, "cbr0", true);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(cni::go_marshal(entries[0]),
            R"({"name":"cbr0","interface":"eth0","ips":["10.244.1.5"],"mac":"0a:58:0a:f4:01:05","default":true,"dns":{},"gateway":["\u003cnil\u003e"]})");
}

TEST(NetworkStatus, OneEntryPerSandboxInterface) {
  const auto result = cni::parse_result(std::string_view(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"br0","mac":"00:00:00:00:00:01"},
                  {"name":"eth0","mac":"00:00:00:00:00:02","sandbox":"/ns"},
                  {"name":"eth1","mac":"00:00:00:00:00:03","sandbox":"/ns"}],
    "ips":[{"address":"10.0.0.2/24","interface":1},{"address":"10.1.0.2/24","gateway":"10.1.0.1","interface":2},
           {"address":"fd00::2/64"}]})"));
  const auto entries = network_status_entries(result, "multi", true);
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(entries[0]["interface"], "eth0");
  EXPECT_EQ(entries[0]["ips"], cni::ordered_json::parse(R"(["10.0.0.2"])"));
  EXPECT_FALSE(entries[0].contains("default"));
  EXPECT_EQ(entries[1]["interface"], "eth1");
  EXPECT_EQ(entries[1]["ips"], cni::ordered_json::parse(R"(["10.1.0.2","fd00::2"])"));  // unowned IP: last entry
  EXPECT_EQ(entries[1]["default"], true);  // owns the gateway
}

}  // namespace
}  // namespace plexus::meta
