// The loader: one fixture per outcome, each with its own status and a message naming the file.
#include <plexus/invoke/registry.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "privileged.hpp"

namespace {

namespace fs = std::filesystem;
using plexus::invoke::LoadStatus;
using plexus::invoke::PluginRegistry;

const fs::path kFixtures = PLEXUS_FIXTURE_DIR;

// A private copy of a fixture, so a test can change its mode or owner.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "plexus-registry-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path copy(const fs::path& from, const std::string& name) const {
    fs::copy_file(from, path_ / name);
    fs::permissions(path_ / name, fs::perms(0755));
    return path_ / name;
  }

 private:
  fs::path path_;
};

void expect_outcome(const plexus::invoke::LoadOutcome& outcome, LoadStatus status, const std::string& file_part,
                    const std::string& message_part) {
  EXPECT_EQ(outcome.status, status) << outcome.message;
  EXPECT_NE(outcome.message.find(file_part), std::string::npos) << "the message names the file: " << outcome.message;
  EXPECT_NE(outcome.message.find(message_part), std::string::npos) << outcome.message;
}

TEST(Registry, LoadsAGoodPluginAndServesItsType) {
  PluginRegistry registry;
  const auto outcome = registry.load(kFixtures / "fixture_good.so");
  ASSERT_EQ(outcome.status, LoadStatus::Loaded) << outcome.message;
  const auto plugin = registry.find("fixture-echo");
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->name(), "fixture-echo");
  EXPECT_EQ(plugin->version(), "0.0.1");
  EXPECT_EQ(plugin->spec_versions(), (std::vector<std::string>{"0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_EQ(registry.find("macvlan"), nullptr);
  EXPECT_EQ(registry.load(kFixtures / "fixture_good.so").message.find("already loaded") != std::string::npos, true)
      << "a file is loaded once";
}

TEST(Registry, EachFailureHasItsOwnStatus) {
  PluginRegistry registry;
  expect_outcome(registry.load(kFixtures / "missing.so"), LoadStatus::NotFound, "missing.so", "no such plugin file");
  expect_outcome(registry.load(kFixtures / "fixture_not_a_plugin.so"), LoadStatus::NotAPlugin, "fixture_not_a_plugin.so",
                 "no plexus_plugin_entry entry");
  expect_outcome(registry.load(kFixtures / "fixture_null_entry.so"), LoadStatus::EntryFailed, "fixture_null_entry.so",
                 "returned no plugin info");
  expect_outcome(registry.load(kFixtures / "fixture_bad_size.so"), LoadStatus::EntryFailed, "fixture_bad_size.so",
                 "struct_size 8");
  expect_outcome(registry.load(kFixtures / "fixture_wrong_major.so"), LoadStatus::WrongAbiMajor, "fixture_wrong_major.so",
                 "plugin ABI 2." + std::to_string(PLEXUS_ABI_MINOR));
  EXPECT_TRUE(registry.plugins().empty()) << "nothing that failed is kept";
}

TEST(Registry, RefusesFilesOthersCouldHaveWritten) {
  TempDir dir;
  const auto writable = dir.copy(kFixtures / "fixture_good.so", "writable.so");
  fs::permissions(writable, fs::perms(0666));
  PluginRegistry registry;
  expect_outcome(registry.load(writable), LoadStatus::UnsafePermissions, "writable.so", "writable by group or others");

  const auto group_writable = dir.copy(kFixtures / "fixture_good.so", "group.so");
  fs::permissions(group_writable, fs::perms(0775));
  expect_outcome(registry.load(group_writable), LoadStatus::UnsafePermissions, "group.so", "mode 775");
}

TEST(Registry, RefusesFilesOwnedBySomeoneElse) {
  PLEXUS_REQUIRE_ROOT();
  TempDir dir;
  const auto foreign = dir.copy(kFixtures / "fixture_good.so", "foreign.so");
  ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
  PluginRegistry registry;
  expect_outcome(registry.load(foreign), LoadStatus::UnsafePermissions, "foreign.so", "owned by uid 65534, not 0");
}

TEST(Registry, TheOwnerRuleIsOneConfiguredUid) {
  // The default is our effective uid (root in production); any other owner is refused, and the
  // rule needs no root to be seen working.
  EXPECT_EQ(PluginRegistry::Options().owner_uid, ::geteuid());
  TempDir dir;
  const auto mine = dir.copy(kFixtures / "fixture_good.so", "mine.so");
  PluginRegistry::Options someone_else;
  someone_else.owner_uid = ::geteuid() + 1;
  PluginRegistry strict(someone_else);
  expect_outcome(strict.load(mine), LoadStatus::UnsafePermissions, "mine.so",
                 "owned by uid " + std::to_string(::geteuid()) + ", not " + std::to_string(::geteuid() + 1));
  PluginRegistry registry;
  EXPECT_EQ(registry.load(mine).status, LoadStatus::Loaded);
}

TEST(Registry, ScanLoadsEverySoInOrderAndReportsEach) {
  TempDir dir;
  dir.copy(kFixtures / "fixture_good.so", "a.so");
  dir.copy(kFixtures / "fixture_good.so", "b.so");
  dir.copy(kFixtures / "fixture_not_a_plugin.so", "c.so");
  dir.copy(kFixtures / "fixture_good.so", "ignored.txt");
  PluginRegistry registry;
  const auto outcomes = registry.scan({dir.path(), dir.path() / "nope"});
  ASSERT_EQ(outcomes.size(), 4U);
  EXPECT_EQ(outcomes[0].status, LoadStatus::Loaded);
  EXPECT_EQ(outcomes[1].status, LoadStatus::DuplicateType) << "the first file keeps the type";
  EXPECT_EQ(outcomes[2].status, LoadStatus::NotAPlugin);
  EXPECT_EQ(outcomes[3].status, LoadStatus::NotFound);
  EXPECT_EQ(registry.find("fixture-echo")->file().filename(), "a.so");
}

TEST(Registry, GoodFixtureExportsExactlyOneSymbol) {
  const auto command = "nm -D --defined-only " + (kFixtures / "fixture_good.so").string();
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  ASSERT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  EXPECT_NE(output.find("plexus_plugin_entry"), std::string::npos);
}

TEST(Registry, PluginStaysLoadedWhileInUse) {
  std::shared_ptr<const plexus::invoke::LoadedPlugin> kept;
  {
    PluginRegistry registry;
    ASSERT_EQ(registry.load(kFixtures / "fixture_good.so").status, LoadStatus::Loaded);
    kept = registry.find("fixture-echo");
  }
  // The registry is gone; the library must still be mapped: calling into it works.
  plexus::invoke::ExecInvoker exec;
  PluginRegistry empty;
  plexus::invoke::InProcessInvoker in_process(empty, exec);
  plexus::cni::Request request{"ADD", "c", "/x", "net7", "", "/bin", R"({"name":"n"})", ""};
  const auto reply = in_process.invoke(kept, request);
  EXPECT_EQ(reply.exit_code, 0);
  EXPECT_NE(reply.stdout_data.find("\"name\":\"net7\""), std::string::npos);
}

}  // namespace
