// plexus-shim, the small thick-mode CNI entry: with plexusd up it prints byte for byte what
// `plexus` prints through the daemon (success and error); with plexusd down ADD answers code 11
// and DEL still runs from the delegate cache through the full plexus it execs; and it is static
// (or, under sanitizers, links none of the heavy libraries). No root: the delegate is the exec'd recorder script.
#include "daemon_test_support.hpp"

#include <plexus/cni/errors.hpp>

#include <gtest/gtest.h>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;

class ShimBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    write_recorder(work_.path() / "bin", work_.path());
    config_ = test_daemon_config(work_.path());
    daemon_ = std::make_unique<daemon::Daemon>(config_);
    daemon_->start();
  }
  fs::path socket() const { return config_.socket_path(); }
  std::string shim_config(nlohmann::json extra = nlohmann::json::object()) const {
    extra["daemonSocket"] = socket().string();
    return recorder_meta_config(work_.path(), extra);
  }

  TempDir work_;
  daemon::DaemonConfig config_;
  std::unique_ptr<daemon::Daemon> daemon_;
};

TEST_F(ShimBinary, PrintsExactlyWhatPlexusPrintsThroughTheDaemon) {
  const auto via_shim = run_plexus(work_, cni_request("ADD", "shim-1", shim_config()), "plexus-shim");
  const auto via_plexus = run_plexus(work_, cni_request("ADD", "plexus-1", shim_config()));
  const auto in_process = run_plexus(work_, cni_request("ADD", "local-1", recorder_meta_config(work_.path())));
  EXPECT_EQ(via_shim.exit_code, 0) << via_shim.out << via_shim.err;
  EXPECT_FALSE(via_shim.out.empty());
  EXPECT_EQ(via_shim.out, via_plexus.out);
  EXPECT_EQ(via_shim.out, in_process.out);
  // The daemon ran it: the recorder saw the shim's container.
  const auto calls = recorded_calls(work_.path());
  ASSERT_EQ(calls.size(), 3U);
  EXPECT_EQ(calls[0].container, "shim-1");
  EXPECT_TRUE(fs::exists(work_.path() / "cache" / "shim-1"));

  // An error: the same exit code and bytes.
  const auto bad = shim_config({{"logLevel", "nonsense"}});
  const auto bad_via_shim = run_plexus(work_, cni_request("ADD", "shim-2", bad), "plexus-shim");
  const auto bad_via_plexus = run_plexus(work_, cni_request("ADD", "plexus-2", bad));
  EXPECT_NE(bad_via_shim.exit_code, 0);
  EXPECT_EQ(bad_via_shim.exit_code, bad_via_plexus.exit_code);
  EXPECT_EQ(bad_via_shim.out, bad_via_plexus.out);
  ASSERT_TRUE(cni::Error::from_json(bad_via_shim.out).has_value()) << bad_via_shim.out;

  // type plexus-shim + daemonSocketDir names the same socket.
  const auto typed = recorder_meta_config(work_.path(), {{"type", "plexus-shim"}, {"daemonSocketDir", config_.socket_dir.string()}});
  const auto via_type = run_plexus(work_, cni_request("ADD", "shim-3", typed), "plexus-shim");
  EXPECT_EQ(via_type.exit_code, 0) << via_type.out << via_type.err;
  EXPECT_EQ(recorded_calls(work_.path()).size(), 4U);
}

TEST_F(ShimBinary, DaemonDownAddAnswersTryAgainLater) {
  daemon_->shutdown();
  ASSERT_FALSE(fs::exists(socket()));
  const auto add = run_plexus(work_, cni_request("ADD", "down-1", shim_config()), "plexus-shim");
  EXPECT_EQ(add.exit_code, 1);
  const auto error = cni::Error::from_json(add.out);
  ASSERT_TRUE(error.has_value()) << add.out;
  EXPECT_EQ(error->code(), 11);
  EXPECT_NE(error->msg().find("plexusd) is not available, try again later"), std::string::npos) << error->msg();
  EXPECT_FALSE(fs::exists(work_.path() / "cache" / "down-1"));
  EXPECT_TRUE(recorded_calls(work_.path()).empty());
}

TEST_F(ShimBinary, DaemonDownDelRunsFromTheCacheThroughFullPlexus) {
  for (const auto& [id, config] : {std::pair{std::string("down-del-1"), shim_config()},
                                   std::pair{std::string("down-del-2"),
                                             recorder_meta_config(work_.path(), {{"type", "plexus-shim"},
                                                                                 {"daemonSocketDir", config_.socket_dir.string()}})}}) {
    ASSERT_EQ(run_plexus(work_, cni_request("ADD", id, config), "plexus-shim").exit_code, 0);
    ASSERT_TRUE(fs::exists(work_.path() / "cache" / id));
  }
  daemon_->shutdown();
  ASSERT_FALSE(fs::exists(socket()));

  for (const auto* id : {"down-del-1", "down-del-2"}) {
    const auto config = std::string(id) == "down-del-1"
                            ? shim_config()
                            : recorder_meta_config(work_.path(), {{"type", "plexus-shim"}, {"daemonSocketDir", config_.socket_dir.string()}});
    const auto del = run_plexus(work_, cni_request("DEL", id, config), "plexus-shim");
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
    EXPECT_EQ(del.out, "");
    EXPECT_NE(del.err.find("running DEL in-process from the delegate cache"), std::string::npos) << del.err;
    EXPECT_FALSE(fs::exists(work_.path() / "cache" / id));
  }
  // The delegate really got both DELs, from the plexus that plexus-shim exec'd.
  const auto calls = recorded_calls(work_.path());
  ASSERT_EQ(calls.size(), 4U);
  EXPECT_EQ(calls[2].command, "DEL");
  EXPECT_EQ(calls[2].container, "down-del-1");
  EXPECT_EQ(calls[3].command, "DEL");
  EXPECT_EQ(calls[3].container, "down-del-2");
}

TEST(ShimBinaryLinking, IsStaticOrLinksNoneOfTheHeavyLibraries) {
  const auto ldd = run_command("ldd " + std::string(PLEXUS_BUILD_DIR) + "/bin/plexus-shim");
#if PLEXUS_SHIM_STATIC
  // Built static (every build but the sanitizer one): no dynamic loader work at all per call.
  EXPECT_NE(ldd.output.find("not a dynamic executable"), std::string::npos) << ldd.output;
#else
  ASSERT_EQ(ldd.exit_code, 0) << ldd.output;
  EXPECT_NE(ldd.output.find("libc.so"), std::string::npos) << ldd.output;
  for (const auto* library : {"libcurl", "libyaml-cpp", "libprometheus", "libnl", "libboost", "libssl", "libcrypto", "libfmt"}) {
    EXPECT_EQ(ldd.output.find(library), std::string::npos) << library << " in\n" << ldd.output;
  }
#endif
}

}  // namespace
}  // namespace plexus::test
