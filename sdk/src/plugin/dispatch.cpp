// skel's pluginMain, as a function of values: the same checks in the same order, so a plugin run
// in-process and the same plugin exec'd give identical bytes.
#include <plexus/cni/env.hpp>
#include <plexus/plugin.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace plexus {
namespace {

bool override_set(std::string_view value) {
  std::string upper(value);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper == "1" || upper == "TRUE";
}

// CNI_NETNS naming the plugin's own namespace would configure the host: refuse it before acting
// (the reference checks after, when the harm is done). A path that does not exist is DEL's case.
void check_not_own_netns(const cni::Request& request) {
  if (request.netns.empty() || override_set(request.netns_override)) return;
  struct stat target {};
  struct stat own {};
  if (::stat(request.netns.c_str(), &target) != 0 || ::stat("/proc/self/ns/net", &own) != 0) return;
  if (target.st_dev == own.st_dev && target.st_ino == own.st_ino) {
    throw cni::Error(cni::ErrorCode::InvalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same");
  }
}

// The version the config asks for; only the field's type can fail here.
std::string config_version(std::string_view stdin_data) {
  const auto value = cni::parse_json(stdin_data);
  const auto* version = cni::find_key(value, "cniVersion");
  if (version != nullptr && !version->is_string()) {
    throw cni::Error(cni::ErrorCode::DecodingFailure,
                     "decoding version from network config: json: cannot unmarshal into Go struct field .cniVersion of type string");
  }
  return cni::effective_version(version != nullptr ? version->get<std::string>() : std::string());
}

// CHECK, GC and STATUS: the config must be new enough, and the plugin must speak a version at
// least as new as the config's.
void require_versioned_command(std::string_view command, std::string_view version, std::span<const std::string_view> supported) {
  cni::require_command_allowed(command, version);
  const bool any = std::any_of(supported.begin(), supported.end(),
                               [&](std::string_view v) { return cni::compare_versions(v, version) >= 0; });
  if (!any) throw cni::Error(cni::ErrorCode::IncompatibleVersion, fmt::format("plugin version does not allow {}", command));
}

cni::Reply answer(Plugin& plugin, const PluginIdentity& identity, Host& host, const cni::Request& request) {
  cni::validate_request_env(request);
  const auto& command = request.command;
  if (command == "VERSION") return {0, cni::version_reply(identity.spec_versions), {}};

  cni::validate_stdin_config(request.stdin_data);
  if (command != "GC" && command != "STATUS") {
    cni::validate_container_id(request.container_id);
    cni::validate_interface_name(request.ifname);
  }
  if (!cni::is_known_command(command)) {
    throw cni::Error(cni::ErrorCode::InvalidEnvironment, fmt::format("unknown CNI_COMMAND: {}", command));
  }
  const auto version = config_version(request.stdin_data);
  if (command == "CHECK" || command == "GC" || command == "STATUS") {
    require_versioned_command(command, version, identity.spec_versions);
  }
  cni::require_supported(version, identity.spec_versions);
  if (command == "ADD" || command == "DEL") check_not_own_netns(request);

  const auto conf = cni::parse_netconf(request.stdin_data);
  const Call call(request, conf, host);
  if (command == "ADD") {
    const auto result = plugin.add(call);
    try {
      return {0, cni::print_result(result, call.version()), {}};
    } catch (const cni::Error&) {
      // The result cannot be said in the config's version (e.g. no IP at 0.2.0): undo the ADD so a
      // failed call leaves nothing behind, then report why.
      try {
        plugin.del(call);
      } catch (const std::exception& e) {
        host.log(LogLevel::warn, fmt::format("rollback after unprintable result failed: {}", e.what()));
      }
      throw;
    }
  }
  if (command == "DEL") {
    plugin.del(call);
  } else if (command == "CHECK") {
    plugin.check(call);
  } else if (command == "STATUS") {
    plugin.status(call);
  } else {
    plugin.gc(call);
  }
  return {0, {}, {}};
}

}  // namespace

cni::Reply dispatch(Plugin& plugin, const PluginIdentity& identity, Host& host, const cni::Request& request) {
  try {
    return answer(plugin, identity, host, request);
  } catch (const cni::Error& e) {
    return {1, e.to_json(), {}};
  } catch (const std::exception& e) {
    return {1, cni::Error(cni::ErrorCode::Internal, e.what()).to_json(), {}};
  } catch (...) {
    return {1, cni::Error(cni::ErrorCode::Internal, "unknown failure").to_json(), {}};
  }
}

cni::Reply Call::run_delegate(std::string_view command, std::string_view type, std::string_view config) const {
  if (type.empty()) throw cni::Error(cni::ErrorCode::Internal, "no plugin name provided");
  cni::Request delegated = request_;
  delegated.command = std::string(command);
  if (!config.empty()) delegated.stdin_data = std::string(config);
  auto reply = host_.invoke(type, delegated);
  if (reply.exit_code != 0) throw cni::reply_error(reply);
  return reply;
}

cni::Result Call::delegate_add(std::string_view type, std::string_view config) const {
  return cni::parse_result(cni::parse_json(run_delegate("ADD", type, config).stdout_data), version_);
}

void Call::delegate(std::string_view command, std::string_view type, std::string_view config) const {
  run_delegate(command, type, config);
}

namespace detail {

cni::Reply AbiHost::invoke(std::string_view type, const cni::Request& request) {
  if (host_ == nullptr || host_->invoke == nullptr) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to find plugin \"{}\": the host offers no delegation", type));
  }
  const auto abi_request = abi::to_abi(request);
  plexus_reply_v1 reply{};
  reply.struct_size = sizeof(reply);
  if (host_->invoke(host_->ctx, abi::view(type), &abi_request, &reply) != 0) {
    throw cni::Error(cni::ErrorCode::Internal, fmt::format("failed to invoke plugin \"{}\"", type));
  }
  return abi::take(reply);
}

void AbiHost::log(LogLevel level, std::string_view message) {
  if (host_ != nullptr && host_->log != nullptr) {
    host_->log(host_->ctx, static_cast<plexus_log_level>(level), abi::view(message));
  }
}

}  // namespace detail
}  // namespace plexus
