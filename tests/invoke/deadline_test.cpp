// Deadlines: an in-process call that overruns its deadline is abandoned with code 11 while the
// caller goes on; the deadline reaches the plugin through the ABI, bounds the plugin's nested
// calls and an exec'd plugin; the router yields to exec for a cniVersion the plugin lacks.
#include <plexus/abi.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <signal.h>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
using namespace plexus::invoke;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class DeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry.load(fs::path(PLEXUS_FIXTURE_DIR) / "fixture_good.so").status, LoadStatus::Loaded);
    std::string pattern = (fs::temp_directory_path() / "plexus-deadline-XXXXXX").string();
    bin_dir = ::mkdtemp(pattern.data());
    write_script("slow", "#!/bin/sh\nsleep 5\necho '{}'\n");
    write_script("fixture-echo", "#!/bin/sh\necho '{\"served-by\":\"exec\"}'\n");
  }
  void TearDown() override {
    // An abandoned fixture call sleeps 2 s in all: let it finish before the next test.
    if (abandoned_calls() > abandoned_before) std::this_thread::sleep_for(std::chrono::milliseconds(2200));
    fs::remove_all(bin_dir);
  }

  void write_script(const std::string& name, const std::string& text) const {
    std::ofstream(bin_dir / name) << text;
    fs::permissions(bin_dir / name, fs::perms(0755));
  }

  cni::Request request(const std::string& config, Clock::time_point deadline = {}) const {
    cni::Request r{"ADD", "ctr", "/var/run/netns/x", "net1", "", bin_dir.string(), config, ""};
    r.deadline = deadline;
    return r;
  }

  PluginRegistry registry;
  fs::path bin_dir;
  ExecInvoker exec;
  unsigned abandoned_before = abandoned_calls();
};

TEST_F(DeadlineTest, HungInProcessCallIsAbandonedWithCode11AtItsDeadline) {
  Router router(registry, exec);
  const auto started = Clock::now();
  const auto reply = router.invoke("fixture-echo", request(R"({"name":"n","hang":true})", started + milliseconds(300)));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  ASSERT_EQ(reply.exit_code, 1) << reply.stdout_data;
  const auto error = cni::reply_error(reply);
  EXPECT_EQ(error.code(), 11);
  EXPECT_NE(error.msg().find("in-process plugin fixture-echo did not answer ADD within"), std::string::npos) << error.msg();
  EXPECT_NE(error.msg().find("abandoned"), std::string::npos) << error.msg();
  // The plugin sleeps 2 s: returning well before proves the caller stopped waiting.
  EXPECT_GE(waited.count(), 300);
  EXPECT_LT(waited.count(), 1700) << "the caller waited for the hung plugin";
  EXPECT_EQ(abandoned_calls(), abandoned_before + 1);
}

TEST_F(DeadlineTest, CallWithinItsDeadlineAnswersNormally) {
  Router router(registry, exec);
  const auto reply = router.invoke("fixture-echo", request(R"({"name":"n"})", Clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_NE(reply.stdout_data.find("fixture-so"), std::string::npos);
  EXPECT_EQ(abandoned_calls(), abandoned_before);
}

TEST_F(DeadlineTest, DeadlineReachesThePluginThroughTheAbi) {
  Router router(registry, exec);
  const auto deadline = Clock::now() + std::chrono::seconds(7);
  const auto reply = router.invoke("fixture-echo", request(R"({"name":"n"})", deadline));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  const auto result = nlohmann::json::parse(reply.stdout_data);
  EXPECT_EQ(result.at("deadline-ns").get<std::uint64_t>(), plexus::abi::to_monotonic_ns(deadline));
  EXPECT_EQ(plexus::abi::from_monotonic_ns(plexus::abi::to_monotonic_ns(deadline)), deadline);
}

TEST_F(DeadlineTest, CallWithoutDeadlineGetsTheDefault) {
  Router router(registry, exec);
  const auto before = Clock::now();
  const auto reply = router.invoke("fixture-echo", request(R"({"name":"n"})"));
  const auto after = Clock::now();
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  const auto got = plexus::abi::from_monotonic_ns(nlohmann::json::parse(reply.stdout_data).at("deadline-ns").get<std::uint64_t>());
  EXPECT_GE(got, before + kDefaultCallTimeout);
  EXPECT_LE(got, after + kDefaultCallTimeout);
}

TEST_F(DeadlineTest, NestedExecCallEndsWithTheOuterDeadline) {
  const auto pid_file = bin_dir / "slow.pid";
  write_script("slow", "#!/bin/sh\necho $$ > " + pid_file.string() + "\nexec sleep 5\n");
  Router router(registry, exec);
  const auto started = Clock::now();
  // fixture-echo runs "slow" (5 s on CNI_PATH) through the host's invoke: the nested exec'd call
  // gets the outer deadline, so the process is killed when the caller stops waiting.
  const auto reply = router.invoke("fixture-echo", request(R"({"name":"n","delegate":"slow"})", started + milliseconds(300)));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  ASSERT_EQ(reply.exit_code, 1) << reply.stdout_data;
  EXPECT_EQ(cni::reply_error(reply).code(), 11) << reply.stdout_data;
  EXPECT_LT(waited.count(), 1700);
  std::string pid;
  std::ifstream(pid_file) >> pid;
  ASSERT_FALSE(pid.empty()) << "the nested plugin ran";
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = ::kill(std::stoi(pid), 0) != 0;
    if (!gone) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(gone) << "the nested exec'd plugin outlived the outer deadline (pid " << pid << ")";
}

TEST_F(DeadlineTest, ExecHonoursTheRequestDeadline) {
  const auto started = Clock::now();
  const auto reply = exec.invoke("slow", request("{}", started + milliseconds(200)));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  ASSERT_EQ(reply.exit_code, 1);
  const auto error = cni::reply_error(reply);
  EXPECT_EQ(error.code(), 11);
  EXPECT_NE(error.msg().find("timed out after"), std::string::npos) << error.msg();
  EXPECT_LT(waited.count(), 3000) << "killed at the deadline, not after the script's 5 s";
}

TEST_F(DeadlineTest, RouterYieldsToExecForAVersionThePluginDoesNotList) {
  Router router(registry, exec);
  // The fixture serves 0.4.0, 1.0.0, 1.1.0.
  EXPECT_NE(router.invoke("fixture-echo", request(R"({"cniVersion":"0.3.1","name":"n"})")).stdout_data.find("\"exec\""),
            std::string::npos);
  EXPECT_NE(router.invoke("fixture-echo", request(R"({"cniVersion":"1.0.0","name":"n"})")).stdout_data.find("fixture-so"),
            std::string::npos);
  // Pinned in-process: the plugin answers (and says what it thinks of the version itself).
  router.set_mode("fixture-echo", DelegateMode::InProcess);
  EXPECT_NE(router.invoke("fixture-echo", request(R"({"cniVersion":"0.3.1","name":"n"})")).stdout_data.find("fixture-so"),
            std::string::npos);
  // No binary of the type: in-process is the only way.
  router.set_mode("fixture-echo", DelegateMode::Auto);
  fs::remove(bin_dir / "fixture-echo");
  EXPECT_NE(router.invoke("fixture-echo", request(R"({"cniVersion":"0.3.1","name":"n"})")).stdout_data.find("fixture-so"),
            std::string::npos);
}

}  // namespace
