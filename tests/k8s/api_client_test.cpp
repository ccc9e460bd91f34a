// Pod and NAD GETs, retries, the network-status write, Events and timeouts against the fake apiserver.
#include "k8s_test_support.hpp"

#include <chrono>
#include <future>

namespace plexus::test {
namespace {

using k8s::ApiClient;
using k8s::ApiError;
using Clock = std::chrono::steady_clock;

class ApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override { server.accept_token("t", "plexus"); }

  ApiClient client(k8s::ClientOptions options = quick_options()) {
    return ApiClient(token_config(server, "t"), options);
  }

  FakeApiServer server;
};

TEST_F(ApiClientTest, GetPodReturnsTheObjectAndItsAccessors) {
  const auto stored = server.put_pod(pod_object("team-a", "web", "node-7"));
  const auto pod = client().get_pod("team-a", "web");
  EXPECT_EQ(pod.name(), "web");
  EXPECT_EQ(pod.namespace_name(), "team-a");
  EXPECT_EQ(pod.uid(), stored["metadata"]["uid"].get<std::string>());
  EXPECT_FALSE(pod.uid().empty());
  EXPECT_EQ(pod.node_name(), "node-7");
  EXPECT_EQ(pod.resource_version(), stored["metadata"]["resourceVersion"].get<std::string>());
  EXPECT_EQ(pod.annotation(k8s::kNetworksAnnotation), "ip-192");
  EXPECT_EQ(pod.annotation("absent"), std::nullopt);
  EXPECT_EQ(pod.annotations().size(), 1u);
  EXPECT_FALSE(pod.is_static());

  const auto log = server.requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/team-a/pods/web");
}

TEST_F(ApiClientTest, NotFoundIsAClearErrorAndNotRetriedByDefault) {
  try {
    client().get_pod("team-a", "missing");
    FAIL() << "found a pod that does not exist";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());
    EXPECT_EQ(error.reason(), "NotFound");
    EXPECT_EQ(error.api_message(), "pods \"missing\" not found");
    const std::string what = error.what();
    EXPECT_NE(what.find("/api/v1/namespaces/team-a/pods/missing"), std::string::npos) << what;
    EXPECT_NE(what.find("404"), std::string::npos) << what;
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(ApiClientTest, NotFoundIsRetriedUntilThePodAppearsWhenAsked) {
  auto creator = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server.put_pod(pod_object("team-a", "late"));
  });
  const auto pod = client().get_pod("team-a", "late", {.retry_not_found = true});
  EXPECT_EQ(pod.name(), "late");
  creator.get();
  const auto log = server.requests();
  EXPECT_GE(log.size(), 2u);
  EXPECT_EQ(log.front().status, 404);
  EXPECT_EQ(log.back().status, 200);
}

TEST_F(ApiClientTest, NotFoundRetriesStopAtTheWindow) {
  auto options = quick_options();
  options.retry_window = std::chrono::milliseconds(400);
  const auto started = Clock::now();
  try {
    client(options).get_pod("team-a", "never", {.retry_not_found = true});
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());
    EXPECT_NE(std::string(error.what()).find("gave up"), std::string::npos) << error.what();
  }
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(1500));
  EXPECT_GE(server.requests().size(), 3u);
}

TEST_F(ApiClientTest, ServiceUnavailableIsRetriedThenSucceeds) {
  server.put_pod(pod_object("team-a", "web"));
  server.fail_next(2, 503, "etcd leader changed");
  EXPECT_EQ(client().get_pod("team-a", "web").name(), "web");
  const auto log = server.requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].status, 503);
  EXPECT_EQ(log[1].status, 503);
  EXPECT_EQ(log[2].status, 200);
}

TEST_F(ApiClientTest, ConnectionResetIsRetried) {
  server.put_pod(pod_object("team-a", "web"));
  server.reset_next(1);
  EXPECT_EQ(client().get_pod("team-a", "web").name(), "web");
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(ApiClientTest, PersistentInternalErrorGivesUpWithTheLastStatus) {
  server.put_pod(pod_object("team-a", "web"));
  server.fail_next(1000, 500, "boom");
  try {
    client().get_pod("team-a", "web");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 500);
    EXPECT_EQ(error.api_message(), "boom");
  }
  const auto attempts = server.requests().size();
  EXPECT_GE(attempts, 5u);
  EXPECT_LE(attempts, 21u);  // 1 s window / 50 ms interval
}

TEST_F(ApiClientTest, ForbiddenIsNotRetried) {
  server.put_pod(pod_object("team-a", "web"));
  server.fail_next(5, 403, "pods \"web\" is forbidden");
  EXPECT_THROW(client().get_pod("team-a", "web"), ApiError);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(ApiClientTest, ConnectionRefusedIsTransient) {
  std::string dead_url;
  {
    FakeApiServer gone;
    dead_url = gone.url();
  }
  auto config = token_config(server, "t");
  config.server = dead_url;
  auto options = quick_options();
  options.retry_window = std::chrono::milliseconds(300);
  const auto started = Clock::now();
  try {
    ApiClient(config, options).get_pod("team-a", "web");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 0);
    EXPECT_TRUE(error.is_transient()) << error.what();
  }
  EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(2000));
}

TEST_F(ApiClientTest, ARequestIsBoundedByItsTimeout) {
  server.put_pod(pod_object("team-a", "web"));
  server.delay_next(1, std::chrono::milliseconds(3000));
  auto options = quick_options();
  options.request_timeout = std::chrono::milliseconds(300);
  const auto started = Clock::now();
  try {
    client(options).get_network_attachment_definition("team-a", "whatever");
    FAIL() << "a stalled server answered within the timeout";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_timeout()) << error.what();
  }
  const auto elapsed = Clock::now() - started;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(ApiClientTest, GetNetworkAttachmentDefinition) {
  const std::string cni_config =
      R"({"cniVersion":"1.0.0","name":"ip-192","type":"macvlan","master":"eth0","mode":"bridge","ipam":{"type":"static"},"capabilities":{"ips":true}})";
  server.put_network_attachment_definition(
      {{"metadata",
        {{"name", "ip-192"},
         {"namespace", "team-a"},
         {"annotations", {{"k8s.v1.cni.cncf.io/resourceName", "intel.com/sriov"}}}}},
       {"spec", {{"config", cni_config}}}});
  server.put_network_attachment_definition({{"metadata", {{"name", "from-file"}, {"namespace", "team-a"}}}});

  const auto nad = client().get_network_attachment_definition("team-a", "ip-192");
  EXPECT_EQ(nad.name(), "ip-192");
  EXPECT_EQ(nad.namespace_name(), "team-a");
  EXPECT_EQ(nad.config(), cni_config);
  EXPECT_EQ(nad.resource_name(), "intel.com/sriov");
  EXPECT_EQ(server.requests().back().path,
            "/apis/k8s.cni.cncf.io/v1/namespaces/team-a/network-attachment-definitions/ip-192");

  const auto empty = client().get_network_attachment_definition("team-a", "from-file");
  EXPECT_EQ(empty.config(), "");
  EXPECT_EQ(empty.resource_name(), std::nullopt);

  try {
    client().get_network_attachment_definition("team-a", "nope");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());
    EXPECT_EQ(error.api_message(),
              "network-attachment-definitions.k8s.cni.cncf.io \"nope\" not found");
  }
}

TEST_F(ApiClientTest, NamesThatWouldChangeThePathAreRefusedBeforeAnyRequest) {
  EXPECT_THROW(client().get_pod("team-a", "web/../../secrets"), std::invalid_argument);
  EXPECT_THROW(client().get_pod("", "web"), std::invalid_argument);
  EXPECT_THROW(client().get_network_attachment_definition("team-a", "x?watch=true"),
               std::invalid_argument);
  EXPECT_TRUE(server.requests().empty());
}

// --- network-status ---

const std::string kStatus =
    "[{\n    \"name\": \"team-a/ip-192\",\n    \"interface\": \"net1\",\n    \"ips\": [\n"
    "        \"192.168.111.10\"\n    ],\n    \"mac\": \"20:01:02:03:04:05\",\n    \"dns\": {}\n}]";

TEST_F(ApiClientTest, SetNetworkStatusPutsThePodToTheStatusSubresource) {
  const auto stored = server.put_pod(pod_object("team-a", "web"));
  const std::string uid = stored["metadata"]["uid"];
  const auto updated = client().set_network_status("team-a", "web", uid, kStatus);
  EXPECT_EQ(updated.annotation(k8s::kNetworkStatusAnnotation), kStatus);
  EXPECT_NE(updated.resource_version(), stored["metadata"]["resourceVersion"].get<std::string>());

  const auto log = server.requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[1].method, "PUT");
  EXPECT_EQ(log[1].path, "/api/v1/namespaces/team-a/pods/web/status");
  EXPECT_EQ(log[1].content_type, "application/json");
  const auto sent = nlohmann::json::parse(log[1].body);
  EXPECT_EQ(sent["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"], kStatus);
  // The other annotations and the version it read travel with it, as in UpdateStatus.
  EXPECT_EQ(sent["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"], "ip-192");
  EXPECT_EQ(sent["metadata"]["resourceVersion"], stored["metadata"]["resourceVersion"]);
  EXPECT_FALSE(sent["metadata"]["annotations"].contains("k8s.v1.cni.cncf.io/networks-status"));

  const auto now = server.pod("team-a", "web");
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ((*now)["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"], kStatus);
  EXPECT_EQ((*now)["metadata"]["labels"]["app"], "web");
}

TEST_F(ApiClientTest, SetNetworkStatusRetriesAConflictFromAConcurrentWriter) {
  server.put_pod(pod_object("team-a", "web"));
  server.interpose_writer(1, [](nlohmann::json& pod) {
    pod["metadata"]["annotations"]["kubelet.example/seen"] = "yes";
  });
  client().set_network_status("team-a", "web", std::nullopt, kStatus);

  const auto log = server.requests();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].method + " " + std::to_string(log[0].status), "GET 200");
  EXPECT_EQ(log[1].method + " " + std::to_string(log[1].status), "PUT 409");
  EXPECT_EQ(log[2].method + " " + std::to_string(log[2].status), "GET 200");
  EXPECT_EQ(log[3].method + " " + std::to_string(log[3].status), "PUT 200");
  // The re-GET picked up the other writer's change, and the retry kept it.
  const auto now = server.pod("team-a", "web");
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ((*now)["metadata"]["annotations"]["kubelet.example/seen"], "yes");
  EXPECT_EQ((*now)["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"], kStatus);
}

TEST_F(ApiClientTest, SetNetworkStatusGivesUpAfterTheConflictBudget) {
  server.put_pod(pod_object("team-a", "web"));
  server.interpose_writer(100, [](nlohmann::json& pod) { pod["status"]["phase"] = "Running"; });
  try {
    client().set_network_status("team-a", "web", std::nullopt, kStatus);
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_conflict());
  }
  int puts = 0;
  for (const auto& request : server.requests()) puts += request.method == "PUT" ? 1 : 0;
  EXPECT_EQ(puts, quick_options().conflict_attempts);
}

TEST_F(ApiClientTest, SetNetworkStatusRefusesAnotherPodsUid) {
  server.put_pod(pod_object("team-a", "web"));
  EXPECT_THROW(client().set_network_status("team-a", "web", "not-the-uid", kStatus),
               k8s::UidMismatchError);
  for (const auto& request : server.requests()) EXPECT_EQ(request.method, "GET");

  // A static pod's mirror has another UID than the runtime's: multus writes anyway.
  auto mirror = pod_object("kube-system", "etcd-node-a");
  mirror["metadata"]["annotations"]["kubernetes.io/config.source"] = "file";
  server.put_pod(mirror);
  EXPECT_NO_THROW(client().set_network_status("kube-system", "etcd-node-a", "runtime-uid", kStatus));
}

TEST_F(ApiClientTest, SetNetworkStatusOnAMissingPodIsNotFound) {
  try {
    client().set_network_status("team-a", "gone", std::nullopt, kStatus);
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());  // the caller tolerates this, as multus does
  }
}

TEST_F(ApiClientTest, SetNetworkStatusRejectsAnythingButAJsonArrayWithoutCallingTheApi) {
  server.put_pod(pod_object("team-a", "web"));
  EXPECT_THROW(client().set_network_status("team-a", "web", std::nullopt, "{\"name\":\"x\"}"),
               std::invalid_argument);
  EXPECT_THROW(client().set_network_status("team-a", "web", std::nullopt, "[oops"),
               std::invalid_argument);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(ApiClientTest, MergePatchOfTheStatusSubresource) {
  server.put_pod(pod_object("team-a", "web"));
  const nlohmann::json patch = {
      {"metadata", {{"annotations", {{"k8s.v1.cni.cncf.io/network-status", kStatus}}}}}};
  const auto response = client().patch("/api/v1/namespaces/team-a/pods/web/status", patch.dump());
  const auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"], kStatus);
  EXPECT_EQ(body["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"], "ip-192");
  EXPECT_EQ(server.requests().back().content_type, "application/merge-patch+json");

  const nlohmann::json stale = {{"metadata", {{"resourceVersion", "1"}}}};
  try {
    client().patch("/api/v1/namespaces/team-a/pods/web/status", stale.dump());
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_conflict());
    EXPECT_NE(error.api_message().find("the object has been modified"), std::string::npos);
  }
}

}  // namespace

// An Event as client-go's recorder writes it (multus's Eventf): POSTed to the pod's namespace,
// named <pod>.<hex nanoseconds>, with involvedObject, reason, type, message, source and count.
TEST_F(ApiClientTest, CreateEventPostsACoreV1EventAboutThePod) {
  k8s::Event event;
  event.involved_object = {"v1", "Pod", "team-a", "web", "uid-1"};
  event.type = "Normal";
  event.reason = "AddedInterface";
  event.message = "Add net1 [192.168.111.10/24] from default/ip-192";
  event.source_component = "plexus";
  event.source_host = "node-7";
  event.time = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1780000000123456789LL));
  const auto stored = client().create_event(event);
  EXPECT_FALSE(stored["metadata"].value("uid", "").empty()) << "the server's copy comes back";

  const auto log = server.requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/team-a/events");
  EXPECT_EQ(log[0].content_type, "application/json");
  EXPECT_EQ(log[0].status, 201);
  const auto events = server.kube_events();
  ASSERT_EQ(events.size(), 1u);
  const auto& sent = events[0];
  EXPECT_EQ(sent["metadata"]["name"], "web.18b3d491bb8dcd15");
  EXPECT_EQ(sent["metadata"]["namespace"], "team-a");
  EXPECT_EQ(sent["involvedObject"],
            (nlohmann::json{{"kind", "Pod"}, {"namespace", "team-a"}, {"name", "web"}, {"apiVersion", "v1"}, {"uid", "uid-1"}}));
  EXPECT_EQ(sent["reason"], "AddedInterface");
  EXPECT_EQ(sent["type"], "Normal");
  EXPECT_EQ(sent["message"], "Add net1 [192.168.111.10/24] from default/ip-192");
  EXPECT_EQ(sent["source"], (nlohmann::json{{"component", "plexus"}, {"host", "node-7"}}));
  EXPECT_EQ(sent["count"], 1);
  EXPECT_EQ(sent["firstTimestamp"], "2026-05-28T20:26:40Z");
  EXPECT_EQ(sent["lastTimestamp"], sent["firstTimestamp"]);
}

TEST_F(ApiClientTest, CreateEventCutsALongMessageAtACharacterBoundary) {
  k8s::Event event;
  event.involved_object = {"v1", "Pod", "team-a", "web", ""};
  event.type = "Warning";
  event.reason = "ErrorAddingInterface";
  event.message = std::string(1023, 'x') + "\xc3\xa9" + std::string(100, 'y');  // the 2-byte char straddles 1024
  client().create_event(event);
  const auto events = server.kube_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["message"].get<std::string>(), std::string(1023, 'x'));
  EXPECT_FALSE(events[0]["involvedObject"].contains("uid")) << "an unknown uid is left out";
  EXPECT_FALSE(events[0]["source"].contains("host"));
}

TEST_F(ApiClientTest, CreateEventIsOneAttemptBoundedByItsTimeout) {
  server.delay_next_matching("POST", "/events", 1, std::chrono::milliseconds(3000));
  k8s::Event event;
  event.involved_object = {"v1", "Pod", "team-a", "web", ""};
  event.reason = "AddedInterface";
  const auto start = Clock::now();
  try {
    client().create_event(event, std::chrono::milliseconds(300));
    FAIL() << "a 3 s answer beat a 300 ms timeout";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_timeout()) << error.what();
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));

  server.fail_next_matching("POST", "/events", 1, 403, "events is forbidden");
  try {
    client().create_event(event);
    FAIL() << "403 ignored";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 403);
  }
  EXPECT_TRUE(server.kube_events().empty());
  event.involved_object.namespace_name = "team-a/../x";
  EXPECT_THROW(client().create_event(event), std::invalid_argument);
}

// The StickyClaim calls as the claim store relies on them: POST is create-if-absent (the second
// is 409 with reason AlreadyExists, distinct from a stale-version Conflict), PUT and DELETE carry
// the resourceVersion precondition, LIST filters by label, and names are checked before sending.
TEST_F(ApiClientTest, StickyClaimCreateIfAbsentAndPreconditions) {
  const auto api = client();
  const nlohmann::json claim = {{"apiVersion", "k8s.plexus.dev/v1alpha1"},
                                {"kind", "StickyClaim"},
                                {"metadata", {{"name", "default-192-168-111-10"}, {"labels", {{"k8s.plexus.dev/pool", "default"}}}}},
                                {"spec", {{"address", "192.168.111.10/24"}}}};
  const auto created = api.create_sticky_claim(claim);
  const auto version = created["metadata"]["resourceVersion"].get<std::string>();
  EXPECT_FALSE(version.empty());
  EXPECT_FALSE(created["metadata"].contains("namespace"));
  try {
    api.create_sticky_claim(claim);
    FAIL() << "created twice";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_already_exists()) << error.what();
    EXPECT_EQ(error.reason(), "AlreadyExists");
  }
  EXPECT_EQ(api.get_sticky_claim("default-192-168-111-10")["spec"], claim["spec"]);

  auto changed = created;
  changed["spec"]["address"] = "192.168.111.11/24";
  const auto replaced = api.replace_sticky_claim(changed);
  EXPECT_NE(replaced["metadata"]["resourceVersion"], version);
  try {
    api.replace_sticky_claim(changed);  // still carries the old version
    FAIL() << "a stale replace went through";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_conflict());
    EXPECT_FALSE(error.is_already_exists());
  }
  auto unconditional = changed;
  unconditional["metadata"].erase("resourceVersion");
  EXPECT_THROW(api.replace_sticky_claim(unconditional), std::invalid_argument);

  EXPECT_EQ(api.list_sticky_claims("k8s.plexus.dev/pool=default").size(), 1U);
  EXPECT_TRUE(api.list_sticky_claims("k8s.plexus.dev/pool=lab").empty());
  EXPECT_EQ(server.requests().back().query, "labelSelector=k8s.plexus.dev%2Fpool%3Dlab");

  try {
    api.delete_sticky_claim("default-192-168-111-10", version);  // stale
    FAIL() << "a stale delete went through";
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_conflict());
  }
  api.delete_sticky_claim("default-192-168-111-10", replaced["metadata"]["resourceVersion"].get<std::string>());
  EXPECT_TRUE(api.list_sticky_claims({}).empty());
  try {
    api.get_sticky_claim("default-192-168-111-10");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());
  }
  EXPECT_THROW(api.get_sticky_claim("../pods"), std::invalid_argument);
  EXPECT_THROW(api.get_statefulset("default", "web/../x"), std::invalid_argument);
}

TEST_F(ApiClientTest, GetStatefulSet) {
  const auto stored = server.put_statefulset({{"metadata", {{"name", "web"}, {"namespace", "team-a"}}}, {"spec", {{"replicas", 3}}}});
  const auto got = client().get_statefulset("team-a", "web");
  EXPECT_EQ(got["metadata"]["uid"], stored["metadata"]["uid"]);
  EXPECT_EQ(server.requests().back().path, "/apis/apps/v1/namespaces/team-a/statefulsets/web");
  server.delete_statefulset("team-a", "web");
  try {
    client().get_statefulset("team-a", "web");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_TRUE(error.is_not_found());
  }
}

}  // namespace plexus::test
