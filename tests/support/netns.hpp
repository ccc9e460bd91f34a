// Named network namespaces for tests, made and removed with iproute2 the way an operator would
// (`ip netns add`, a bind mount under /run/netns), plus the standard macvlan topology. Needs root:
// call PLEXUS_REQUIRE_ROOT() first. Names carry the pid and a counter, so tests run in parallel.
//
//   plexus::test::TestNetns pod("pod");                         // plexus-pod-<pid>-<n>
//   pod.exec("ip link set lo up");                              // throws unless exit 0
//   auto links = pod.exec_json("ip -d -j link show");           // nlohmann::json
//   plexus::net::in_netns(pod.path(), [] { ... });
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plexus::test {

struct CommandResult {
  int exit_code = -1;   // -1 when the command did not exit normally
  std::string output;   // stdout and stderr together
};

// Single-quotes `text` for sh.
inline std::string shell_quote(std::string_view text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// Runs `command` with sh -c, stderr folded into the output.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// As run_command, but a non-zero exit throws with the command and its output.
inline std::string check_output(const std::string& command) {
  CommandResult result = run_command(command);
  if (result.exit_code != 0) {
    throw std::runtime_error("command failed (exit " + std::to_string(result.exit_code) + "): " + command + "\n" +
                             result.output);
  }
  return std::move(result.output);
}

// A network namespace that lives as long as this object.
class TestNetns {
 public:
  explicit TestNetns(std::string_view tag)
      : name_("plexus-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(next_serial())) {
    check_output("ip netns add " + shell_quote(name_));
    // lo down in a fresh namespace breaks even local traffic; every test wants it up.
    exec("ip link set lo up");
  }
  ~TestNetns() {
    // Deleting the namespace destroys every link still in it (a veth takes its peer along).
    run_command("ip netns delete " + shell_quote(name_));
  }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }

  // `command` in this namespace (ip netns exec <name> sh -c <command>).
  CommandResult run(std::string_view command) const {
    return run_command("ip netns exec " + shell_quote(name_) + " sh -c " + shell_quote(command));
  }
  std::string exec(std::string_view command) const {
    return check_output("ip netns exec " + shell_quote(name_) + " sh -c " + shell_quote(command));
  }
  // exec() parsed as JSON (for `ip -j ...`). An empty output is an empty array.
  nlohmann::json exec_json(std::string_view command) const {
    const std::string output = exec(command);
    if (output.find_first_not_of(" \n") == std::string::npos) return nlohmann::json::array();
    return nlohmann::json::parse(output);
  }

 private:
  static int next_serial() {
    static std::atomic<int> serial{0};
    return serial++;
  }

  std::string name_;
};

// The standard macvlan topology: a "host" namespace whose eth0 is one end of a veth pair (the
// other end, eth0-peer, stays beside it; both up), standing in for the node's NIC so no test
// touches the machine's own interfaces; and an empty "pod" namespace.
struct MacvlanTopology {
  TestNetns host{"host"};
  TestNetns pod{"pod"};

  static constexpr const char* kMaster = "eth0";
  static constexpr const char* kMasterPeer = "eth0-peer";

  MacvlanTopology() {
    host.exec(std::string("ip link add ") + kMaster + " type veth peer name " + kMasterPeer + " && ip link set " +
              kMaster + " up && ip link set " + kMasterPeer + " up");
  }
};

}  // namespace plexus::test
