// plexusd's Events (thick mode): sent from the daemon's queue, so an ADD answers while the API
// server still sits on them; DEL clears network-status. The fake kube-apiserver (real TLS) and the
// recording script plugin (exec'd), so no root.
#include "daemon_test_support.hpp"

#include <plexus/daemon/server.hpp>

#include <gmock/gmock.h>

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

}  // namespace
}  // namespace plexus::test
