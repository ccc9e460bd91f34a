// `plexus attach --network` / `plexus detach --network` in local mode (a manifest store): one network
// hot-plugged into and out of a pod plexus attached, in namespaces the test makes, with plexus's
// in-process macvlan and static; the pod's other interfaces untouched. Needs root.
#include "netns.hpp"
#include "privileged.hpp"
#include "temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using plexus::test::MacvlanTopology;
using plexus::test::shell_quote;
using plexus::test::TempDir;
using ::testing::HasSubstr;

constexpr const char* kManifests = R"(
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: ip-192, namespace: default}
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","master":"eth0","mode":"bridge",
    "capabilities":{"ips":true,"mac":true},"ipam":{"type":"static"}}'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: ip-193, namespace: default}
spec:
  config: '{"cniVersion":"1.0.0","name":"ip-193","type":"macvlan","master":"eth0","mode":"bridge",
    "ipam":{"type":"static","addresses":[{"address":"192.168.113.20/24"}]}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: licensed-app
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}]'
)";

json link(const plexus::test::TestNetns& netns, const std::string& ifname) {
  const auto found = netns.exec_json("ip -j addr show");
  for (const auto& l : found) {
    if (l.at("ifname") == ifname) return json{{"ifindex", l.at("ifindex")}, {"address", l.at("address")}, {"addr_info", l.at("addr_info")}};
  }
  return json();
}

TEST(LocalHotplug, AttachAndDetachOneNetworkWithTheCli) {
  PLEXUS_REQUIRE_ROOT();
  MacvlanTopology topology;
  TempDir work("local-hotplug");
  TempDir store("local-hotplug-store");
  store.write("pod.yaml", kManifests);
  const auto config = work.path() / "plexus.conf";
  {
    std::ofstream out(config);
    out << R"({"cniVersion":"1.0.0","name":"plexus","type":"plexus","cniDir":")" << (work.path() / "cache").string()
        << R"(","pluginDirs":[")" PLEXUS_PLUGIN_DIR R"("],"binDir":")" PLEXUS_CNI_BIN_DIR R"(",
      "delegates":[{"cniVersion":"1.0.0","name":"lo","type":"loopback"}]})";
  }
  const auto plexus = [&](const std::string& verb, const std::string& extra = {}) {
    return topology.host.run(std::string(PLEXUS_BUILD_DIR) + "/bin/plexus " + verb + " --config " + shell_quote(config.string()) +
                             " --store " + shell_quote(store.path().string()) + " --pod default/licensed-app --netns " +
                             shell_quote(topology.pod.path()) + extra);
  };

  const auto attached = plexus("attach");
  ASSERT_EQ(attached.exit_code, 0) << attached.output;
  const auto net1 = link(topology.pod, "net1");
  ASSERT_FALSE(net1.is_null()) << attached.output;

  const auto plugged = plexus("attach", " --network ip-193");
  ASSERT_EQ(plugged.exit_code, 0) << plugged.output;
  EXPECT_THAT(plugged.output, HasSubstr("\"name\": \"default/ip-193\""));
  EXPECT_THAT(plugged.output, HasSubstr("\"interface\": \"net2\""));
  const auto net2 = link(topology.pod, "net2");
  ASSERT_FALSE(net2.is_null());
  EXPECT_EQ(net2.at("addr_info").at(0).at("local"), "192.168.113.20");
  EXPECT_EQ(link(topology.pod, "net1"), net1) << "net1 untouched";

  const auto refused = plexus("attach", " --network no-such-net");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("cannot find network-attachment-definition \\\"no-such-net\\\""));
  EXPECT_TRUE(link(topology.pod, "net3").is_null()) << "nothing attached";

  const auto unplugged = plexus("detach", " --network ip-193");
  ASSERT_EQ(unplugged.exit_code, 0) << unplugged.output;
  EXPECT_THAT(unplugged.output, HasSubstr("detached ip-193 from default/licensed-app"));
  EXPECT_TRUE(link(topology.pod, "net2").is_null());
  EXPECT_EQ(link(topology.pod, "net1"), net1);

  const auto detached = plexus("detach");
  ASSERT_EQ(detached.exit_code, 0) << detached.output;
  EXPECT_TRUE(link(topology.pod, "net1").is_null());
}

}  // namespace
