#include <plexus/cni/errors.hpp>
#include <plexus/cni/version.hpp>

#include <gtest/gtest.h>

#include <array>

namespace {

namespace cni = plexus::cni;

TEST(Version, ReplyIsCompactWithNewline) {
  EXPECT_EQ(cni::version_reply(cni::all_versions()),
            "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\","
            "\"1.0.0\",\"1.1.0\"]}\n");
}

TEST(Version, Ordering) {
  EXPECT_LT(cni::compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_GT(cni::compare_versions("1.0.0", "0.4.0"), 0);
  EXPECT_EQ(cni::compare_versions("1.0", "1.0.0"), 0);
  EXPECT_GT(cni::compare_versions("0.10.0", "0.9.0"), 0);
  EXPECT_THROW(cni::compare_versions("one", "1.0.0"), cni::Error);
}

TEST(Version, MissingMeansOldest) { EXPECT_EQ(cni::effective_version(""), "0.1.0"); }

TEST(Version, UnsupportedNamesConfigAndList) {
  constexpr std::array<std::string_view, 2> supported = {"0.4.0", "1.0.0"};
  try {
    cni::require_supported("9.9.9", supported);
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 1);
    EXPECT_EQ(e.msg(), "incompatible CNI versions");
    EXPECT_EQ(e.details(), "config is \"9.9.9\", plugin supports [\"0.4.0\" \"1.0.0\"]");
  }
}

TEST(Version, CommandsNeedNewEnoughConfigs) {
  EXPECT_NO_THROW(cni::require_command_allowed("CHECK", "0.4.0"));
  EXPECT_NO_THROW(cni::require_command_allowed("ADD", "0.1.0"));
  for (const auto& [command, version] : {std::pair{"CHECK", "0.3.1"}, std::pair{"GC", "1.0.0"}, std::pair{"STATUS", "1.0.0"}}) {
    try {
      cni::require_command_allowed(command, version);
      FAIL() << command;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 1);
      EXPECT_EQ(e.msg(), std::string("config version does not allow ") + command);
    }
  }
  EXPECT_NO_THROW(cni::require_command_allowed("GC", "1.1.0"));
}

}  // namespace
