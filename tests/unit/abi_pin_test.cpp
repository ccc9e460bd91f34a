// Pins the ABI header: any edit to abi.h fails here until the pin is updated on purpose, together
// with a PLEXUS_ABI_MINOR bump (appended field) or PLEXUS_ABI_MAJOR bump (anything else).
#include <plexus/abi.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

namespace {

constexpr const char* kPinnedAbiSha256 = "93b1fc9495407df51749a3f2b49e9fc048761ea3233fc90a8b2cb7a2d32c6104";

TEST(AbiPin, HeaderHashIsPinned) {
  EXPECT_EQ(std::string(PLEXUS_ABI_H_SHA256), kPinnedAbiSha256)
      << "sdk/include/plexus/abi.h changed: bump PLEXUS_ABI_MINOR for an appended field or "
         "PLEXUS_ABI_MAJOR for anything else, then update the pin";
}

TEST(AbiPin, VersionIsOne) {
  EXPECT_EQ(PLEXUS_ABI_MAJOR, 1);
  EXPECT_EQ(PLEXUS_ABI_MINOR, 0);
}

// Layout facts a plugin built by another compiler relies on: every struct starts with struct_size.
TEST(AbiPin, StructsStartWithTheirSize) {
  EXPECT_EQ(offsetof(plexus_request_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_reply_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_host_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_plugin_v1, struct_size), 0U);
}

}  // namespace
