// Where plexus looks for in-process plugins when its config names none.
#pragma once

#include <filesystem>
#include <vector>

namespace plexus::cli {

// <dir of this executable>/../lib/plexus/plugins (works in the build tree and in an install
// prefix), then the configured install dir.
std::vector<std::filesystem::path> default_plugin_dirs();

}  // namespace plexus::cli
