#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/exec/exec.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace plexus::exec {
namespace {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to create a pipe: {}", std::strerror(errno)));
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// posix_spawn file actions, destroyed with the object.
class SpawnActions {
 public:
  SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

// A spawned plugin process. Unless wait() reaped it, the destructor kills and reaps it, so no
// path out of run() (an exception included) leaves a running child or a zombie behind.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    (void)wait();
  }
  void kill() const { ::kill(pid_, SIGKILL); }
  // The wait status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

// The caller's environment with the CNI_* variables of the request on top.
std::vector<std::string> plugin_environment(const cni::Request& request) {
  const std::array<std::pair<const char*, const std::string*>, 7> cni_vars = {{
      {"CNI_COMMAND", &request.command},
      {"CNI_CONTAINERID", &request.container_id},
      {"CNI_NETNS", &request.netns},
      {"CNI_IFNAME", &request.ifname},
      {"CNI_ARGS", &request.args},
      {"CNI_PATH", &request.path},
      {"CNI_NETNS_OVERRIDE", &request.netns_override},
  }};
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view kv(*entry);
    const auto is_cni = std::any_of(cni_vars.begin(), cni_vars.end(), [&](const auto& var) {
      const std::string_view name(var.first);
      return kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=';
    });
    if (!is_cni) env.emplace_back(kv);
  }
  for (const auto& [name, value] : cni_vars) {
    if (std::string_view(name) == "CNI_NETNS_OVERRIDE" && value->empty()) continue;
    env.push_back(fmt::format("{}={}", name, *value));
  }
  return env;
}

cni::Reply failure(cni::ErrorCode code, std::string msg) { return {1, cni::Error(code, std::move(msg)).to_json(), {}}; }

// Blocks SIGPIPE on this thread while feeding a plugin that may exit without reading its stdin,
// and discards one that became pending, so the host process is never killed by it.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set_, &previous_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      ::sigtimedwait(&pipe_set_, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_set_{};
  sigset_t previous_{};
};

}  // namespace

bool is_plain_plugin_name(std::string_view type) {
  return !type.empty() && type != "." && type.find('/') == std::string_view::npos &&
         type.find('\0') == std::string_view::npos && type.find("..") == std::string_view::npos;
}

std::filesystem::path find_in_path(std::string_view type, std::string_view cni_path, std::span<const std::string> extra_dirs) {
  if (type.empty()) throw cni::Error(cni::ErrorCode::Internal, "no plugin name provided");
  if (!is_plain_plugin_name(type)) {
    throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                     fmt::format("invalid plugin name {}: a plugin type is a plain file name (no '/', '..' or NUL)",
                                 cni::go_marshal(cni::ordered_json(std::string(type)))));
  }
  std::vector<std::string> dirs(extra_dirs.begin(), extra_dirs.end());
  std::size_t start = 0;
  while (start <= cni_path.size() && !cni_path.empty()) {
    const auto colon = cni_path.find(':', start);
    const auto entry = cni_path.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    if (!entry.empty()) dirs.emplace_back(entry);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (dirs.empty()) throw cni::Error(cni::ErrorCode::Internal, "no paths provided");
  for (const auto& dir : dirs) {
    const auto candidate = std::filesystem::path(dir) / std::string(type);
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode)) return candidate;
  }
  throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to find plugin \"{}\" in path [{}]", type, fmt::join(dirs, " ")));
}

cni::Reply run(const std::filesystem::path& binary, const cni::Request& request, const ExecOptions& options) {
  auto env_strings = plugin_environment(request);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string argv0 = binary.string();
  std::array<char*, 2> argv = {argv0.data(), nullptr};

  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  SpawnActions actions;
  ::posix_spawn_file_actions_adddup2(actions.get(), in.read.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), STDERR_FILENO);

  pid_t pid = -1;
  int spawn_error = 0;
  for (int attempt = 0;; ++attempt) {
    spawn_error = ::posix_spawn(&pid, argv0.c_str(), actions.get(), nullptr, argv.data(), envp.data());
    if (spawn_error != ETXTBSY || attempt >= options.busy_retries) break;
    std::this_thread::sleep_for(options.busy_delay);
  }
  if (spawn_error != 0) {
    return failure(cni::ErrorCode::Internal, fmt::format("failed to execute plugin {}: {}", argv0, std::strerror(spawn_error)));
  }
  ChildProcess child(pid);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  // A plugin may print before it reads its stdin: a blocking write could then wait forever on a
  // full pipe while the plugin waits on its full stdout.
  ::fcntl(in.write.get(), F_SETFL, ::fcntl(in.write.get(), F_GETFL) | O_NONBLOCK);

  SigpipeBlock no_sigpipe;
  cni::Reply reply;
  std::size_t written = 0;
  const auto& input = request.stdin_data;
  if (input.empty()) in.write.reset();
  // The plugin's own timeout, or the caller's deadline when that comes first.
  const auto started = std::chrono::steady_clock::now();
  auto deadline = started + options.timeout;
  if (request.deadline != std::chrono::steady_clock::time_point{}) deadline = std::min(deadline, request.deadline);
  bool timed_out = false;
  bool over_cap = false;
  while (out.read.get() >= 0 || err.read.get() >= 0) {
    std::array<pollfd, 3> fds{{{in.write.get(), POLLOUT, 0}, {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (in.write.get() >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const auto n = ::write(in.write.get(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      const bool retry = n < 0 && (errno == EAGAIN || errno == EINTR);
      if ((n < 0 && !retry) || written == input.size()) in.write.reset();
    }
    for (auto [index, target] : {std::pair{1, &reply.stdout_data}, std::pair{2, &reply.stderr_data}}) {
      auto& fd = index == 1 ? out.read : err.read;
      if (fd.get() < 0 || (fds[static_cast<std::size_t>(index)].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      std::array<char, 65536> buffer{};
      const auto n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n <= 0) {
        if (n == 0 || errno != EINTR) fd.reset();
        continue;
      }
      target->append(buffer.data(), static_cast<std::size_t>(n));
      if (target->size() > options.output_cap) over_cap = true;
    }
    if (over_cap) break;
  }
  if (timed_out || over_cap) child.kill();
  const int status = child.wait();
  if (timed_out) {
    return failure(cni::ErrorCode::TryAgainLater,
                   fmt::format("plugin {} timed out after {} ms and was killed", argv0,
                               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started).count()));
  }
  if (over_cap) {
    return failure(cni::ErrorCode::Internal, fmt::format("plugin {} printed more than {} bytes", argv0, options.output_cap));
  }
  if (WIFEXITED(status)) {
    reply.exit_code = WEXITSTATUS(status);
  } else {
    reply.exit_code = 1;
    if (reply.stdout_data.empty()) {
      reply.stdout_data = cni::Error(cni::ErrorCode::Internal,
                                     fmt::format("plugin {} was killed by signal {}", argv0, WTERMSIG(status))).to_json();
    }
  }
  return reply;
}

std::optional<cni::Error> error_of(const cni::Reply& reply) {
  if (reply.exit_code == 0) return std::nullopt;
  return cni::reply_error(reply);
}

std::vector<std::string> supported_versions(const std::filesystem::path& binary, const ExecOptions& options) {
  cni::Request request;
  request.command = "VERSION";
  const auto reply = run(binary, request, options);
  if (reply.exit_code != 0) {
    const auto error = cni::reply_error(reply);
    if (error.msg() == "unknown CNI_COMMAND: VERSION") return {"0.1.0"};
    throw error;
  }
  try {
    const auto value = cni::parse_json(reply.stdout_data);
    std::vector<std::string> versions;
    for (const auto& v : value.at("supportedVersions")) versions.push_back(v.get<std::string>());
    return versions;
  } catch (const std::exception& e) {
    throw cni::Error(cni::ErrorCode::DecodingFailure, fmt::format("failed to parse VERSION reply of {}: {}", binary.string(), e.what()));
  }
}

}  // namespace plexus::exec
