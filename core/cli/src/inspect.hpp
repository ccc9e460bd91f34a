// `plexus inspect`: what this plexus would run in-process, and what it would exec.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace plexus::cli {

struct InspectOptions {
  std::vector<std::filesystem::path> plugin_dirs;
  std::string cni_path;                   // ':'-separated, for the exec fallback listing
  std::vector<std::string> exec_types;    // pinned to exec by config
  bool json = false;
};

// Prints the plugin dirs, each file's load outcome, the loaded plugins (types, ABI, spec
// versions), and the CNI binaries on cni_path that have no in-process plugin (they are exec'd).
int inspect(const InspectOptions& options, std::ostream& out);

}  // namespace plexus::cli
