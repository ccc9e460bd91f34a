#include <plexus/meta/delegate.hpp>

#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

namespace plexus::meta {
namespace {

using cni::ordered_json;

constexpr std::array<std::string_view, 4> kPodKeys = {"K8S_POD_NAMESPACE", "K8S_POD_NAME",
                                                      "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"};

bool is_own_key(std::string_view key) {
  if (key == "IgnoreUnknown" || key == "MAC" || key == "IP") return true;
  for (const auto pod_key : kPodKeys) {
    if (key == pod_key) return true;
  }
  return false;
}

// Applies `edit` to the conf, or to every plugin of a conflist.
template <typename Edit>
ordered_json for_each_plugin(ordered_json config, Edit edit) {
  if (!cni::is_conflist(config)) return edit(std::move(config));
  const auto* plugins = cni::find_key(config, "plugins");  // the key as Go would match it
  for (auto& item : config.items()) {
    if (&item.value() != plugins || !item.value().is_array()) continue;
    for (auto& plugin : item.value()) plugin = edit(std::move(plugin));
  }
  return config;
}

}  // namespace

std::string Delegate::type() const {
  if (conflist) return {};
  const auto object = cni::parse_json(config);
  const auto* type = cni::find_key(object, "type");
  return type != nullptr && type->is_string() ? type->get<std::string>() : std::string();
}

std::string build_cni_args(const cni::CniArgs& runtime_args, const NetworkSelection* selection) {
  std::string out = "IgnoreUnknown=true";
  for (const auto key : kPodKeys) out += fmt::format(";{}={}", key, runtime_args.get(key).value_or(""));
  for (const auto& [key, value] : runtime_args.pairs()) {
    if (!is_own_key(key)) out += fmt::format(";{}={}", key, value);
  }
  if (selection != nullptr && !selection->mac.empty()) out += fmt::format(";MAC={}", selection->mac);
  if (selection != nullptr && !selection->ips.empty()) out += fmt::format(";IP={}", fmt::join(selection->ips, ","));
  return out;
}

ordered_json capability_args(const ordered_json& base, const NetworkSelection* selection) {
  ordered_json args = base.is_object() ? base : ordered_json::object();
  if (selection == nullptr) return args;
  if (!selection->ips.empty()) args["ips"] = selection->ips;
  if (!selection->mac.empty()) args["mac"] = selection->mac;
  if (!selection->infiniband_guid.empty()) args["infinibandGUID"] = selection->infiniband_guid;
  if (selection->port_mappings) args["portMappings"] = *selection->port_mappings;
  if (selection->bandwidth) args["bandwidth"] = *selection->bandwidth;
  if (!selection->device_id.empty()) args["deviceID"] = selection->device_id;
  return args;
}

ordered_json inject_runtime_config(ordered_json plugin, const ordered_json& capability_args) {
  const auto* capabilities = cni::find_key(plugin, "capabilities");
  if (capabilities == nullptr || !capabilities->is_object()) return plugin;
  auto runtime_config = ordered_json::object();
  for (const auto& [name, enabled] : capabilities->items()) {
    if (!enabled.is_boolean() || !enabled.get<bool>()) continue;
    if (const auto it = capability_args.find(name); it != capability_args.end()) runtime_config[name] = *it;
  }
  if (runtime_config.empty()) return plugin;
  plugin["runtimeConfig"] = std::move(runtime_config);
  return plugin;
}

ordered_json merge_cni_args(ordered_json plugin, const ordered_json& cni_args) {
  auto& args = plugin["args"];
  if (!args.is_object()) args = ordered_json::object();
  auto& cni = args["cni"];
  if (!cni.is_object()) cni = ordered_json::object();
  for (const auto& [key, value] : cni_args.items()) cni[key] = value;
  return plugin;
}

std::vector<std::string> interface_names(const std::vector<ResolvedNetwork>& networks, const DelegateContext& context) {
  std::vector<std::string> names;
  for (std::size_t index = 0; index < networks.size(); ++index) {
    const auto& network = networks[index];
    if (network.selection && !network.selection->interface.empty()) {
      names.push_back(network.selection->interface);
    } else {
      names.push_back(network.cluster_network ? context.container_ifname : fmt::format("net{}", index));
    }
    for (std::size_t other = 0; other < index; ++other) {
      if (names[other] != names[index]) continue;
      // A second ADD into the same name would fail, and its rollback DEL remove the first link.
      throw cni::Error(cni::ErrorCode::InvalidNetworkConfig,
                       fmt::format("network \"{}\" asks for interface \"{}\", which network \"{}\" already gets in this pod",
                                   network.status_name, names[index], networks[other].status_name));
    }
  }
  return names;
}

std::vector<Delegate> build_delegates(const std::vector<ResolvedNetwork>& networks, const DelegateContext& context) {
  const auto ifnames = interface_names(networks, context);
  std::vector<Delegate> delegates;
  for (std::size_t index = 0; index < networks.size(); ++index) {
    const auto& network = networks[index];
    const NetworkSelection* selection = network.selection ? &*network.selection : nullptr;

    Delegate delegate;
    delegate.network_name = network.status_name;
    delegate.conflist = network.conflist;
    delegate.cluster_network = network.cluster_network;
    delegate.ifname = ifnames[index];
    delegate.cni_args = build_cni_args(context.runtime_args, selection);

    const auto capabilities = capability_args(context.runtime_config, selection);
    auto config = cni::parse_json(network.config);
    const auto original = config;
    config = for_each_plugin(std::move(config), [&](ordered_json plugin) {
      plugin = inject_runtime_config(std::move(plugin), capabilities);
      if (selection != nullptr && selection->cni_args) plugin = merge_cni_args(std::move(plugin), *selection->cni_args);
      return plugin;
    });
    // Unchanged configs keep their exact bytes.
    delegate.config = config == original ? network.config : cni::go_marshal(config);

    if (selection != nullptr) {
      delegate.ips = selection->ips;
      delegate.mac = selection->mac;
      delegate.default_route = selection->default_route;
      delegate.device_id = selection->device_id;
    }
    delegate.resource_name = network.resource_name;
    delegates.push_back(std::move(delegate));
  }
  return delegates;
}

}  // namespace plexus::meta
