// A registry that loads on demand (thin plexus's one CNI call): a type's own file
// (<dir>/<type>.so) is loaded when the type is first asked for, nothing else; a type served only
// by a differently named file is found by one scan of the dirs.
//
// The one semantic difference from scanning up front: a file named after the type is preferred
// over another file that also serves the type, even one that sorts first (a scan keeps the first
// file in lexical order). OnDemandPrefersTheFileNamedAfterTheType shows both answers side by side.
#include <plexus/invoke/registry.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace plexus::invoke;

const fs::path kFixtures = PLEXUS_FIXTURE_DIR;

class OnDemandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "plexus-on-demand-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
  }
  void TearDown() override { fs::remove_all(dir); }

  fs::path copy(const std::string& fixture, const fs::path& name) const {
    fs::create_directories((dir / name).parent_path());
    fs::copy_file(kFixtures / fixture, dir / name);
    fs::permissions(dir / name, fs::perms(0755));
    return dir / name;
  }

  std::vector<std::string> loaded_files(const PluginRegistry& registry) const {
    std::vector<std::string> names;
    for (const auto& plugin : registry.plugins()) names.push_back(plugin->file().filename().string());
    return names;
  }

  // Every outcome the registry reports, as "<file>: <status>".
  PluginRegistry::Report recorder() {
    return [this](const LoadOutcome& outcome) {
      reports.push_back(outcome.file.filename().string() + ": " + std::string(to_string(outcome.status)));
    };
  }

  fs::path dir;
  std::vector<std::string> reports;
};

TEST_F(OnDemandTest, OneAddLoadsOnlyTheFileOfItsType) {
  copy("fixture_good.so", "fixture-echo.so");
  copy("fixture_good.so", "other.so");  // a plugin this call does not need
  copy("fixture_not_a_plugin.so", "broken.so");
  PluginRegistry registry;
  registry.load_on_demand({dir}, recorder());
  EXPECT_TRUE(registry.plugins().empty()) << "nothing is loaded before a type is asked for";

  ExecInvoker exec;
  Router router(registry, exec);
  const plexus::cni::Request add{"ADD", "ctr", "/var/run/netns/x", "net1", "", "/nonexistent", R"({"name":"n"})", ""};
  const auto reply = router.invoke("fixture-echo", add);
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_NE(reply.stdout_data.find("\"name\":\"net1\""), std::string::npos) << "ran in-process: " << reply.stdout_data;
  EXPECT_EQ(loaded_files(registry), std::vector<std::string>{"fixture-echo.so"});
  EXPECT_EQ(reports, std::vector<std::string>{"fixture-echo.so: loaded"}) << "broken.so was never opened";
}

TEST_F(OnDemandTest, FallsBackToOneScanForATypeServedByAnotherName) {
  copy("fixture_good.so", "echo-plugins.so");
  copy("fixture_not_a_plugin.so", "broken.so");
  PluginRegistry registry;
  registry.load_on_demand({dir / "missing-dir", dir}, recorder());

  const auto plugin = registry.find("fixture-echo");
  ASSERT_NE(plugin, nullptr) << "found by the scan";
  EXPECT_EQ(plugin->file().filename(), "echo-plugins.so");
  EXPECT_EQ(reports, (std::vector<std::string>{"missing-dir: not found", "broken.so: not a plugin", "echo-plugins.so: loaded"}));

  // The scan happens once: a type nothing serves (exec'd) costs no second scan.
  reports.clear();
  EXPECT_EQ(registry.find("static"), nullptr);
  EXPECT_EQ(registry.find("fixture-echo"), plugin);
  EXPECT_TRUE(reports.empty()) << reports.front();
}

TEST_F(OnDemandTest, AFileNamedAfterTheTypeThatFailsFallsBackToTheScan) {
  copy("fixture_not_a_plugin.so", "fixture-echo.so");
  copy("fixture_good.so", "z.so");
  PluginRegistry registry;
  registry.load_on_demand({dir}, recorder());
  const auto plugin = registry.find("fixture-echo");
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->file().filename(), "z.so");
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports, (std::vector<std::string>{"fixture-echo.so: not a plugin", "z.so: loaded"}))
      << "its failure is reported once, as a scan would, and the scan does not try it again";
}

TEST_F(OnDemandTest, TheFileNamedAfterTheTypeIsCheckedLikeAnyOther) {
  const auto file = copy("fixture_good.so", "fixture-echo.so");
  fs::permissions(file, fs::perms(0666));
  PluginRegistry registry;
  registry.load_on_demand({dir}, recorder());
  EXPECT_EQ(registry.find("fixture-echo"), nullptr);
  EXPECT_TRUE(registry.plugins().empty());
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.front(), "fixture-echo.so: unsafe permissions");
}

TEST_F(OnDemandTest, OnDemandPrefersTheFileNamedAfterTheType) {
  copy("fixture_good.so", "a.so");  // sorts first: a scan serves the type from it
  copy("fixture_good.so", "fixture-echo.so");

  PluginRegistry scanned;
  scanned.scan({dir});
  EXPECT_EQ(scanned.find("fixture-echo")->file().filename(), "a.so");

  PluginRegistry on_demand;
  on_demand.load_on_demand({dir});
  EXPECT_EQ(on_demand.find("fixture-echo")->file().filename(), "fixture-echo.so");
  EXPECT_EQ(loaded_files(on_demand), std::vector<std::string>{"fixture-echo.so"});
}

TEST_F(OnDemandTest, ATypeIsNeverAPathOutOfTheDirs) {
  copy("fixture_good.so", "sub/fixture-echo.so");
  PluginRegistry registry;
  registry.load_on_demand({dir}, recorder());
  EXPECT_EQ(registry.find("sub/fixture-echo"), nullptr);
  EXPECT_EQ(registry.find("../" + dir.filename().string() + "/sub/fixture-echo"), nullptr);
  EXPECT_TRUE(registry.plugins().empty()) << "the scan reads only the dir itself";
}

TEST_F(OnDemandTest, ARegistryNotOnDemandLoadsNothingOnFind) {
  copy("fixture_good.so", "fixture-echo.so");
  PluginRegistry registry;
  EXPECT_EQ(registry.find("fixture-echo"), nullptr);
  EXPECT_TRUE(registry.plugins().empty());
}

}  // namespace
