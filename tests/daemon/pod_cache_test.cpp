// The pod cache against the fake kube-apiserver (loopback TLS): a node-filtered list + watch
// fills it, an ADD through the daemon then makes no pod GET, 410 Gone re-lists, and a dropped
// API server is reconnected to with backoff. No root: the delegates are the exec'd recorder.
#include "daemon_test_support.hpp"
#include "fake_apiserver.hpp"

#include <plexus/daemon/pod_cache.hpp>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "daemon-token";

fs::path write_kubeconfig(const TempDir& work, const FakeApiServer& server) {
  return work.write("kubeconfig", "apiVersion: v1\nkind: Config\n"
                                  "clusters:\n- name: fake\n  cluster:\n    server: " + server.url() +
                                      "\n    certificate-authority: " + server.ca_file().string() +
                                      "\n"
                                      "users:\n- name: plexusd\n  user:\n    token: " + kToken +
                                      "\n"
                                      "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: plexusd\n"
                                      "current-context: fake\n");
}

bool is_pod_list(const RecordedRequest& request) {
  return request.method == "GET" && request.path == "/api/v1/pods" && request.query.find("watch=") == std::string::npos;
}

class PodCacheDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.accept_token(kToken, "system:serviceaccount:kube-system:plexus");
    write_recorder(work_.path() / "bin", work_.path());
    config_ = test_daemon_config(work_.path());
    config_.kubeconfig = write_kubeconfig(work_, server_).string();
    config_.node_name = "node-a";
    config_.watch_backoff_min = std::chrono::milliseconds(20);
    config_.watch_backoff_max = std::chrono::milliseconds(200);
    server_.put_network_attachment_definition(
        {{"apiVersion", "k8s.cni.cncf.io/v1"},
         {"kind", "NetworkAttachmentDefinition"},
         {"metadata", {{"name", "ip-192"}, {"namespace", "team-a"}}},
         {"spec", {{"config", R"({"cniVersion":"1.0.0","name":"ip-192","type":"recorder"})"}}}});
  }
  void start() {
    daemon_ = std::make_unique<daemon::Daemon>(config_);
    daemon_->start();
    ASSERT_NE(daemon_->pod_cache(), nullptr);
    ASSERT_TRUE(daemon_->pod_cache()->wait_synced(std::chrono::seconds(10)));
  }

  FakeApiServer server_;
  TempDir work_;
  daemon::DaemonConfig config_;
  std::unique_ptr<daemon::Daemon> daemon_;
};

TEST_F(PodCacheDaemon, ListAndWatchKeepOnlyThisNodesPods) {
  server_.put_pod(pod_object("team-a", "a1", "node-a"));
  server_.put_pod(pod_object("team-a", "b1", "node-b"));
  start();
  const auto* cache = daemon_->pod_cache();
  EXPECT_EQ(cache->size(), 1U);
  EXPECT_TRUE(cache->find("team-a", "a1").has_value());
  EXPECT_FALSE(cache->find("team-a", "b1").has_value());
  const auto requests = server_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_TRUE(is_pod_list(requests.front()));
  EXPECT_NE(requests.front().query.find("fieldSelector=spec.nodeName%3Dnode-a"), std::string::npos) << requests.front().query;

  server_.put_pod(pod_object("team-a", "a2", "node-a"));
  server_.put_pod(pod_object("team-a", "b2", "node-b"));
  EXPECT_TRUE(eventually([&] { return cache->find("team-a", "a2").has_value(); }));
  server_.delete_pod("team-a", "a1");
  EXPECT_TRUE(eventually([&] { return !cache->find("team-a", "a1").has_value(); }));
  EXPECT_FALSE(cache->find("team-a", "b2").has_value());
  EXPECT_EQ(cache->size(), 1U);
}

TEST_F(PodCacheDaemon, AddAnswersThePodFromTheCacheWithoutAGet) {
  server_.put_pod(pod_object("team-a", "web", "node-a"));
  start();
  const auto uid = server_.pod("team-a", "web")->at("metadata").at("uid").get<std::string>();
  server_.clear_requests();

  auto request = cni_request("ADD", "ctr-web", recorder_meta_config(work_.path()), "team-a", "web");
  request.args += ";K8S_POD_UID=" + uid;
  const auto reply = daemon::call_daemon(daemon_->config().socket_path(), request);
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(recorded_calls(work_.path()).size(), 2U);  // cluster network + ip-192

  int pod_gets = 0;
  int nad_gets = 0;
  int status_puts = 0;
  for (const auto& recorded : server_.requests()) {
    if (recorded.method == "GET" && recorded.path == "/api/v1/namespaces/team-a/pods/web") ++pod_gets;
    if (recorded.method == "GET" && recorded.path.find("network-attachment-definitions/ip-192") != std::string::npos) ++nad_gets;
    if (recorded.method == "PUT" && recorded.path == "/api/v1/namespaces/team-a/pods/web/status") ++status_puts;
  }
  EXPECT_EQ(pod_gets, 0) << "the pod should have come from the cache";
  EXPECT_EQ(nad_gets, 1);
  EXPECT_EQ(status_puts, 1);
  const auto stored = server_.pod("team-a", "web");
  ASSERT_TRUE(stored.has_value());
  const auto status = stored->at("metadata").at("annotations").at("k8s.v1.cni.cncf.io/network-status").get<std::string>();
  EXPECT_NE(status.find("team-a/ip-192"), std::string::npos) << status;

  // A pod the cache does not have is fetched.
  server_.clear_requests();
  ASSERT_EQ(daemon::call_daemon(daemon_->config().socket_path(),
                                cni_request("ADD", "ctr-gone", recorder_meta_config(work_.path()), "team-a", "elsewhere"))
                .exit_code,
            0);
  int miss_gets = 0;
  for (const auto& recorded : server_.requests()) {
    if (recorded.method == "GET" && recorded.path == "/api/v1/namespaces/team-a/pods/elsewhere") ++miss_gets;
  }
  EXPECT_GE(miss_gets, 1);
}

TEST_F(PodCacheDaemon, GoneRelistsAndCatchesUp) {
  start();
  const auto* cache = daemon_->pod_cache();
  EXPECT_EQ(cache->lists(), 1);
  ASSERT_TRUE(eventually([&] { return server_.open_watches() == 1; }));
  server_.compact();
  server_.expire_open_watches();
  server_.put_pod(pod_object("team-a", "after-gone", "node-a"));
  EXPECT_TRUE(eventually([&] { return cache->lists() == 2; }));
  EXPECT_TRUE(eventually([&] { return cache->find("team-a", "after-gone").has_value(); }));
  int lists = 0;
  for (const auto& recorded : server_.requests()) lists += is_pod_list(recorded) ? 1 : 0;
  EXPECT_EQ(lists, 2);
}

TEST_F(PodCacheDaemon, ErrorsReconnectWithBackoff) {
  start();
  const auto* cache = daemon_->pod_cache();
  ASSERT_TRUE(eventually([&] { return server_.open_watches() == 1; }));
  server_.fail_next(3, 500);
  server_.close_open_watches();  // the re-watch and then re-lists fail three times
  server_.put_pod(pod_object("team-a", "after-errors", "node-a"));
  EXPECT_TRUE(eventually([&] { return cache->find("team-a", "after-errors").has_value(); }));
}

}  // namespace
}  // namespace plexus::test
