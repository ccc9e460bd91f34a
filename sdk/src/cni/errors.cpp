#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>

namespace plexus::cni {

Error::Error(int code, std::string msg, std::string details)
    : std::runtime_error(details.empty() ? msg : msg + "; " + details),
      code_(code),
      msg_(std::move(msg)),
      details_(std::move(details)) {}

std::string Error::to_json() const {
  // types.Error field order: code, msg, details (omitempty).
  ordered_json out;
  out["code"] = code_;
  out["msg"] = msg_;
  if (!details_.empty()) out["details"] = details_;
  return go_marshal_indent(out);
}

std::optional<Error> Error::from_json(std::string_view bytes) {
  ordered_json value;
  try {
    value = parse_json(bytes);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!value.is_object()) return std::nullopt;
  const auto* code = find_key(value, "code");
  const auto* msg = find_key(value, "msg");
  if (code == nullptr || !code->is_number_integer()) return std::nullopt;
  const auto* details = find_key(value, "details");
  return Error(code->get<int>(), msg != nullptr && msg->is_string() ? msg->get<std::string>() : "",
               details != nullptr && details->is_string() ? details->get<std::string>() : "");
}

}  // namespace plexus::cni

#include <plexus/cni/protocol.hpp>

#include <fmt/format.h>

namespace plexus::cni {

Error reply_error(const Reply& reply) {
  if (!reply.stdout_data.empty()) {
    if (auto parsed = Error::from_json(reply.stdout_data)) return *parsed;
    return Error(ErrorCode::Internal,
                 fmt::format("netplugin failed but error parsing its diagnostic message \"{}\"", reply.stdout_data));
  }
  if (!reply.stderr_data.empty()) return Error(ErrorCode::Internal, fmt::format("netplugin failed: \"{}\"", reply.stderr_data));
  return Error(ErrorCode::Internal, fmt::format("netplugin failed with no error message: exit status {}", reply.exit_code));
}

}  // namespace plexus::cni
