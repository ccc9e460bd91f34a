// plexusd's Events (thick mode): sent from the daemon's queue, so an ADD answers while the API
// server still sits on them; DEL clears network-status. Hot-plug over the socket (POST /attach,
// /detach). The fake kube-apiserver (real TLS) and the recording script plugin (exec'd), so no
// root; hot-plug in real namespaces is in tests/e2e.
#include "daemon_test_support.hpp"

#include <plexus/daemon/server.hpp>
#include <plexus/daemon/wire.hpp>
#include <plexus/meta/cache.hpp>

#include <gmock/gmock.h>

#include <future>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kNetworkStatus = "k8s.v1.cni.cncf.io/network-status";

void write_kubeconfig(const fs::path& file, const FakeApiServer& api, const std::string& token) {
  std::ofstream out(file);
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " << api.url()
      << "\n    certificate-authority: " << api.ca_file().string() << "\nusers:\n- name: plexusd\n  user:\n    token: " << token
      << "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: plexusd\ncurrent-context: fake\n";
}

class DaemonEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    write_recorder(work_.path() / "bin", work_.path());
    api_.accept_token("node-token", "system:serviceaccount:kube-system:plexus");
    write_kubeconfig(work_.path() / "kubeconfig", api_, "node-token");
    api_.put_network_attachment_definition(
        json{{"metadata", {{"name", "rec-net"}, {"namespace", "team-a"}}},
             {"spec", {{"config", json{{"cniVersion", "1.0.0"}, {"name", "rec-net"}, {"type", "recorder"}}.dump()}}}});
    api_.put_network_attachment_definition(
        json{{"metadata", {{"name", "rec-two"}, {"namespace", "team-a"}}},
             {"spec", {{"config", json{{"cniVersion", "1.0.0"}, {"name", "rec-two"}, {"type", "recorder"}}.dump()}}}});
    auto pod = pod_object("team-a", "p", "node-1");
    pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "rec-net";
    uid_ = api_.put_pod(pod)["metadata"]["uid"].get<std::string>();
    config_ = test_daemon_config(work_.path());
    config_.kubeconfig = (work_.path() / "kubeconfig").string();
    config_.node_name = "";  // pods by GET: this test is about Events, not the cache
  }

  TempDir work_;
  FakeApiServer api_;
  std::string uid_;
  daemon::DaemonConfig config_;
};

TEST_F(DaemonEvents, AddAnswersBeforeASlowEventsEndpointAndTheEventsFollow) {
  daemon::Daemon daemon(config_);
  daemon.start();
  ASSERT_NE(daemon.event_queue(), nullptr);
  api_.delay_next_matching("POST", "/events", 2, std::chrono::milliseconds(2000));
  const auto config = recorder_meta_config(work_.path());

  const auto start = std::chrono::steady_clock::now();
  const auto added = daemon::call_daemon(config_.socket_path(), cni_request("ADD", "ctr-1", config, "team-a", "p"));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(added.exit_code, 0) << added.stdout_data;
  // The order that matters: the reply came while the API server still held both events.
  EXPECT_TRUE(api_.kube_events().empty()) << json(api_.kube_events()).dump(2);
  EXPECT_LT(took, std::chrono::milliseconds(1900)) << "the ADD waited on its events";

  ASSERT_TRUE(eventually([&] { return api_.kube_events().size() == 2; }, std::chrono::seconds(8)))
      << json(api_.kube_events()).dump(2);
  const auto events = api_.kube_events();
  EXPECT_EQ(events[0].at("message"), "Add eth0 [10.9.0.1/24] from rec");
  EXPECT_EQ(events[1].at("message"), "Add net1 [10.9.0.1/24] from team-a/rec-net");
  for (const auto& event : events) {
    EXPECT_EQ(event.at("reason"), "AddedInterface");
    EXPECT_EQ(event.at("type"), "Normal");
    EXPECT_EQ(event.at("involvedObject"),
              (json{{"kind", "Pod"}, {"namespace", "team-a"}, {"name", "p"}, {"apiVersion", "v1"}, {"uid", uid_}}));
    EXPECT_EQ(event.at("source").at("component"), "plexus");
  }
  EXPECT_TRUE(daemon.event_queue()->wait_idle(std::chrono::seconds(2)));
  EXPECT_EQ(daemon.event_queue()->sent(), 2U);
  EXPECT_EQ(daemon.event_queue()->dropped(), 0U);
  EXPECT_THAT(api_.pod("team-a", "p")->at("metadata").at("annotations").at(kNetworkStatus).get<std::string>(),
              ::testing::HasSubstr("team-a/rec-net"));

  // DEL: network-status back to "[]" (the netns, /proc/self/ns/net, is there), no event.
  const auto deleted = daemon::call_daemon(config_.socket_path(), cni_request("DEL", "ctr-1", config, "team-a", "p"));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.stdout_data;
  EXPECT_EQ(api_.pod("team-a", "p")->at("metadata").at("annotations").at(kNetworkStatus), "[]");
  EXPECT_EQ(api_.kube_events().size(), 2U);
}

// An events endpoint that refuses (RBAC without events create): the ADD succeeds all the same and
// the daemon logs the failure.
TEST_F(DaemonEvents, ARefusedEventIsLoggedAndTheAddStillSucceeds) {
  std::vector<std::string> lines;
  std::mutex mutex;
  daemon::Daemon daemon(config_, [&](meta::LogLevel, std::string_view message) {
    const std::lock_guard lock(mutex);
    lines.emplace_back(message);
  });
  daemon.start();
  api_.fail_next_matching("POST", "/events", 2, 403, "events is forbidden: User cannot create resource \"events\"");
  const auto added = daemon::call_daemon(config_.socket_path(), cni_request("ADD", "ctr-2", recorder_meta_config(work_.path()), "team-a", "p"));
  ASSERT_EQ(added.exit_code, 0) << added.stdout_data;
  ASSERT_TRUE(daemon.event_queue()->wait_idle(std::chrono::seconds(5)));
  EXPECT_EQ(daemon.event_queue()->sent(), 0U);
  const std::lock_guard lock(mutex);
  const auto refused = std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("cannot send event Normal AddedInterface on pod team-a/p") != std::string::npos &&
           line.find("403") != std::string::npos;
  });
  EXPECT_EQ(refused, 2) << ::testing::PrintToString(lines);
}


cni::Reply hotplug(const fs::path& socket, const std::string& endpoint, const std::string& container, const std::string& config,
                   const std::string& network) {
  daemon::HotplugRequest request{cni_request("", container, config, "team-a", "p"), network};
  const auto answer = daemon::http_over_unix(socket, "POST", endpoint, daemon::encode_hotplug_request(request));
  EXPECT_EQ(answer.status, 200) << answer.body;
  return daemon::decode_cni_reply(answer.body);
}

std::vector<std::string> cached_ifnames(const fs::path& work, const std::string& container) {
  const auto lookup = meta::DelegateCache(work / "cache").read(container);
  std::vector<std::string> names;
  if (const auto* entry = std::get_if<meta::CacheEntry>(&lookup)) {
    for (const auto& d : entry->delegates) names.push_back(d.ifname + " " + d.network_name);
  }
  return names;
}

std::vector<std::string> status_interfaces(const FakeApiServer& api) {
  std::vector<std::string> names;
  const auto status = json::parse(api.pod("team-a", "p")->at("metadata").at("annotations").at(kNetworkStatus).get<std::string>());
  for (const auto& entry : status) names.push_back(entry.at("interface").get<std::string>() + " " + entry.at("name").get<std::string>());
  return names;
}

// POST /attach and /detach: one network into and out of a running pod; the cache, network-status
// and Events follow; bad requests leave the pod as it was.
TEST_F(DaemonEvents, HotplugAttachAndDetachOverTheSocket) {
  daemon::Daemon daemon(config_);
  daemon.start();
  const auto config = recorder_meta_config(work_.path());
  ASSERT_EQ(daemon::call_daemon(config_.socket_path(), cni_request("ADD", "ctr-1", config, "team-a", "p")).exit_code, 0);
  ASSERT_THAT(cached_ifnames(work_.path(), "ctr-1"), ::testing::ElementsAre("eth0 rec", "net1 team-a/rec-net"));

  const auto attached = hotplug(config_.socket_path(), "/attach", "ctr-1", config, "rec-two");
  ASSERT_EQ(attached.exit_code, 0) << attached.stdout_data;
  EXPECT_EQ(json::parse(attached.stdout_data).at("interfaces").at(0).at("name"), "net2");
  EXPECT_THAT(cached_ifnames(work_.path(), "ctr-1"), ::testing::ElementsAre("eth0 rec", "net1 team-a/rec-net", "net2 team-a/rec-two"));
  EXPECT_THAT(status_interfaces(api_), ::testing::ElementsAre("eth0 rec", "net1 team-a/rec-net", "net2 team-a/rec-two"));
  ASSERT_TRUE(daemon.event_queue()->wait_idle(std::chrono::seconds(5)));
  EXPECT_EQ(api_.kube_events().back().at("message"), "Add net2 [10.9.0.1/24] from team-a/rec-two");

  // Refused, and nothing changes: an interface name in use, a NAD that does not exist (a Warning).
  const auto taken = hotplug(config_.socket_path(), "/attach", "ctr-1", config, "rec-two@net1");
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.stdout_data, ::testing::HasSubstr("already has an interface net1"));
  const auto missing = hotplug(config_.socket_path(), "/attach", "ctr-1", config, "no-such-net");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(cni::Error::from_json(missing.stdout_data)->code(), 7);
  EXPECT_THAT(cached_ifnames(work_.path(), "ctr-1"), ::testing::SizeIs(3));
  ASSERT_TRUE(daemon.event_queue()->wait_idle(std::chrono::seconds(5)));
  EXPECT_EQ(api_.kube_events().back().at("reason"), "NoNetworkFound");
  EXPECT_EQ(api_.kube_events().back().at("type"), "Warning");
  const auto stranger = hotplug(config_.socket_path(), "/attach", "ctr-unknown", config, "rec-two");
  EXPECT_EQ(cni::Error::from_json(stranger.stdout_data)->code(), 3) << stranger.stdout_data;
  const auto no_network = daemon::http_over_unix(config_.socket_path(), "POST", "/attach",
                                                 daemon::encode_cni_request(cni_request("ADD", "ctr-1", config, "team-a", "p")));
  EXPECT_EQ(no_network.status, 400) << no_network.body;

  const auto detached = hotplug(config_.socket_path(), "/detach", "ctr-1", config, "rec-two");
  ASSERT_EQ(detached.exit_code, 0) << detached.stdout_data;
  EXPECT_THAT(cached_ifnames(work_.path(), "ctr-1"), ::testing::ElementsAre("eth0 rec", "net1 team-a/rec-net"));
  EXPECT_THAT(status_interfaces(api_), ::testing::ElementsAre("eth0 rec", "net1 team-a/rec-net"));
  EXPECT_EQ(hotplug(config_.socket_path(), "/detach", "ctr-1", config, "rec-two").exit_code, 0) << "idempotent";

  const auto calls = recorded_calls(work_.path());
  const auto count = [&](const std::string& command) {
    return std::count_if(calls.begin(), calls.end(), [&](const RecordedCall& c) { return c.command == command; });
  };
  EXPECT_EQ(count("ADD"), 3);
  EXPECT_EQ(count("DEL"), 1) << "only the detached network";
  ASSERT_EQ(daemon::call_daemon(config_.socket_path(), cni_request("DEL", "ctr-1", config, "team-a", "p")).exit_code, 0);
}

// A hot-plug and the pod's DEL racing: serialized per container, so either the DEL also tears down
// the new network, or the attach finds no pod; never an interface left behind.
TEST_F(DaemonEvents, HotplugRacingDelLeavesNothingBehind) {
  write_recorder(work_.path() / "bin", work_.path(), "0.2");
  daemon::Daemon daemon(config_);
  daemon.start();
  const auto config = recorder_meta_config(work_.path());
  for (int round = 0; round < 4; ++round) {
    const auto container = "ctr-race-" + std::to_string(round);
    ASSERT_EQ(daemon::call_daemon(config_.socket_path(), cni_request("ADD", container, config, "team-a", "p")).exit_code, 0);
    auto attach = std::async(std::launch::async, [&] { return hotplug(config_.socket_path(), "/attach", container, config, "rec-two"); });
    if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto deleted = daemon::call_daemon(config_.socket_path(), cni_request("DEL", container, config, "team-a", "p"));
    ASSERT_EQ(deleted.exit_code, 0) << deleted.stdout_data;
    const auto attached = attach.get();
    EXPECT_TRUE(attached.exit_code == 0 || cni::Error::from_json(attached.stdout_data)->code() == 3) << attached.stdout_data;
    EXPECT_TRUE(cached_ifnames(work_.path(), container).empty()) << round;
    int adds = 0;
    int dels = 0;
    for (const auto& call : recorded_calls(work_.path())) {
      if (call.container != container) continue;
      (call.command == "ADD" ? adds : dels) += 1;
    }
    EXPECT_EQ(adds, dels) << "round " << round << ": every interface attached was torn down";
    EXPECT_EQ(adds, attached.exit_code == 0 ? 3 : 2) << round;
  }
}

}  // namespace
}  // namespace plexus::test
