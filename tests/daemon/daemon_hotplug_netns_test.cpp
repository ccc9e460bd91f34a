// Hot-plug from plexusd's pod watch, in real namespaces (root): plexusd as a process in a test
// "host" namespace (eth0 there is every macvlan's master) against the fake kube-apiserver on that
// namespace's loopback. Editing the pod's networks annotation attaches the added network and
// detaches the removed one in the running pod, its other interfaces untouched; an invalid one is a
// Warning and changes nothing; the pod's DEL takes the hot-plugged interface with it.
#include "daemon_test_support.hpp"
#include "privileged.hpp"

#include <plexus/net/netns.hpp>

#include <gmock/gmock.h>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json macvlan_static(const std::string& name, const std::vector<std::string>& addresses = {}) {
  json ipam{{"type", "static"}};
  for (const auto& address : addresses) ipam["addresses"].push_back({{"address", address}});
  return {{"cniVersion", "1.0.0"}, {"name", name},          {"type", "macvlan"},
          {"master", "eth0"},      {"mode", "bridge"},      {"capabilities", {{"ips", true}}}, {"ipam", ipam}};
}

// ifname -> {ifindex, MAC, IPv4 addresses}: what "untouched" compares.
std::map<std::string, json> links_of(const TestNetns& netns) {
  std::map<std::string, json> out;
  for (const auto& link : netns.exec_json("ip -4 -j addr show")) {
    json addresses = json::array();
    for (const auto& a : link.value("addr_info", json::array())) addresses.push_back(a.value("local", "") + "/" + std::to_string(a.value("prefixlen", 0)));
    out[link.at("ifname").get<std::string>()] = json{{"ifindex", link.at("ifindex")}, {"addresses", addresses}};
  }
  for (const auto& link : netns.exec_json("ip -j link show")) {
    out[link.at("ifname").get<std::string>()]["address"] = link.value("address", "");
  }
  return out;
}

TEST(PlexusdHotplug, AnnotationEditsAttachAndDetachInTheRunningPod) {
  PLEXUS_REQUIRE_ROOT();
  TempDir work;
  MacvlanTopology topology;
  topology.host.exec("ip link set lo up");
  auto api = plexus::net::in_netns(fs::path(topology.host.path()), [] { return std::make_unique<FakeApiServer>(); });
  api->accept_token("node-token", "system:serviceaccount:kube-system:plexus");
  work.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + api->url() +
                               "\n    certificate-authority: " + api->ca_file().string() +
                               "\nusers:\n- name: plexusd\n  user:\n    token: node-token\ncontexts:\n- name: fake\n  context:\n"
                               "    cluster: fake\n    user: plexusd\ncurrent-context: fake\n");
  for (const auto& [name, config] : {std::pair{"ip-192", macvlan_static("ip-192")},
                                     std::pair{"ip-193", macvlan_static("ip-193", {"192.168.113.20/24"})}}) {
    api->put_network_attachment_definition(
        json{{"metadata", {{"name", name}, {"namespace", "default"}}}, {"spec", {{"config", config.dump()}}}});
  }
  const std::string first = R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}])";
  auto pod = json{{"metadata", {{"name", "licensed-app"}, {"namespace", "default"}, {"annotations", {{"k8s.v1.cni.cncf.io/networks", first}}}}},
                  {"spec", {{"nodeName", "node-1"}, {"containers", {{{"name", "app"}, {"image", "busybox"}}}}}}};
  pod = api->put_pod(pod);

  const auto config_file = work.write("daemon-config.json", json{{"socketDir", (work.path() / "run").string()},
                                                                 {"metricsAddress", ""},
                                                                 {"pluginDirs", {PLEXUS_PLUGIN_DIR}},
                                                                 {"kubeconfig", (work.path() / "kubeconfig").string()},
                                                                 {"nodeName", "node-1"},
                                                                 {"logLevel", "verbose"}}
                                                                .dump());
  const auto socket = work.path() / "run" / "plexus.sock";
  PlexusdProcess plexusd(config_file, socket, work.path() / "plexusd.log", topology.host.name());
  ASSERT_TRUE(plexusd.wait_ready()) << plexusd.log();

  const json meta = {{"cniVersion", "1.0.0"},
                     {"name", "plexus-hotplug"},
                     {"type", "plexus"},
                     {"delegates", {{{"cniVersion", "1.0.0"}, {"name", "lo"}, {"type", "loopback"}}}},
                     {"cniDir", (work.path() / "cache").string()},
                     {"binDir", PLEXUS_CNI_BIN_DIR}};
  const auto request = [&](const std::string& command) {
    auto r = cni_request(command, "ctr-hotplug", meta.dump(), "default", "licensed-app", topology.pod.path());
    r.args += ";K8S_POD_UID=" + pod["metadata"]["uid"].get<std::string>();
    return r;
  };
  const auto added = daemon::call_daemon(socket, request("ADD"));
  ASSERT_EQ(added.exit_code, 0) << added.stdout_data << "\n" << plexusd.log();
  const auto before = links_of(topology.pod);
  ASSERT_TRUE(before.count("net1")) << plexusd.log();

  const auto set_networks = [&](const std::string& value) {
    auto current = *api->pod("default", "licensed-app");
    current["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = value;
    api->put_pod(current);
  };
  const auto status_names = [&] {
    std::vector<std::string> names;
    const auto annotations = api->pod("default", "licensed-app")->at("metadata").value("annotations", json::object());
    for (const auto& entry : json::parse(annotations.value("k8s.v1.cni.cncf.io/network-status", "[]"))) {
      names.push_back(entry.value("interface", "") + " " + entry.value("name", ""));
    }
    return names;
  };

  // Add ip-193: net2 appears, net1 stays the same link with the same MAC and address.
  set_networks(R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"},{"name":"ip-193"}])");
  ASSERT_TRUE(eventually([&] { return links_of(topology.pod).count("net2") == 1; }, std::chrono::seconds(10))) << plexusd.log();
  auto now = links_of(topology.pod);
  EXPECT_EQ(now.at("net2").at("addresses"), json::array({"192.168.113.20/24"}));
  EXPECT_EQ(now.at("net1"), before.at("net1")) << "net1 untouched";
  EXPECT_EQ(now.at("lo"), before.at("lo"));
  EXPECT_TRUE(eventually([&] { return status_names().size() == 3; })) << ::testing::PrintToString(status_names());
  EXPECT_THAT(status_names(), ::testing::Contains("net2 default/ip-193"));

  // Remove it again: net2 goes, nothing else changes.
  set_networks(first);
  ASSERT_TRUE(eventually([&] { return links_of(topology.pod).count("net2") == 0; }, std::chrono::seconds(10))) << plexusd.log();
  EXPECT_EQ(links_of(topology.pod), before);
  EXPECT_TRUE(eventually([&] { return status_names().size() == 2; })) << ::testing::PrintToString(status_names());

  // An invalid addition: a NAD that does not exist. A Warning, the log says so, the pod as it was.
  set_networks(R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"},{"name":"no-such-net"}])");
  ASSERT_TRUE(eventually([&] {
    const auto events = api->kube_events();
    return std::any_of(events.begin(), events.end(), [](const json& e) { return e.value("reason", "") == "NoNetworkFound"; });
  }, std::chrono::seconds(10))) << plexusd.log();
  EXPECT_THAT(plexusd.log(), ::testing::HasSubstr("cannot hot-plug default/no-such-net"));
  EXPECT_EQ(links_of(topology.pod), before);

  // Add ip-193 once more, then the pod's DEL: everything goes, the hot-plugged net2 too.
  set_networks(R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"},{"name":"ip-193","interface":"net7"}])");
  ASSERT_TRUE(eventually([&] { return links_of(topology.pod).count("net7") == 1; }, std::chrono::seconds(10))) << plexusd.log();
  const auto deleted = daemon::call_daemon(socket, request("DEL"));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.stdout_data;
  EXPECT_THAT(topology.pod.exec_json("ip -j link show"), ::testing::SizeIs(1)) << "only lo";
  // An edit after the DEL attaches nothing.
  set_networks(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_THAT(topology.pod.exec_json("ip -j link show"), ::testing::SizeIs(1));
  api->stop();
}

}  // namespace
}  // namespace plexus::test
