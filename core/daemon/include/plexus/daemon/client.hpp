// The shim's side of the socket: one HTTP/1.1 request to plexusd over its unix socket.
#pragma once

#include <plexus/cni/protocol.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plexus::daemon {

// The daemon could not be reached, or dropped the connection before answering.
// connected() tells the two apart: a call that was sent may have run.
class DaemonUnavailable : public std::runtime_error {
 public:
  DaemonUnavailable(std::string what, bool connected) : std::runtime_error(std::move(what)), connected_(connected) {}
  bool connected() const noexcept { return connected_; }

 private:
  bool connected_;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// Throws DaemonUnavailable on any socket or protocol failure.
HttpAnswer http_over_unix(const std::filesystem::path& socket, std::string_view method, std::string_view target,
                          std::string_view body = {});

// POST /cni. A 200 is the plugin's reply; a 4xx/5xx becomes exit code 1 with the daemon's CNI
// error (or a code 999 error wrapping its text).
cni::Reply call_daemon(const std::filesystem::path& socket, const cni::Request& request);

}  // namespace plexus::daemon
