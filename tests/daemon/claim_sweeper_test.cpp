// plexusd's sweep of stale StickyClaims against the fake kube-apiserver (no root): the claims of a
// deleted StatefulSet go, a live StatefulSet's stay, an API server that fails a sweep is retried
// on the next one, and the daemon config key turns it off.
#include "daemon_test_support.hpp"
#include "fake_apiserver.hpp"

#include <plexus/daemon/server.hpp>

#include <plexus/daemon/claim_sweeper.hpp>
#include <plexus/daemon/config.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/meta/k8s_claim_store.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

namespace plexus::daemon {
namespace {

using nlohmann::json;
using test::FakeApiServer;

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds within = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return predicate();
}

class ClaimSweeperTest : public ::testing::Test {
 protected:
  ClaimSweeperTest() {
    server_.accept_token("t", "system:serviceaccount:kube-system:plexus");
    k8s::ClusterConfig config;
    config.server = server_.url();
    config.ca_pem = server_.ca().cert_pem();
    config.token = "t";
    client_ = std::make_unique<k8s::ApiClient>(config);
  }
  // A claim of `statefulset` (ns default), as a node's plexus would have made it.
  void add_claim(const std::string& address, const std::string& statefulset, const std::string& uid, std::size_t ordinal) {
    meta::StickyClaim claim;
    claim.pool = "default";
    claim.address = address + "/24";
    claim.name = "default-" + address;
    std::replace(claim.name.begin(), claim.name.end(), '.', '-');
    claim.slot = ordinal;
    claim.holder = meta::ClaimHolder{"StatefulSet", "default", statefulset, uid, ordinal};
    client_->create_sticky_claim(meta::claim_object(claim));
  }
  std::string add_statefulset(const std::string& name) {
    return server_.put_statefulset(json{{"metadata", {{"name", name}, {"namespace", "default"}}}})["metadata"]["uid"].get<std::string>();
  }

  FakeApiServer server_;
  std::unique_ptr<k8s::ApiClient> client_;
};

TEST_F(ClaimSweeperTest, ADeletedStatefulSetsClaimsGoAndALiveOnesStay) {
  const auto live = add_statefulset("web");
  const auto gone = add_statefulset("old");
  add_claim("192.168.111.10", "web", live, 0);
  add_claim("192.168.111.11", "old", gone, 0);
  add_claim("192.168.111.12", "old", gone, 1);
  server_.delete_statefulset("default", "old");
  std::mutex mutex;
  std::vector<std::string> logged;
  ClaimSweeper sweeper(*client_, std::chrono::milliseconds(50), [&](std::string_view message) {
    const std::lock_guard lock(mutex);
    logged.emplace_back(message);
  });
  // The log line follows the sweep's DELETEs: wait for the sweep to finish.
  ASSERT_TRUE(eventually([&] { return sweeper.sweeps() >= 1; }));
  EXPECT_EQ(server_.sticky_claims().size(), 1U);
  EXPECT_EQ(server_.sticky_claims().count("default-192-168-111-10"), 1U);
  const std::lock_guard lock(mutex);
  EXPECT_THAT(logged, ::testing::Contains(::testing::HasSubstr("released sticky claim default-192-168-111-11")));
  EXPECT_THAT(logged, ::testing::Contains(::testing::HasSubstr("released sticky claim default-192-168-111-12")));
}

TEST_F(ClaimSweeperTest, AFailedSweepIsLoggedAndTheNextOneDeletes) {
  const auto gone = add_statefulset("old");
  add_claim("192.168.111.11", "old", gone, 0);
  server_.delete_statefulset("default", "old");
  server_.fail_under_path("GET", "/apis/k8s.plexus.dev/v1alpha1/stickyclaims", 1, 503);
  std::mutex mutex;
  std::vector<std::string> logged;
  ClaimSweeper sweeper(*client_, std::chrono::milliseconds(50), [&](std::string_view message) {
    const std::lock_guard lock(mutex);
    logged.emplace_back(message);
  });
  ASSERT_TRUE(eventually([&] { return sweeper.sweeps() >= 2; })) << "the failed one and the one that deleted";
  EXPECT_TRUE(server_.sticky_claims().empty());
  const std::lock_guard lock(mutex);
  EXPECT_THAT(logged, ::testing::Contains(::testing::HasSubstr("sticky claim sweep: cannot list stickyclaims")));
}

TEST_F(ClaimSweeperTest, StopsPromptlyAndNeverSweepsBeforeItsInterval) {
  const auto gone = add_statefulset("old");
  add_claim("192.168.111.11", "old", gone, 0);
  server_.delete_statefulset("default", "old");
  const auto start = std::chrono::steady_clock::now();
  {
    ClaimSweeper sweeper(*client_, std::chrono::minutes(5), {});
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(server_.sticky_claims().size(), 1U);
}

// plexusd with an API server runs the sweep; with the key at 0 it does not.
TEST_F(ClaimSweeperTest, PlexusdSweepsWhenItHasAnApiServer) {
  const auto gone = add_statefulset("old");
  add_claim("192.168.111.11", "old", gone, 0);
  server_.delete_statefulset("default", "old");
  test::TempDir work;
  work.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + server_.url() +
                               "\n    certificate-authority: " + server_.ca_file().string() +
                               "\nusers:\n- name: plexusd\n  user:\n    token: t\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n"
                               "    user: plexusd\ncurrent-context: fake\n");
  auto config = test::test_daemon_config(work.path());
  config.kubeconfig = (work.path() / "kubeconfig").string();
  config.node_name = "";
  config.sticky_claim_sweep = std::chrono::milliseconds(0);
  {
    Daemon off(config);
    off.start();
    EXPECT_EQ(off.claim_sweeper(), nullptr);
  }
  config.sticky_claim_sweep = std::chrono::milliseconds(50);
  Daemon daemon(config);
  daemon.start();
  ASSERT_NE(daemon.claim_sweeper(), nullptr);
  EXPECT_TRUE(eventually([&] { return server_.sticky_claims().empty(); }));
}

TEST(ClaimSweeperConfig, KeyInSecondsZeroTurnsItOff) {
  EXPECT_EQ(parse_daemon_config("{}").sticky_claim_sweep, std::chrono::minutes(5));
  EXPECT_EQ(parse_daemon_config(R"({"stickyClaimSweepSeconds": 30})").sticky_claim_sweep, std::chrono::seconds(30));
  EXPECT_EQ(parse_daemon_config(R"({"stickyClaimSweepSeconds": 0})").sticky_claim_sweep.count(), 0);
  EXPECT_THROW(parse_daemon_config(R"({"stickyClaimSweepSeconds": -1})"), std::invalid_argument);
  EXPECT_THROW(parse_daemon_config(R"({"stickyClaimSweepSeconds": "5m"})"), std::invalid_argument);
}

}  // namespace
}  // namespace plexus::daemon
