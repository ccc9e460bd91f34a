#include <plexus/abi.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/router.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <optional>

namespace plexus::invoke {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<unsigned> abandoned_count{0};

// One in-process call. It runs on a thread of its own so that the caller can stop waiting at the
// deadline; the state is shared because an abandoned call outlives its caller's frame. It keeps
// the plugin's library loaded for as long as the plugin's code may run.
struct GuardedCall {
  GuardedCall(std::shared_ptr<const LoadedPlugin> plugin_in, cni::Request request_in, Invoker& nested_in,
              const PluginLog& log_in, const GuardedCall* parent_in)
      : plugin(std::move(plugin_in)), request(std::move(request_in)), nested(nested_in), log(log_in), parent(parent_in) {}

  bool abandoned() const {
    {
      std::lock_guard lock(mutex);
      if (abandoned_flag) return true;
    }
    return parent != nullptr && parent->abandoned();
  }

  const std::shared_ptr<const LoadedPlugin> plugin;
  const cni::Request request;
  // Owned by the Router, which lives as long as the engine: still there for an abandoned call.
  Invoker& nested;
  const PluginLog& log;
  const GuardedCall* parent;  // the call whose thread runs this nested one, or null

  mutable std::mutex mutex;
  std::condition_variable finished;
  bool done = false;            // guarded by mutex
  bool abandoned_flag = false;  // guarded by mutex
  cni::Reply reply;             // written by the worker before done
};

// The call this thread runs: a nested call (a plugin running its IPAM plugin through the host)
// runs inline on it, bounded by the outer call's deadline.
thread_local const GuardedCall* current_call = nullptr;

extern "C" int host_invoke(void* ctx, plexus_str type, const plexus_request_v1* request, plexus_reply_v1* reply) {
  const auto* call = static_cast<const GuardedCall*>(ctx);
  try {
    if (call->abandoned()) return 1;
    auto nested = abi::from_abi(*request);
    // A nested call never outlives the call it serves.
    if (nested.deadline == Clock::time_point{} || nested.deadline > call->request.deadline) {
      nested.deadline = call->request.deadline;
    }
    const auto answer = call->nested.invoke(abi::copy(type), nested);
    return abi::fill(reply, answer) ? 0 : 1;
  } catch (...) {
    return 1;
  }
}

extern "C" void host_log(void* ctx, plexus_log_level level, plexus_str message) {
  const auto* call = static_cast<const GuardedCall*>(ctx);
  if (call->abandoned() || !call->log) return;
  call->log(level, std::string_view(message.ptr != nullptr ? message.ptr : "", message.len));
}

cni::Reply failure(cni::ErrorCode code, std::string message) { return {1, cni::Error(code, std::move(message)).to_json(), {}}; }

cni::Reply run_plugin(const GuardedCall& call) {
  plexus_host_v1 host{};
  host.struct_size = sizeof(host);
  host.abi_major = PLEXUS_ABI_MAJOR;
  host.abi_minor = PLEXUS_ABI_MINOR;
  host.ctx = const_cast<GuardedCall*>(&call);
  host.invoke = &host_invoke;
  host.log = &host_log;
  const auto abi_request = abi::to_abi(call.request);
  plexus_reply_v1 reply{};
  reply.struct_size = sizeof(reply);
  if (call.plugin->info().invoke(&host, &abi_request, &reply) != 0) {
    return failure(cni::ErrorCode::Internal,
                       fmt::format("plugin {} ({}) could not answer", call.plugin->name(), call.plugin->file().string()));
  }
  return abi::take(reply);
}

// The cniVersion of a config, or "" when it has none (or is no JSON: the plugin says so itself).
std::string config_version(std::string_view config) {
  const auto json = nlohmann::json::parse(config, nullptr, false);
  if (!json.is_object()) return {};
  const auto version = json.find("cniVersion");
  return version != json.end() && version->is_string() ? version->get<std::string>() : std::string();
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

unsigned abandoned_calls() { return abandoned_count.load(); }

bool ExecInvoker::finds(std::string_view type, const cni::Request& request) const {
  try {
    exec::find_in_path(type, request.path, extra_dirs_);
    return true;
  } catch (const cni::Error&) {
    return false;
  }
}

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
  auto plugin = registry_.find(type);
  if (!plugin) return error_reply(999, fmt::format("no in-process plugin serves type \"{}\"", type));
  return invoke(std::move(plugin), request);
}

cni::Reply InProcessInvoker::invoke(std::shared_ptr<const LoadedPlugin> plugin, const cni::Request& request) {
  const auto started = Clock::now();
  auto bounded = request;
  if (bounded.deadline == Clock::time_point{}) bounded.deadline = started + kDefaultCallTimeout;
  const std::string name = plugin->name();
  auto call = std::make_shared<GuardedCall>(std::move(plugin), std::move(bounded), nested_, log_, current_call);

  if (current_call != nullptr) {  // nested: this thread is already guarded by the outer call
    const auto* outer = current_call;
    current_call = call.get();
    auto reply = run_plugin(*call);
    current_call = outer;
    return reply;
  }

  std::thread worker([call] {
    current_call = call.get();
    cni::Reply reply;
    try {
      reply = run_plugin(*call);
    } catch (const std::exception& e) {
      reply = failure(cni::ErrorCode::Internal, fmt::format("plugin {} failed: {}", call->plugin->name(), e.what()));
    }
    current_call = nullptr;
    std::lock_guard lock(call->mutex);
    call->reply = std::move(reply);
    call->done = true;
    call->finished.notify_all();
  });

  std::unique_lock lock(call->mutex);
  if (!call->finished.wait_until(lock, call->request.deadline, [&] { return call->done; })) {
    // The plugin keeps its thread (and its library) until it returns; its reply is dropped.
    call->abandoned_flag = true;
    lock.unlock();
    worker.detach();
    abandoned_count.fetch_add(1);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return failure(cni::ErrorCode::TryAgainLater,
                       fmt::format("in-process plugin {} did not answer {} within {} ms (the call's deadline); abandoned",
                                   name, call->request.command, waited.count()));
  }
  lock.unlock();
  // Joined, never detached, on the normal path: the worker has finished with the state and the
  // library before this frame (and perhaps the last reference to the library) goes away.
  worker.join();
  return std::move(call->reply);
}

bool Router::runs_in_process(std::string_view type) const {
  const auto mode = modes_.find(type);
  if (mode != modes_.end() && mode->second != DelegateMode::Auto) return mode->second == DelegateMode::InProcess;
  return registry_.find(type) != nullptr;
}

bool Router::prefers_exec(std::string_view type, const LoadedPlugin& plugin, const cni::Request& request) const {
  const auto mode = modes_.find(type);
  if (mode != modes_.end() && mode->second == DelegateMode::InProcess) return false;
  if (request.command == "VERSION") return false;
  const auto version = config_version(request.stdin_data);
  if (version.empty()) return false;
  const auto served = plugin.spec_versions();
  if (std::find(served.begin(), served.end(), version) != served.end()) return false;
  return exec_.finds(type, request);
}

cni::Reply Router::invoke(std::string_view type, const cni::Request& request) {
  if (auto refused = refuse_unless_plain(type)) return *refused;
  if (!runs_in_process(type)) return exec_.invoke(type, request);
  auto plugin = registry_.find(type);
  if (!plugin) return in_process_.invoke(type, request);  // pinned in-process, not loaded: its error
  // A loaded plugin that does not speak the config's version: the binary on CNI_PATH may.
  if (prefers_exec(type, *plugin, request)) return exec_.invoke(type, request);
  return in_process_.invoke(std::move(plugin), request);
}

}  // namespace plexus::invoke
