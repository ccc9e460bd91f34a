// A plugin as an exec'd CNI binary: the environment and stdin in, the reply out.
#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/cni/env.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/plugin.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace plexus {
namespace {

// Delegates are exec'd from CNI_PATH, as libcni's invoke.Delegate* does; logs go to stderr.
class ExecHost final : public Host {
 public:
  cni::Reply invoke(std::string_view type, const cni::Request& request) override {
    return exec::run(exec::find_in_path(type, request.path), request, exec::ExecOptions{});
  }
  void log(LogLevel level, std::string_view message) override {
    if (level <= LogLevel::warn) std::cerr << message << '\n';
  }
};

}  // namespace

int run_main(Plugin& plugin, const PluginIdentity& identity) {
  auto request = cni::request_from_environment();

  if (request.command.empty()) {
    // skel: the about text on stderr, exit 0.
    std::cerr << fmt::format("CNI {} plugin {}\n", identity.name, identity.version)
              << fmt::format("CNI protocol versions supported: {}\n", fmt::join(identity.spec_versions, ", "));
    return 0;
  }
  if (request.command != "VERSION") {
    try {
      request.stdin_data = cni::read_stream_bounded(std::cin, cni::max_stdin_bytes(), cni::kStdinDescription);
    } catch (const cni::Error& e) {
      std::cout << e.to_json();
      return 1;
    }
  }
  ExecHost host;
  const auto reply = dispatch(plugin, identity, host, request);
  std::fwrite(reply.stdout_data.data(), 1, reply.stdout_data.size(), stdout);
  std::fflush(stdout);
  if (!reply.stderr_data.empty()) std::fwrite(reply.stderr_data.data(), 1, reply.stderr_data.size(), stderr);
  return reply.exit_code;
}

}  // namespace plexus
