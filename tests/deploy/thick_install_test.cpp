// Thick mode end to end, from the installer's output only: `plexus install --daemon-socket` into a
// temporary node, then kubelet's calls through the plexus-shim it installed (not the build's), with
// plexusd up and down. Proves the installed pair works as a unit: the config names plexus-shim,
// plexus-shim forwards to plexusd, and with plexusd down DEL reaches the plexus installed next to
// it while ADD answers code 11. No root: the cluster network is an exec'd recording script.
#include "deploy_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/daemon/server.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

namespace plexus::deploy_test {
namespace {
namespace fs = std::filesystem;

constexpr auto kExecutable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec;

// CNI plugin "recorder": appends "<command> <container>" to `log`, prints a 1.0.0 result on ADD.
void write_recorder(const fs::path& bin_dir, const fs::path& log) {
  write_text(bin_dir / "recorder",
             "#!/bin/sh\n"
             "cat >/dev/null\n"
             "echo \"$CNI_COMMAND $CNI_CONTAINERID\" >> " + log.string() + "\n"
             "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
             "  printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"%s\"}],"
             "\"ips\":[{\"address\":\"10.9.0.1/24\",\"interface\":0}],\"dns\":{}}' \"$CNI_IFNAME\"\n"
             "fi\n");
  fs::permissions(bin_dir / "recorder", kExecutable);
}

std::vector<std::string> recorded(const fs::path& log) {
  std::vector<std::string> lines;
  if (!fs::exists(log)) return lines;
  std::istringstream in(read_text(log));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class ThickInstall : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(bin_dir_);
    fs::create_directories(conf_dir_);
    write_recorder(tmp_.path() / "plugin-bin", tmp_.path() / "calls.log");
    // The node's default network, which becomes clusterNetwork.
    write_text(conf_dir_ / "10-rec.conflist", R"({"cniVersion":"1.0.0","name":"rec","plugins":[{"type":"recorder"}]})");
    // The init container's command, with the node's directories under the temp root and no
    // host prefix, so the paths in the written config are real paths here. No kubeconfig: the
    // pod is never looked up (no API server).
    std::string output;
    const int code = run({PLEXUS_BINARY, "install", "--source-dir=" + std::string(PLEXUS_BUILD_DIR),
                          "--cni-bin-dir=" + bin_dir_.string(), "--plugin-dir=" + plugin_dir_.string(),
                          "--cni-conf-dir=" + conf_dir_.string(), "--host-prefix=/", "--cni-binaries=none",
                          "--skip-kubeconfig", "--cni-dir=" + (tmp_.path() / "cache").string(),
                          "--daemon-socket=" + socket().string(), "--master-timeout=2"},
                         {}, output);
    ASSERT_EQ(code, 0) << output;
    config_file_ = conf_dir_ / "00-plexus.conflist";
    ASSERT_TRUE(fs::exists(config_file_)) << output;
  }

  fs::path socket() const { return tmp_.path() / "run" / "plexus.sock"; }

  // What kubelet's libcni hands the plugin: the conflist's only plugin with name and cniVersion.
  std::string kubelet_stdin() const {
    const auto list = cni::parse_json(read_text(config_file_));
    auto plugin = list["plugins"][0];
    plugin["cniVersion"] = list["cniVersion"];
    plugin["name"] = list["name"];
    return plugin.dump();
  }

  // kubelet execs the binary named by the config's type from its CNI bin dir.
  CniOutcome kubelet_call(const std::string& command, const std::string& container) const {
    const auto list = cni::parse_json(read_text(config_file_));
    const auto binary = bin_dir_ / list["plugins"][0]["type"].get<std::string>();
    return run_cni(binary,
                   {{"CNI_COMMAND", command},
                    {"CNI_CONTAINERID", container},
                    {"CNI_NETNS", "/proc/self/ns/net"},
                    {"CNI_IFNAME", "eth0"},
                    {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p-" + container},
                    {"CNI_PATH", (tmp_.path() / "plugin-bin").string()}},
                   kubelet_stdin(), tmp_.path());
  }

  void start_daemon() {
    daemon::DaemonConfig config;
    config.socket_dir = socket().parent_path();
    config.metrics_address = "";
    config.node_name = "";
    config.plugin_dirs = {plugin_dir_};
    daemon_ = std::make_unique<daemon::Daemon>(config);
    daemon_->start();
  }

  TempDir tmp_;
  fs::path bin_dir_ = tmp_.path() / "opt/cni/bin";
  fs::path plugin_dir_ = tmp_.path() / "opt/cni/lib/plexus/plugins";
  fs::path conf_dir_ = tmp_.path() / "etc/cni/net.d";
  fs::path config_file_;
  std::unique_ptr<daemon::Daemon> daemon_;
};

TEST_F(ThickInstall, KubeletRunsTheInstalledShimWhichAnswersVersion) {
  EXPECT_EQ(cni::parse_json(read_text(config_file_))["plugins"][0]["type"], "plexus-shim");
  const auto version = kubelet_call("VERSION", "");
  EXPECT_EQ(version.exit_code, 0) << version.out << version.err;
  bool supports_one_zero = false;
  const auto reply = cni::parse_json(version.out);
  for (const auto& v : reply["supportedVersions"]) supports_one_zero |= v == "1.0.0";
  EXPECT_TRUE(supports_one_zero) << version.out;
  // The same answer as the plexus installed next to it, so either may serve any call.
  const auto from_plexus = run_cni(bin_dir_ / "plexus", {{"CNI_COMMAND", "VERSION"}}, "", tmp_.path());
  EXPECT_EQ(from_plexus.exit_code, 0);
  EXPECT_EQ(version.out, from_plexus.out);
}

TEST_F(ThickInstall, ShimForwardsToPlexusdAndFallsBackToTheInstalledPlexus) {
  const auto calls = tmp_.path() / "calls.log";
  const auto cache = tmp_.path() / "cache";

  // plexusd up: the installed shim's ADDs run in the daemon, which writes the delegate cache.
  start_daemon();
  for (const auto* id : {"c1", "c2"}) {
    const auto add = kubelet_call("ADD", id);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    EXPECT_EQ(cni::parse_json(add.out)["interfaces"][0]["name"], "eth0") << add.out;
    EXPECT_TRUE(fs::exists(cache / id));
  }
  EXPECT_EQ(recorded(calls), (std::vector<std::string>{"ADD c1", "ADD c2"}));

  daemon_->shutdown();
  ASSERT_FALSE(fs::exists(socket()));

  // plexusd down: ADD is "try again later" (code 11), nothing is attached or cached.
  const auto add = kubelet_call("ADD", "c3");
  EXPECT_EQ(add.exit_code, 1);
  const auto error = cni::Error::from_json(add.out);
  ASSERT_TRUE(error.has_value()) << add.out << add.err;
  EXPECT_EQ(error->code(), 11);
  EXPECT_FALSE(fs::exists(cache / "c3"));

  // DEL still tears down, from the cache, through the plexus installed next to the shim.
  const auto del = kubelet_call("DEL", "c1");
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(del.out, "");
  EXPECT_NE(del.err.find("running DEL in-process from the delegate cache"), std::string::npos) << del.err;
  EXPECT_FALSE(fs::exists(cache / "c1"));
  EXPECT_EQ(recorded(calls), (std::vector<std::string>{"ADD c1", "ADD c2", "DEL c1"}));

  // That fallback is the installed plexus: without it the shim has nothing to hand the DEL to,
  // which is why the installer copies both.
  fs::remove(bin_dir_ / "plexus");
  const auto orphan = kubelet_call("DEL", "c2");
  EXPECT_NE(orphan.exit_code, 0);
  EXPECT_NE(orphan.out.find((bin_dir_ / "plexus").string()), std::string::npos) << orphan.out << orphan.err;
  EXPECT_TRUE(fs::exists(cache / "c2"));
  EXPECT_EQ(recorded(calls).size(), 3U);
}

}  // namespace
}  // namespace plexus::deploy_test
