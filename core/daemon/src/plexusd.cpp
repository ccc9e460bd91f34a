#include <plexus/daemon/server.hpp>
#include <plexus/log/logger.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

namespace plexus::daemon {
namespace {

constexpr const char* kDefaultConfig = "/etc/cni/net.d/plexus.d/daemon-config.json";

// SIGTERM/SIGINT land here on whichever thread; the main thread reads the pipe. A handler (not a
// blocked mask) so that exec'd delegate plugins do not inherit blocked signals.
int signal_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int signal_number) {
  const auto byte = static_cast<char>(signal_number);
  [[maybe_unused]] const auto written = ::write(signal_pipe[1], &byte, 1);
}

void usage(std::ostream& out) {
  out << "usage: plexusd [--config FILE]\n"
         "  Serves the plexus meta-plugin on <socketDir>/plexus.sock (default config: "
      << kDefaultConfig << ").\n";
}

}  // namespace

int plexusd_main(int argc, char** argv) {
  std::string config_file = kDefaultConfig;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--config" || arg == "-config") && i + 1 < argc) {
      config_file = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    } else {
      usage(std::cerr);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "plexusd: must run as root (it creates network interfaces and a root-only socket)\n";
    return 1;
  }

  if (::pipe2(signal_pipe, O_CLOEXEC) != 0) {
    std::cerr << "plexusd: pipe: " << std::strerror(errno) << '\n';
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);

  std::unique_ptr<plexus::log::Logger> logger;
  try {
    auto config = load_daemon_config(config_file);
    logger = std::make_unique<plexus::log::Logger>(
        plexus::log::LogSettings{config.log_file, config.log_level, config.log_to_stderr}, std::cerr);
    const DaemonLog log = logger->engine_log();
    Daemon daemon(std::move(config), log);
    daemon.start();
    char received = 0;
    while (::read(signal_pipe[0], &received, 1) < 0 && errno == EINTR) {
    }
    log(meta::LogLevel::Verbose, fmt::format("signal {}: no new calls, finishing the ones in flight", static_cast<int>(received)));
    daemon.shutdown();
  } catch (const std::exception& e) {
    if (logger) logger->log(meta::LogLevel::Panic, e.what());
    if (!logger || !logger->settings().to_stderr) std::cerr << "plexusd: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace plexus::daemon
