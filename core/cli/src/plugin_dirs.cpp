#include "plugin_dirs.hpp"

namespace plexus::cli {

std::vector<std::filesystem::path> default_plugin_dirs() {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(self.parent_path().parent_path() / "lib" / "plexus" / "plugins");
  const std::filesystem::path installed = PLEXUS_INSTALLED_PLUGIN_DIR;
  if (dirs.empty() || std::filesystem::weakly_canonical(dirs.front(), ec) != std::filesystem::weakly_canonical(installed, ec)) {
    dirs.push_back(installed);
  }
  return dirs;
}

}  // namespace plexus::cli
