// The router: in-process when a plugin serves the type, exec otherwise, per-type overrides, and a
// plugin's nested calls routed the same way.
#include <plexus/cni/errors.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
using namespace plexus::invoke;

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry.load(fs::path(PLEXUS_FIXTURE_DIR) / "fixture_good.so").status, LoadStatus::Loaded);
    std::string pattern = (fs::temp_directory_path() / "plexus-router-XXXXXX").string();
    bin_dir = ::mkdtemp(pattern.data());
    std::ofstream(bin_dir / "fixture-echo") << "#!/bin/sh\necho '{\"served-by\":\"exec\"}'\n";
    fs::permissions(bin_dir / "fixture-echo", fs::perms(0755));
  }
  void TearDown() override { fs::remove_all(bin_dir); }

  cni::Request request(const std::string& config) const {
    return {"ADD", "ctr", "/var/run/netns/x", "net1", "", bin_dir.string() + ":" PLEXUS_REFERENCE_CNI_DIR, config, ""};
  }

  PluginRegistry registry;
  fs::path bin_dir;
  ExecInvoker exec;
};

TEST_F(RouterTest, PrefersInProcessAndFallsBackToExec) {
  std::vector<std::string> logs;
  Router router(registry, exec, [&](plexus_log_level, std::string_view message) { logs.emplace_back(message); });
  EXPECT_TRUE(router.runs_in_process("fixture-echo"));
  EXPECT_FALSE(router.runs_in_process("static"));
  auto reply = router.invoke("fixture-echo", request(R"({"name":"n"})"));
  EXPECT_NE(reply.stdout_data.find("fixture-so"), std::string::npos) << reply.stdout_data;
  EXPECT_EQ(logs, std::vector<std::string>{"fixture-echo ran"}) << "the plugin's log reaches the host";

  reply = router.invoke("static", request(R"({"cniVersion":"0.4.0","name":"n","type":"static","ipam":{"type":"static","addresses":[{"address":"10.9.0.2/24"}]}})"));
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_NE(reply.stdout_data.find("10.9.0.2/24"), std::string::npos) << "exec'd Debian's static";
}

// A type with a path in it is refused (code 7) by the router and by the in-process invoker, in
// every mode, before either way looks it up: the exec'd script next door is never run.
TEST_F(RouterTest, ATypeThatIsAPathIsRefusedEveryWay) {
  const std::string escape = "../" + bin_dir.filename().string() + "/fixture-echo";
  Router router(registry, exec);
  for (const auto mode : {DelegateMode::Auto, DelegateMode::Exec, DelegateMode::InProcess}) {
    router.set_mode(escape, mode);
    for (const std::string& type : {escape, std::string("../../bin/sh"), std::string("/bin/sh")}) {
      SCOPED_TRACE(type);
      const auto reply = router.invoke(type, request("{}"));
      EXPECT_EQ(reply.exit_code, 1);
      EXPECT_EQ(cni::reply_error(reply).code(), 7) << reply.stdout_data;
      EXPECT_EQ(reply.stdout_data.find("served-by"), std::string::npos) << "nothing ran";
    }
  }
  Router nested(registry, exec);
  InProcessInvoker in_process(registry, nested);
  const auto reply = in_process.invoke(escape, request("{}"));
  EXPECT_EQ(cni::reply_error(reply).code(), 7) << reply.stdout_data;
  EXPECT_EQ(registry.find(escape), nullptr);
}

TEST_F(RouterTest, PerTypeOverride) {
  Router router(registry, exec);
  router.set_mode("fixture-echo", DelegateMode::Exec);
  EXPECT_FALSE(router.runs_in_process("fixture-echo"));
  EXPECT_NE(router.invoke("fixture-echo", request("{}")).stdout_data.find("\"exec\""), std::string::npos);
  router.set_mode("static", DelegateMode::InProcess);
  const auto reply = router.invoke("static", request("{}"));
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_EQ(cni::reply_error(reply).msg(), "no in-process plugin serves type \"static\"");
  router.set_mode("fixture-echo", DelegateMode::Auto);
  EXPECT_TRUE(router.runs_in_process("fixture-echo"));
}

TEST_F(RouterTest, NestedCallsGoThroughTheRouter) {
  Router router(registry, exec);
  // The in-process fixture delegates to "static", which the router execs from CNI_PATH.
  const auto reply = router.invoke(
      "fixture-echo",
      request(R"({"cniVersion":"0.4.0","name":"n","type":"fixture-echo","delegate":"static","ipam":{"type":"static","addresses":[{"address":"10.9.0.3/24"}]}})"));
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_NE(reply.stdout_data.find("10.9.0.3/24"), std::string::npos) << reply.stdout_data;
}

}  // namespace
