// The meta suites use the shared temp dir of tests/support.
#pragma once

#include "temp_dir.hpp"

namespace plexus::meta::test {

using TempDir = plexus::test::TempDir;

}  // namespace plexus::meta::test
