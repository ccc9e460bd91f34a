#include "app.hpp"

#include "inspect.hpp"
#include "plugin_dirs.hpp"

#include <plexus/abi.h>
#include <plexus/cni/version.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <iostream>

namespace plexus::cli {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

void print_version(std::ostream& out) {
  out << fmt::format("plexus {}\nplugin ABI {}.{}\nCNI spec versions: {}\n", PLEXUS_VERSION, PLEXUS_ABI_MAJOR,
                     PLEXUS_ABI_MINOR, fmt::join(cni::all_versions(), ", "));
}

}  // namespace

int plexus_main(int argc, char** argv, std::istream& /*in*/, std::ostream& out, std::ostream& err) {
  CLI::App app{"plexus: a multus-compatible multi-network CNI meta-plugin with in-process delegates.\n"
               "kubelet runs it as a CNI plugin (CNI_COMMAND set); people run its subcommands."};
  app.require_subcommand(1);

  app.add_subcommand("version", "Print plexus's version, plugin ABI and CNI spec versions")->callback([&] { print_version(out); });

  InspectOptions inspect_options;
  std::vector<std::string> plugin_dirs;
  auto* inspect_cmd = app.add_subcommand("inspect", "List plugin dirs, in-process plugins, and the types that will be exec'd");
  inspect_cmd->add_option("--plugin-dir", plugin_dirs, "Directory of plugin .so files (repeatable; default: next to plexus)");
  inspect_cmd->add_option("--cni-path", inspect_options.cni_path, "':'-separated CNI binary dirs (default: $CNI_PATH or /opt/cni/bin)");
  inspect_cmd->add_option("--exec-type", inspect_options.exec_types, "A type pinned to exec (repeatable)");
  inspect_cmd->add_flag("--json", inspect_options.json, "Print JSON");
  int status = 0;
  inspect_cmd->callback([&] {
    for (const auto& dir : plugin_dirs) inspect_options.plugin_dirs.emplace_back(dir);
    if (inspect_options.plugin_dirs.empty()) inspect_options.plugin_dirs = default_plugin_dirs();
    if (inspect_options.cni_path.empty()) inspect_options.cni_path = env_or("CNI_PATH", "/opt/cni/bin");
    status = inspect(inspect_options, out);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }
  return status;
}

}  // namespace plexus::cli
