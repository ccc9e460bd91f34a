// The same plugin run in-process (its .so through the registry) and exec'd (its standalone
// binary) answers every request with the same stdout bytes and exit code, for every version.
#include <plexus/cni/version.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>

#include <filesystem>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
using namespace plexus::invoke;

struct Case {
  std::string label;
  cni::Request request;
};

std::vector<Case> cases() {
  const std::string prev = R"("prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"0a:58:0a:01:02:03","sandbox":"/var/run/netns/p"}],"ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0},{"address":"fd00::3/64","interface":0}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.1.2.1"]}})";
  std::vector<Case> out;
  for (const auto version : cni::all_versions()) {
    const std::string v(version);
    const auto config = [&](const std::string& extra) {
      return R"({"cniVersion":")" + v + R"(","name":"both","type":"sample")" + extra + "}";
    };
    const cni::Request base{"ADD", "ctr-1", "/var/run/netns/plexus-both", "eth0", "IgnoreUnknown=1", PLEXUS_CNI_BIN_DIR, "", ""};
    auto with = [&](std::string command, std::string stdin_data) {
      auto r = base;
      r.command = std::move(command);
      r.stdin_data = std::move(stdin_data);
      return r;
    };
    out.push_back({v + " ADD prevResult", with("ADD", config("," + prev))});
    out.push_back({v + " ADD no prevResult", with("ADD", config(""))});
    out.push_back({v + " DEL", with("DEL", config(""))});
    out.push_back({v + " CHECK", with("CHECK", config("," + prev))});
    out.push_back({v + " CHECK no prevResult", with("CHECK", config(""))});
    out.push_back({v + " GC", with("GC", config(""))});
    out.push_back({v + " STATUS", with("STATUS", config(""))});
    out.push_back({v + " bad json", with("ADD", "{")});
    out.push_back({v + " no name", with("ADD", R"({"cniVersion":")" + v + R"("})")});
    auto bad_if = with("ADD", config(""));
    bad_if.ifname = "a:b";
    out.push_back({v + " bad ifname", bad_if});
    auto missing = with("ADD", config(""));
    missing.path.clear();
    out.push_back({v + " missing env", missing});
  }
  out.push_back({"VERSION", {"VERSION", "", "", "", "", "", "", ""}});
  out.push_back({"unknown version", {"ADD", "c", "/x", "eth0", "", PLEXUS_CNI_BIN_DIR, R"({"cniVersion":"9.9.9","name":"n"})", ""}});
  out.push_back({"unknown command", {"FROB", "c", "/x", "eth0", "", PLEXUS_CNI_BIN_DIR, R"({"cniVersion":"1.0.0","name":"n"})", ""}});
  return out;
}

TEST(BothWays, SampleAnswersIdentically) {
  PluginRegistry registry;
  ASSERT_EQ(registry.load(fs::path(PLEXUS_PLUGIN_DIR) / "sample.so").status, LoadStatus::Loaded);
  // The binary is found without CNI_PATH, so the missing-CNI_PATH case reaches the plugin too.
  ExecInvoker exec({PLEXUS_CNI_BIN_DIR});
  Router in_process(registry, exec);
  Router exec_only(registry, exec);
  exec_only.set_mode("sample", DelegateMode::Exec);
  ASSERT_TRUE(in_process.runs_in_process("sample"));

  int successes = 0;
  for (const auto& c : cases()) {
    const auto a = in_process.invoke("sample", c.request);
    const auto b = exec_only.invoke("sample", c.request);
    EXPECT_EQ(a.exit_code, b.exit_code) << c.label;
    EXPECT_EQ(a.stdout_data, b.stdout_data) << c.label;
    EXPECT_FALSE(a.stdout_data.empty() && c.request.command == "ADD") << c.label;
    successes += a.exit_code == 0 ? 1 : 0;
  }
  // ADD and DEL in all 7 versions, CHECK from 0.4.0 (3), GC and STATUS at 1.1.0, VERSION.
  EXPECT_EQ(successes, 14 + 3 + 2 + 1) << "the cases must include real successes, not only errors";
}

}  // namespace
