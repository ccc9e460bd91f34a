#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/version.hpp>
#include <plexus/invoke/chain.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace plexus::invoke {
namespace {

std::string string_or_empty(const cni::ordered_json& object, std::string_view key) {
  const auto* value = cni::find_key(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// invoke.Args' CNI_ARGS: "K=V" pairs joined by ';'.
std::string cni_args_string(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out += ';';
    out += key + "=" + value;
  }
  return out;
}

// The plugin's error with libcni's wrapping in front; the code stays the plugin's own.
cni::Error wrapped(const cni::Error& error, std::string_view prefix) {
  return cni::Error(error.code(), fmt::format("{}: {}", prefix, error.msg()), error.details());
}

cni::Error failure_of(const cni::Reply& reply) { return cni::reply_error(reply); }

}  // namespace

Network Network::parse(std::string_view bytes) {
  Network network;
  network.bytes = std::string(bytes);
  cni::ordered_json value;
  try {
    value = cni::parse_json(bytes);
  } catch (const std::exception& e) {
    throw cni::Error(cni::ErrorCode::DecodingFailure, fmt::format("error parsing configuration: {}", e.what()));
  }
  network.list = cni::is_conflist(value) ? cni::parse_conflist(bytes) : cni::conflist_from_conf(cni::parse_netconf(bytes));
  return network;
}

std::string plugin_description(const cni::ordered_json& plugin) {
  auto out = fmt::format("type=\"{}\"", string_or_empty(plugin, "type"));
  if (const auto name = string_or_empty(plugin, "name"); !name.empty()) out += fmt::format(" name=\"{}\"", name);
  return out;
}

std::string ChainRunner::plugin_config(const cni::ConfList& list, std::size_t index, const std::optional<cni::Result>& prev,
                                       const RuntimeConf* runtime) {
  // libcni's InjectConf goes through a Go map: the keys come out sorted at every level.
  cni::json config = cni::json(list.plugins.at(index));
  config["name"] = list.name;
  config["cniVersion"] = list.cni_version;

  bool runtime_injected = false;
  if (runtime != nullptr) {
    cni::json runtime_config = cni::json::object();
    if (const auto* capabilities = cni::find_key(list.plugins.at(index), "capabilities");
        capabilities != nullptr && capabilities->is_object()) {
      for (const auto& [capability, supported] : capabilities->items()) {
        if (!supported.is_boolean() || !supported.get<bool>()) continue;
        if (runtime->capability_args.contains(capability)) {
          runtime_config[capability] = cni::json(runtime->capability_args[capability]);
        }
      }
    }
    if (!runtime_config.empty()) {
      config["runtimeConfig"] = runtime_config;
      runtime_injected = true;
    }
  }
  if (!prev) return cni::go_marshal(config);

  // prevResult, in the list's version. libcni marshals it as the Result type does (struct order
  // below 1.0.0) unless the runtimeConfig injection sent the whole config through a map again.
  const auto prev_json = cni::result_to_json(*prev, cni::effective_version(list.cni_version));
  if (runtime_injected) {
    config["prevResult"] = cni::json(prev_json);
    return cni::go_marshal(config);
  }
  config.erase("prevResult");
  cni::ordered_json out;
  bool placed = false;
  for (const auto& [key, value] : config.items()) {
    if (!placed && key > std::string("prevResult")) {
      out["prevResult"] = prev_json;
      placed = true;
    }
    out[key] = cni::ordered_json(value);
  }
  if (!placed) out["prevResult"] = prev_json;
  return cni::go_marshal(out);
}

cni::Reply ChainRunner::run(std::string_view command, const cni::ConfList& list, std::size_t index,
                            const std::string& config, const RuntimeConf& runtime) const {
  cni::Request request;
  request.command = std::string(command);
  request.container_id = runtime.container_id;
  request.netns = runtime.netns;
  request.ifname = runtime.ifname;
  request.args = cni_args_string(runtime.args);
  request.path = cni_path_;
  request.stdin_data = config;
  return invoker_.invoke(string_or_empty(list.plugins.at(index), "type"), request);
}

cni::Result ChainRunner::add(const Network& network, const RuntimeConf& runtime) const {
  const auto& list = network.list;
  const auto version = cni::effective_version(list.cni_version);
  std::optional<cni::Result> result;
  for (std::size_t i = 0; i < list.plugins.size(); ++i) {
    try {
      cni::validate_container_id(runtime.container_id);
      cni::validate_network_name(list.name);
      cni::validate_interface_name(runtime.ifname);
      const auto reply = run("ADD", list, i, plugin_config(list, i, result, &runtime), runtime);
      if (reply.exit_code != 0) throw failure_of(reply);
      // A result without cniVersion is read as the config's version (libcni's fixupResultVersion).
      const auto value = cni::parse_json(reply.stdout_data);
      result = cni::find_key(value, "cniVersion") != nullptr ? cni::parse_result(value) : cni::parse_result(value, version);
    } catch (const cni::Error& e) {
      throw wrapped(e, fmt::format("plugin {} failed (add)", plugin_description(list.plugins[i])));
    } catch (const std::exception& e) {
      throw cni::Error(cni::ErrorCode::Internal,
                       fmt::format("plugin {} failed (add): {}", plugin_description(list.plugins[i]), e.what()));
    }
  }

  CacheEntry entry;
  entry.container_id = runtime.container_id;
  entry.config = network.bytes;
  entry.ifname = runtime.ifname;
  entry.network_name = list.name;
  entry.netns = runtime.netns;
  entry.cni_args = runtime.args;
  entry.capability_args = runtime.capability_args;
  try {
    entry.result = cni::result_to_json(*result, result->cni_version);
    cache_.write(entry);
  } catch (const cni::Error& e) {
    throw wrapped(e, fmt::format("failed to set network \"{}\" cached result", list.name));
  }
  return *result;
}

std::optional<cni::Result> ChainRunner::cached_result(const cni::ConfList& list, const RuntimeConf& runtime) const {
  const auto value = cache_.read_result(list.name, runtime.container_id, runtime.ifname);
  if (!value) return std::nullopt;
  auto result = cni::parse_result(*value);
  const auto version = cni::effective_version(list.cni_version);
  try {
    (void)cni::result_to_json(result, version);  // what each plugin will get must exist
  } catch (const cni::Error& e) {
    throw wrapped(e, fmt::format("failed to convert cached result to config version \"{}\"", version));
  }
  return result;
}

void ChainRunner::del(const Network& network, const RuntimeConf& runtime) const {
  const auto& list = network.list;
  std::optional<cni::Result> cached;
  if (cni::version_at_least(cni::effective_version(list.cni_version), "0.4.0")) {
    try {
      cached = cached_result(list, runtime);
    } catch (const cni::Error&) {
      // An unreadable entry must not block DEL: libcni drops it and deletes without prevResult.
      try {
        cache_.remove(list.name, runtime.container_id, runtime.ifname);
      } catch (const cni::Error&) {
      }
    }
  }
  for (std::size_t i = list.plugins.size(); i-- > 0;) {
    const auto reply = run("DEL", list, i, plugin_config(list, i, cached, &runtime), runtime);
    if (reply.exit_code != 0) {
      throw wrapped(failure_of(reply), fmt::format("plugin {} failed (delete)", plugin_description(list.plugins[i])));
    }
  }
  // libcni keeps the entry of a pre-0.4.0 list here; nothing reads it again, so it goes too.
  try {
    cache_.remove(list.name, runtime.container_id, runtime.ifname);
  } catch (const cni::Error&) {
    // No path for an entry (an empty name part): there is nothing to remove.
  }
}

void ChainRunner::check(const Network& network, const RuntimeConf& runtime) const {
  const auto& list = network.list;
  if (!cni::version_at_least(cni::effective_version(list.cni_version), "0.4.0")) {
    throw cni::Error(cni::ErrorCode::IncompatibleVersion,
                     fmt::format("configuration version \"{}\" does not support the CHECK command", list.cni_version));
  }
  if (list.disable_check) return;
  std::optional<cni::Result> cached;
  try {
    cached = cached_result(list, runtime);
  } catch (const cni::Error& e) {
    throw wrapped(e, fmt::format("failed to get network \"{}\" cached result", list.name));
  }
  for (std::size_t i = 0; i < list.plugins.size(); ++i) {
    const auto reply = run("CHECK", list, i, plugin_config(list, i, cached, &runtime), runtime);
    if (reply.exit_code != 0) throw failure_of(reply);
  }
}

void ChainRunner::status(const Network& network) const {
  const auto& list = network.list;
  if (!cni::version_at_least(cni::effective_version(list.cni_version), "1.1.0")) return;
  const RuntimeConf none;
  for (std::size_t i = 0; i < list.plugins.size(); ++i) {
    const auto reply = run("STATUS", list, i, plugin_config(list, i, std::nullopt, nullptr), none);
    if (reply.exit_code != 0) throw failure_of(reply);
  }
}

void ChainRunner::gc(const Network& network, const std::optional<std::vector<GcAttachment>>& valid) const {
  const auto& list = network.list;
  if (list.disable_gc) return;
  std::vector<std::string> errors;
  for (const auto& entry : cache_.list()) {
    if (entry.network_name != list.name) continue;
    const bool still_valid = valid && std::any_of(valid->begin(), valid->end(), [&](const GcAttachment& a) {
                               return a.container_id == entry.container_id && a.ifname == entry.ifname;
                             });
    if (still_valid) continue;
    RuntimeConf stale;
    stale.container_id = entry.container_id;
    stale.netns = entry.netns;
    stale.ifname = entry.ifname;
    stale.args = entry.cni_args;
    stale.capability_args = entry.capability_args.is_object() ? entry.capability_args : cni::ordered_json::object();
    try {
      del(network, stale);
    } catch (const cni::Error& e) {
      errors.push_back(fmt::format("failed to delete stale attachment {} {}: {}", stale.container_id, stale.ifname, e.what()));
    }
  }

  if (cni::version_at_least(cni::effective_version(list.cni_version), "1.1.0")) {
    const RuntimeConf none;
    for (std::size_t i = 0; i < list.plugins.size(); ++i) {
      cni::json config = cni::json::parse(plugin_config(list, i, std::nullopt, nullptr));
      if (valid) {
        auto attachments = cni::json::array();
        for (const auto& a : *valid) attachments.push_back({{"containerID", a.container_id}, {"ifname", a.ifname}});
        config["cni.dev/valid-attachments"] = attachments;
      }
      const auto reply = run("GC", list, i, cni::go_marshal(config), none);
      if (reply.exit_code != 0) {
        errors.push_back(fmt::format("failed to GC plugin {}: {}", string_or_empty(list.plugins[i], "type"),
                                     failure_of(reply).what()));
      }
    }
  }
  if (!errors.empty()) {
    std::string joined;
    for (const auto& error : errors) joined += (joined.empty() ? "" : "\n") + error;
    throw cni::Error(cni::ErrorCode::Internal, joined);
  }
}

}  // namespace plexus::invoke
