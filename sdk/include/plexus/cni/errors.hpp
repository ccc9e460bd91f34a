// The CNI error model: spec codes, and the JSON a plugin prints on stdout when it fails.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plexus::cni {

enum class ErrorCode : int {
  IncompatibleVersion = 1,
  UnsupportedField = 2,
  UnknownContainer = 3,
  InvalidEnvironment = 4,
  IoFailure = 5,
  DecodingFailure = 6,
  InvalidNetworkConfig = 7,
  InvalidNetns = 8,
  TryAgainLater = 11,
  PluginNotAvailable = 50,
  LimitedConnectivity = 51,
  Internal = 999,
};

// A CNI error. Anything thrown out of a plugin that is not an Error becomes code 999 with its
// what() as msg, as a plain Go error does in skel.
class Error : public std::runtime_error {
 public:
  Error(int code, std::string msg, std::string details = {});
  Error(ErrorCode code, std::string msg, std::string details = {})
      : Error(static_cast<int>(code), std::move(msg), std::move(details)) {}

  int code() const noexcept { return code_; }
  const std::string& msg() const noexcept { return msg_; }
  const std::string& details() const noexcept { return details_; }

  // {"code":N,"msg":...,"details":...} with 4-space indent, details left out when empty, no
  // cniVersion and no trailing newline: byte-for-byte what skel prints.
  std::string to_json() const;

  // Parses an error reply (as a delegate printed it). Nullopt when the bytes are no CNI error.
  static std::optional<Error> from_json(std::string_view bytes);

 private:
  int code_;
  std::string msg_;
  std::string details_;
};

}  // namespace plexus::cni

namespace plexus::cni {

struct Reply;

// The error a failed plugin reported, the way libcni reads it: stdout parsed as a CNI error, else
// "netplugin failed: <stderr>" (code 999 here; libcni leaves it 0, which no caller can act on).
Error reply_error(const Reply& reply);

}  // namespace plexus::cni
