#include "inspect.hpp"

#include <plexus/cni/json.hpp>
#include <plexus/invoke/registry.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

namespace plexus::cli {
namespace {

// Executable regular files in the CNI_PATH directories: what libcni could exec.
std::set<std::string> exec_candidates(const std::string& cni_path) {
  std::set<std::string> names;
  std::size_t start = 0;
  while (start < cni_path.size()) {
    const auto colon = cni_path.find(':', start);
    const std::string dir = cni_path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      struct stat info {};
      if (::stat(entry.path().c_str(), &info) == 0 && S_ISREG(info.st_mode) && (info.st_mode & 0111) != 0) {
        names.insert(entry.path().filename().string());
      }
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return names;
}

}  // namespace

int inspect(const InspectOptions& options, std::ostream& out) {
  invoke::PluginRegistry registry;
  const auto outcomes = registry.scan(options.plugin_dirs);
  auto plugins = registry.plugins();
  std::sort(plugins.begin(), plugins.end(), [](const auto& a, const auto& b) { return a->name() < b->name(); });

  std::set<std::string> in_process;
  for (const auto& plugin : plugins) {
    for (const auto& type : plugin->types()) {
      if (std::find(options.exec_types.begin(), options.exec_types.end(), type) == options.exec_types.end()) {
        in_process.insert(type);
      }
    }
  }
  std::vector<std::string> exec_only;
  for (const auto& name : exec_candidates(options.cni_path)) {
    if (!in_process.contains(name)) exec_only.push_back(name);
  }

  if (options.json) {
    cni::ordered_json doc;
    doc["pluginDirs"] = cni::ordered_json::array();
    for (const auto& dir : options.plugin_dirs) doc["pluginDirs"].push_back(dir.string());
    doc["files"] = cni::ordered_json::array();
    for (const auto& o : outcomes) {
      doc["files"].push_back({{"file", o.file.string()}, {"status", invoke::to_string(o.status)}, {"message", o.message}});
    }
    doc["plugins"] = cni::ordered_json::array();
    for (const auto& p : plugins) {
      doc["plugins"].push_back({{"name", p->name()},
                                {"version", p->version()},
                                {"file", p->file().string()},
                                {"abi", fmt::format("{}.{}", p->info().abi_major, p->info().abi_minor)},
                                {"types", p->types()},
                                {"cniVersions", p->spec_versions()}});
    }
    doc["exec"] = exec_only;
    out << cni::go_marshal_indent(doc) << '\n';
    return 0;
  }

  out << "plugin dirs:\n";
  for (const auto& dir : options.plugin_dirs) out << "  " << dir.string() << '\n';
  out << "files:\n";
  for (const auto& o : outcomes) out << fmt::format("  {:<18} {}\n", invoke::to_string(o.status), o.message);
  out << "in-process plugins:\n";
  for (const auto& p : plugins) {
    out << fmt::format("  {} {} (ABI {}.{}) types [{}] CNI [{}]\n    {}\n", p->name(), p->version(), p->info().abi_major,
                       p->info().abi_minor, fmt::join(p->types(), ", "), fmt::join(p->spec_versions(), ", "),
                       p->file().string());
  }
  out << fmt::format("exec'd from CNI_PATH ({}):\n  {}\n", options.cni_path.empty() ? "unset" : options.cni_path,
                     exec_only.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(exec_only, " ")));
  return 0;
}

}  // namespace plexus::cli
