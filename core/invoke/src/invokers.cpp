#include <plexus/abi.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/router.hpp>

#include <fmt/format.h>

#include <optional>

namespace plexus::invoke {
namespace {

// What an in-process plugin's host_v1 points back at during one call.
struct HostContext {
  Invoker& nested;
  const PluginLog& log;
};

extern "C" int host_invoke(void* ctx, plexus_str type, const plexus_request_v1* request, plexus_reply_v1* reply) {
  auto* host = static_cast<HostContext*>(ctx);
  try {
    const auto answer = host->nested.invoke(abi::copy(type), abi::from_abi(*request));
    return abi::fill(reply, answer) ? 0 : 1;
  } catch (...) {
    return 1;
  }
}

extern "C" void host_log(void* ctx, plexus_log_level level, plexus_str message) {
  const auto* host = static_cast<HostContext*>(ctx);
  if (host->log) host->log(level, std::string_view(message.ptr != nullptr ? message.ptr : "", message.len));
}

}  // namespace

cni::Reply error_reply(int code, std::string_view msg) { return {1, cni::Error(code, std::string(msg)).to_json(), {}}; }

namespace {

// A type that is no plain file name is refused before either way looks it up (code 7).
std::optional<cni::Reply> refuse_unless_plain(std::string_view type) {
  if (exec::is_plain_plugin_name(type)) return std::nullopt;
  const cni::Error error(cni::ErrorCode::InvalidNetworkConfig,
                         fmt::format("invalid plugin name {}: a plugin type is a plain file name (no '/', '..' or NUL)",
                                     cni::go_marshal(cni::ordered_json(std::string(type)))));
  return cni::Reply{1, error.to_json(), {}};
}

}  // namespace

cni::Reply ExecInvoker::invoke(std::string_view type, const cni::Request& request) {
  std::filesystem::path binary;
  try {
    binary = exec::find_in_path(type, request.path, extra_dirs_);
  } catch (const cni::Error& e) {
    return {1, e.to_json(), {}};
  }
  return exec::run(binary, request, options_);
}

cni::Reply InProcessInvoker::invoke(std::string_view type, const cni::Request& request) {
  if (auto refused = refuse_unless_plain(type)) return *refused;
  const auto plugin = registry_.find(type);
  if (!plugin) return error_reply(999, fmt::format("no in-process plugin serves type \"{}\"", type));
  return invoke(*plugin, request);
}

cni::Reply InProcessInvoker::invoke(const LoadedPlugin& plugin, const cni::Request& request) {
  HostContext context{nested_, log_};
  plexus_host_v1 host{};
  host.struct_size = sizeof(host);
  host.abi_major = PLEXUS_ABI_MAJOR;
  host.abi_minor = PLEXUS_ABI_MINOR;
  host.ctx = &context;
  host.invoke = &host_invoke;
  host.log = &host_log;
  const auto abi_request = abi::to_abi(request);
  plexus_reply_v1 reply{};
  reply.struct_size = sizeof(reply);
  if (plugin.info().invoke(&host, &abi_request, &reply) != 0) {
    return error_reply(999, fmt::format("plugin {} ({}) could not answer", plugin.name(), plugin.file().string()));
  }
  return abi::take(reply);
}

bool Router::runs_in_process(std::string_view type) const {
  const auto mode = modes_.find(type);
  if (mode != modes_.end() && mode->second != DelegateMode::Auto) return mode->second == DelegateMode::InProcess;
  return registry_.find(type) != nullptr;
}

cni::Reply Router::invoke(std::string_view type, const cni::Request& request) {
  if (auto refused = refuse_unless_plain(type)) return *refused;
  return runs_in_process(type) ? in_process_.invoke(type, request) : exec_.invoke(type, request);
}

}  // namespace plexus::invoke
