// plexus-shim: kubelet's CNI entry in thick mode. It forwards the call to plexusd over its unix
// socket and prints exactly the daemon's stdout bytes with its exit code, linking only the socket
// client so the process starts in about a millisecond. The config names the socket as for
// `plexus` ("daemonSocket", or "type": "plexus-shim" with "daemonSocketDir"). Whatever plexus-shim
// cannot serve itself (a config naming no socket, a DEL with plexusd down) is handed to the full
// `plexus` binary next to it with the same environment and stdin, so the answer is plexus's own.
#include "shim.hpp"

#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/cni/version.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

bool write_all(int fd, const std::string& bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

// Replaces this process with <dir of plexus-shim>/plexus, `stdin_bytes` on its stdin (stdin was
// consumed here, so it is replayed from a memfd). Returns only on failure, with a CNI error code.
int exec_full_plexus(const std::string& stdin_bytes) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const auto plexus = (ec ? std::filesystem::path(".") : self.parent_path()) / "plexus";
  const int memfd = ::memfd_create("plexus-shim-stdin", 0);  // not CLOEXEC: it becomes stdin
  if (memfd < 0 || !write_all(memfd, stdin_bytes) || ::lseek(memfd, 0, SEEK_SET) != 0 || ::dup2(memfd, STDIN_FILENO) < 0) {
    std::cout << plexus::cni::Error(plexus::cni::ErrorCode::IoFailure,
                                    std::string("plexus-shim: cannot pass the config on to plexus: ") + std::strerror(errno))
                     .to_json();
    return 1;
  }
  if (memfd != STDIN_FILENO) ::close(memfd);
  const std::string program = plexus.string();
  char* const argv[] = {const_cast<char*>(program.c_str()), nullptr};  // NOLINT: execv's signature
  ::execv(program.c_str(), argv);
  std::cout << plexus::cni::Error(plexus::cni::ErrorCode::Internal,
                                  "plexus-shim: cannot run " + program + ": " + std::strerror(errno))
                   .to_json();
  return 1;
}

}  // namespace

int main() {
  namespace cni = plexus::cni;
  auto request = cni::request_from_environment();
  if (request.command == "VERSION") {
    std::cout << cni::version_reply(cni::all_versions());
    return 0;
  }
  try {
    request.stdin_data = cni::read_fd_bounded(STDIN_FILENO, cni::max_stdin_bytes(), cni::kStdinDescription);
  } catch (const cni::Error& e) {
    std::cout << e.to_json();
    return 1;
  }
  const auto socket = plexus::cli::daemon_socket_of(request.stdin_data);
  if (!socket) return exec_full_plexus(request.stdin_data);  // no daemon named: plexus runs it
  // With plexusd down: code 11 for ADD/CHECK/STATUS/GC; for DEL nullopt: plexus runs it from the
  // delegate cache with the same config.
  const auto reply = plexus::cli::forward_to_daemon(*socket, request, std::cerr);
  if (!reply) return exec_full_plexus(request.stdin_data);
  std::cout << reply->stdout_data;
  std::cerr << reply->stderr_data;
  return reply->exit_code;
}
