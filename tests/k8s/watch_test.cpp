// list_pods + watch_pods: what the node daemon's pod cache will run on.
#include "k8s_test_support.hpp"

#include <future>
#include <mutex>

namespace plexus::test {
namespace {

using k8s::ApiClient;
using k8s::WatchEnd;
using k8s::WatchEvent;
using k8s::WatchEventType;

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { server.accept_token("t", "plexus"); }
  ApiClient client() { return ApiClient(token_config(server, "t"), quick_options()); }

  FakeApiServer server;
};

TEST_F(WatchTest, ListFiltersByFieldSelectorAndReturnsTheListVersion) {
  server.put_pod(pod_object("team-a", "a1", "node-a"));
  server.put_pod(pod_object("team-b", "a2", "node-a"));
  server.put_pod(pod_object("team-a", "b1", "node-b"));
  const auto list = client().list_pods("spec.nodeName=node-a");
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0].node_name(), "node-a");
  EXPECT_EQ(list.items[1].node_name(), "node-a");
  EXPECT_EQ(list.resource_version, server.resource_version());
  EXPECT_EQ(server.requests().back().query, "fieldSelector=spec.nodeName%3Dnode-a");

  const auto in_namespace = client().list_pods("spec.nodeName=node-a", "team-b");
  ASSERT_EQ(in_namespace.items.size(), 1u);
  EXPECT_EQ(in_namespace.items[0].name(), "a2");
}

TEST_F(WatchTest, EventsStreamFromTheListVersion) {
  server.put_pod(pod_object("team-a", "before", "node-a"));
  const auto list = client().list_pods("spec.nodeName=node-a");
  ASSERT_EQ(list.items.size(), 1u);

  std::mutex mutex;
  std::vector<std::pair<WatchEventType, std::string>> seen;
  auto watching = std::async(std::launch::async, [&] {
    return client().watch_pods("spec.nodeName=node-a", list.resource_version,
                               [&](const WatchEvent& event) {
                                 std::lock_guard lock(mutex);
                                 seen.emplace_back(event.type, event.object["metadata"]["name"]);
                                 return seen.size() < 3;
                               });
  });
  ASSERT_TRUE(eventually([&] { return server.open_watches() == 1; }));
  server.put_pod(pod_object("team-a", "elsewhere", "node-b"));  // filtered out
  server.put_pod(pod_object("team-a", "new", "node-a"));
  auto modified = pod_object("team-a", "new", "node-a");
  modified["status"]["phase"] = "Running";
  server.put_pod(modified);
  server.delete_pod("team-a", "new");

  ASSERT_EQ(watching.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(watching.get(), WatchEnd::Stopped);
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(WatchEventType::Added, std::string("new")));
  EXPECT_EQ(seen[1], std::make_pair(WatchEventType::Modified, std::string("new")));
  EXPECT_EQ(seen[2], std::make_pair(WatchEventType::Deleted, std::string("new")));

  const auto log = server.requests();
  const auto& watch_request = log.back();
  EXPECT_EQ(watch_request.path, "/api/v1/pods");
  EXPECT_NE(watch_request.query.find("watch=true"), std::string::npos);
  EXPECT_NE(watch_request.query.find("resourceVersion=" + list.resource_version), std::string::npos);
}

TEST_F(WatchTest, EventsMissedSinceTheListAreReplayed) {
  const auto list = client().list_pods("spec.nodeName=node-a");
  server.put_pod(pod_object("team-a", "while-away", "node-a"));
  std::vector<std::string> names;
  const auto end = client().watch_pods("spec.nodeName=node-a", list.resource_version,
                                       [&](const WatchEvent& event) {
                                         names.push_back(event.object["metadata"]["name"]);
                                         return false;
                                       });
  EXPECT_EQ(end, WatchEnd::Stopped);
  EXPECT_EQ(names, std::vector<std::string>{"while-away"});
}

TEST_F(WatchTest, ACompactedVersionIsReportedAsGone) {
  const auto list = client().list_pods("");
  server.put_pod(pod_object("team-a", "x"));
  server.compact();
  int events = 0;
  const auto end = client().watch_pods("", list.resource_version, [&](const WatchEvent&) {
    ++events;
    return true;
  });
  EXPECT_EQ(end, WatchEnd::Gone);
  EXPECT_EQ(events, 0);
}

TEST_F(WatchTest, ExpiryDuringAnOpenWatchIsReportedAsGone) {
  const auto list = client().list_pods("");
  auto watching = std::async(std::launch::async, [&] {
    return client().watch_pods("", list.resource_version, [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(eventually([&] { return server.open_watches() == 1; }));
  server.expire_open_watches();
  ASSERT_EQ(watching.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(watching.get(), WatchEnd::Gone);
}

TEST_F(WatchTest, AnHttp410IsReportedAsGone) {
  server.fail_next(1, 410, "too old resource version");
  EXPECT_EQ(client().watch_pods("", "1", [](const WatchEvent&) { return true; }), WatchEnd::Gone);
}

TEST_F(WatchTest, OtherHttpErrorsThrow) {
  server.fail_next(1, 403, "pods is forbidden");
  EXPECT_THROW(client().watch_pods("", "", [](const WatchEvent&) { return true; }), k8s::ApiError);
}

TEST_F(WatchTest, AServerCloseEndsTheWatchAsClosed) {
  auto watching = std::async(std::launch::async, [&] {
    return client().watch_pods("", "", [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(eventually([&] { return server.open_watches() == 1; }));
  server.close_open_watches();
  ASSERT_EQ(watching.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(watching.get(), WatchEnd::Closed);
}

TEST_F(WatchTest, TheStopTokenEndsAQuietWatch) {
  std::stop_source stop;
  k8s::WatchOptions options;
  options.stop = stop.get_token();
  auto watching = std::async(std::launch::async, [&] {
    return client().watch_pods(options, [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(eventually([&] { return server.open_watches() == 1; }));
  const auto asked = std::chrono::steady_clock::now();
  stop.request_stop();
  ASSERT_EQ(watching.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(watching.get(), WatchEnd::Stopped);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(3));
}

}  // namespace
}  // namespace plexus::test
