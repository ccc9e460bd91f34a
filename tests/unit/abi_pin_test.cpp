// Pins the ABI header: any edit to abi.h fails here until the pin is updated on purpose, together
// with a PLEXUS_ABI_MINOR bump (appended field) or PLEXUS_ABI_MAJOR bump (anything else).
#include <plexus/abi.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

namespace {

constexpr const char* kPinnedAbiSha256 = "d16752255f7cb10f775838219104db6c20e46534385e395fda2fea0f9e3611f6";

TEST(AbiPin, HeaderHashIsPinned) {
  EXPECT_EQ(std::string(PLEXUS_ABI_H_SHA256), kPinnedAbiSha256)
      << "sdk/include/plexus/abi.h changed: bump PLEXUS_ABI_MINOR for an appended field or "
         "PLEXUS_ABI_MAJOR for anything else, then update the pin";
}

TEST(AbiPin, VersionIsOne) {
  EXPECT_EQ(PLEXUS_ABI_MAJOR, 1);
  EXPECT_EQ(PLEXUS_ABI_MINOR, 1);
}

// Minor 1 appended the deadline after every field of minor 0, so a minor-0 request (shorter
// struct_size) reads as "no deadline" and a minor-0 plugin never sees it.
TEST(AbiPin, DeadlineIsAppendedLast) {
  EXPECT_GT(offsetof(plexus_request_v1, deadline_monotonic_ns), offsetof(plexus_request_v1, netns_override));
  EXPECT_EQ(sizeof(plexus_request_v1), offsetof(plexus_request_v1, deadline_monotonic_ns) + sizeof(uint64_t));
}

// Layout facts a plugin built by another compiler relies on: every struct starts with struct_size.
TEST(AbiPin, StructsStartWithTheirSize) {
  EXPECT_EQ(offsetof(plexus_request_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_reply_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_host_v1, struct_size), 0U);
  EXPECT_EQ(offsetof(plexus_plugin_v1, struct_size), 0U);
}

}  // namespace
