// Privileged tests (root, namespaces, netlink) skip on a developer laptop but fail in CI, so a CI
// run can never count a skipped test as a pass.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace plexus::test {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace plexus::test

// Use at the top of a test body (or SetUp) that needs root.
#define PLEXUS_REQUIRE_ROOT()                                                             \
  do {                                                                                    \
    if (::geteuid() != 0) {                                                               \
      if (::plexus::test::in_ci()) FAIL() << "this test needs root and CI=true is set";   \
      GTEST_SKIP() << "needs root";                                                       \
    }                                                                                     \
  } while (0)
