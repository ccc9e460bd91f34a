// Helpers for the daemon suites: temp dirs, a recording script plugin (exec'd), meta configs,
// plexusd as a child process, the plexus binary as the shim.
#pragma once

#include "k8s_test_support.hpp"  // TempDir, pod_object, eventually (tests/k8s)
#include "netns.hpp"

#include <plexus/cni/protocol.hpp>
#include <plexus/daemon/client.hpp>
#include <plexus/daemon/server.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace plexus::test {

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A CNI plugin script, type "recorder": logs "<start|end> <command> <container> <ns-since-epoch>"
// to <dir>/calls.log around a sleep of <dir>/delay seconds (default 0), prints a 1.0.0 result on
// ADD. Exec'd by the daemon through the exec fallback (binDir).
inline void write_recorder(const std::filesystem::path& bin_dir, const std::filesystem::path& log_dir,
                           const std::string& delay = "0") {
  std::filesystem::create_directories(bin_dir);
  const auto script = bin_dir / "recorder";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n"
           "cat >/dev/null\n"
           "log=" << (log_dir / "calls.log").string() << "\n"
           "echo \"start $CNI_COMMAND $CNI_CONTAINERID $(date +%s%N)\" >> $log\n"
           "sleep " << delay << "\n"
           "echo \"end $CNI_COMMAND $CNI_CONTAINERID $(date +%s%N)\" >> $log\n"
           "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
           "  printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"%s\",\"sandbox\":\"%s\"}],"
           "\"ips\":[{\"address\":\"10.9.0.1/24\",\"interface\":0}],\"dns\":{}}' \"$CNI_IFNAME\" \"$CNI_NETNS\"\n"
           "fi\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
}

struct RecordedCall {
  std::string command;
  std::string container;
  long long start_ns = 0;
  long long end_ns = 0;
};

// The recorder's log as one entry per finished call.
inline std::vector<RecordedCall> recorded_calls(const std::filesystem::path& log_dir) {
  std::istringstream in(read_file(log_dir / "calls.log"));
  std::map<std::string, std::vector<RecordedCall>> open;  // "command container" -> started
  std::vector<RecordedCall> calls;
  std::string edge, command, container;
  long long when = 0;
  while (in >> edge >> command >> container >> when) {
    const auto key = command + " " + container;
    if (edge == "start") {
      open[key].push_back(RecordedCall{command, container, when, 0});
    } else if (!open[key].empty()) {
      auto call = open[key].front();
      open[key].erase(open[key].begin());
      call.end_ns = when;
      calls.push_back(call);
    }
  }
  return calls;
}

inline bool overlap(const RecordedCall& a, const RecordedCall& b) { return a.start_ns < b.end_ns && b.start_ns < a.end_ns; }

// A meta config whose only delegate is the recorder, plus `extra` keys.
inline std::string recorder_meta_config(const std::filesystem::path& work, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json config = {{"cniVersion", "1.0.0"},
                           {"name", "plexus-daemon-test"},
                           {"type", "plexus"},
                           {"delegates", {{{"cniVersion", "1.0.0"}, {"name", "rec"}, {"type", "recorder"}}}},
                           {"cniDir", (work / "cache").string()},
                           {"confDir", (work / "net.d").string()},
                           {"binDir", (work / "bin").string()}};
  config.update(extra);
  return config.dump();
}

inline cni::Request cni_request(const std::string& command, const std::string& container_id, const std::string& config,
                                const std::string& pod_ns = "team-a", const std::string& pod_name = "p",
                                const std::string& netns = "/proc/self/ns/net") {
  cni::Request request;
  request.command = command;
  request.container_id = container_id;
  request.netns = netns;
  request.ifname = "eth0";
  request.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod_ns + ";K8S_POD_NAME=" + pod_name +
                 ";K8S_POD_INFRA_CONTAINER_ID=" + container_id;
  request.path = "/usr/lib/cni";
  request.stdin_data = config;
  return request;
}

// A daemon config for an in-process Daemon in `work` (socket in work/run, no metrics listener,
// no plugins preloaded: the recorder is exec'd).
inline daemon::DaemonConfig test_daemon_config(const std::filesystem::path& work) {
  daemon::DaemonConfig config;
  config.socket_dir = work / "run";
  config.metrics_address = "";
  config.plugin_dirs = {work / "no-plugins"};
  config.node_name = "";
  return config;
}

// plexusd as a child process (under `ip netns exec <netns>` when netns is given), stderr to
// <work>/plexusd.log. The destructor kills it if the test did not stop it.
class PlexusdProcess {
 public:
  PlexusdProcess(const std::filesystem::path& config_file, const std::filesystem::path& socket,
                 const std::filesystem::path& log_file, const std::string& netns = {})
      : socket_(socket), log_file_(log_file) {
    const std::string plexusd = std::string(PLEXUS_BUILD_DIR) + "/bin/plexusd";
    std::vector<std::string> argv;
    if (!netns.empty()) argv = {"ip", "netns", "exec", netns};
    argv.insert(argv.end(), {plexusd, "--config", config_file.string()});
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) ::dup2(fd, STDERR_FILENO);
      std::vector<char*> args;
      for (auto& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~PlexusdProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  PlexusdProcess(const PlexusdProcess&) = delete;
  PlexusdProcess& operator=(const PlexusdProcess&) = delete;

  // True once /healthz answers 200.
  bool wait_ready(std::chrono::milliseconds within = std::chrono::seconds(30)) const {
    return eventually(
        [&] {
          try {
            return daemon::http_over_unix(socket_, "GET", "/healthz").status == 200;
          } catch (const daemon::DaemonUnavailable&) {
            return false;
          }
        },
        within);
  }
  void signal(int number) const { ::kill(pid_, number); }
  // The exit status (as waitpid's), waiting for it.
  int wait_exit() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  std::string log() const { return read_file(log_file_); }

 private:
  std::filesystem::path socket_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct ShimResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the plexus binary (or `binary` from the build's bin/, e.g. plexus-shim) as kubelet would:
// CNI_* env, the config on stdin.
inline ShimResult run_plexus(const TempDir& work, const cni::Request& request, const std::string& binary = "plexus") {
  static int serial = 0;
  const auto tag = std::to_string(serial++);
  const auto in = work.write("shim-in-" + tag, request.stdin_data);
  const auto out = work.path() / ("shim-out-" + tag);
  const auto err = work.path() / ("shim-err-" + tag);
  // In a subshell, so run_command's trailing 2>&1 does not fold stderr into our stdout file.
  const std::string command = "(CNI_COMMAND=" + shell_quote(request.command) + " CNI_CONTAINERID=" +
                              shell_quote(request.container_id) + " CNI_NETNS=" + shell_quote(request.netns) +
                              " CNI_IFNAME=" + shell_quote(request.ifname) + " CNI_ARGS=" + shell_quote(request.args) +
                              " CNI_PATH=" + shell_quote(request.path) + " " + std::string(PLEXUS_BUILD_DIR) +
                              "/bin/" + binary + " < " + shell_quote(in.string()) + " > " + shell_quote(out.string()) +
                              " 2> " + shell_quote(err.string()) + ")";
  const auto result = run_command(command);
  return ShimResult{result.exit_code, read_file(out), read_file(err)};
}

}  // namespace plexus::test
