// static: an IPAM plugin that hands out exactly the addresses it is told to, from its config,
// CNI_ARGS, args.cni.ips or runtimeConfig.ips. Behaves as the reference plugin
// (containernetworking/plugins plugins/ipam/static, Debian's 1.1.1): same precedence, same error
// messages, all of them code 999 as plain Go errors are. See README.md for the keys.
#include <plexus/cni/go_decode.hpp>
#include <plexus/plugin.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
using cni::ordered_json;

// ---- config -------------------------------------------------------------------------------
struct StaticAddress {
  cni::IPNet address;  // host bits kept
  std::optional<cni::IPAddress> gateway;
};

struct StaticConfig {
  std::vector<StaticAddress> addresses;
  std::vector<cni::Route> routes;
  cni::DNS dns;
};

// ---- parse / validate ---------------------------------------------------------------------
// Go's decoder wording, with the reference's code 999 for every config error.
const cni::GoDecoder kGo{static_cast<int>(cni::ErrorCode::Internal)};

[[noreturn]] void fail(std::string message) { kGo.fail(std::move(message)); }

std::vector<std::string> string_list_member(const ordered_json& object, std::string_view key, std::string_view field) {
  std::vector<std::string> out;
  const auto* value = kGo.member(object, key);
  if (value == nullptr) return out;
  if (!value->is_array()) kGo.type_error(*value, field, "[]string");
  for (const auto& item : *value) {
    if (item.is_null()) {
      out.emplace_back();
      continue;
    }
    if (!item.is_string()) kGo.type_error(item, field, "string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// types.Route: dst is a CIDR ("invalid CIDR address: x"), gw an IP. The 1.1.0 fields are kept
// here and dropped when printing for an older config (the reference 1.1.1 does not know them).
std::vector<cni::Route> parse_routes(const ordered_json& ipam) {
  std::vector<cni::Route> routes;
  const auto* value = kGo.member(ipam, "routes");
  if (value == nullptr) return routes;
  if (!value->is_array()) kGo.type_error(*value, "IPAMConfig.ipam.routes", "[]*types.Route");
  for (const auto& item : *value) {
    if (!item.is_object()) kGo.type_error(item, "IPAMConfig.ipam.routes", "types.Route");
    cni::Route route;
    const auto dst = kGo.string(item, "dst", "route.dst");
    auto parsed = cni::IPNet::parse(dst);
    if (!parsed) fail(fmt::format("invalid CIDR address: {}", dst));
    route.dst = *parsed;
    route.gw = kGo.ip(item, "gw", "route.gw");
    for (auto [key, slot] : {std::pair{"mtu", &route.mtu}, std::pair{"advmss", &route.advmss},
                             std::pair{"priority", &route.priority}, std::pair{"table", &route.table},
                             std::pair{"scope", &route.scope}}) {
      const auto* number = kGo.member(item, key);
      if (number == nullptr) continue;
      if (!number->is_number_integer()) kGo.type_error(*number, fmt::format("Route.{}", key), "int");
      *slot = number->get<int>();
    }
    routes.push_back(route);
  }
  return routes;
}

StaticAddress parse_cidr_or(std::string_view text, std::string_view message_format) {
  auto parsed = cni::IPNet::parse(text);
  if (!parsed) fail(fmt::format(fmt::runtime(message_format), text));
  return StaticAddress{*parsed, std::nullopt};
}

std::string trim(std::string_view text) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> items;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    items.push_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

// The reference's LoadIPAMConfig, step by step: config addresses, plus CNI_ARGS IP (GATEWAY set on
// those of them whose subnet holds it), replaced by args.cni.ips, replaced by runtimeConfig.ips.
StaticConfig load_config(const Call& call) {
  const auto& conf = call.conf();
  const auto* ipam = conf.find("ipam");
  if (ipam != nullptr && !ipam->is_object()) kGo.type_error(*ipam, "Net.ipam", "main.IPAMConfig");

  // Everything json.Unmarshal would reject comes first, as in the reference.
  struct Pending {
    std::string text;                      // config "address", parsed last
    std::optional<StaticAddress> parsed;   // CNI_ARGS / args / runtimeConfig entries
    std::optional<cni::IPAddress> gateway; // config "gateway"
  };
  std::vector<Pending> pending;
  StaticConfig config;
  if (ipam != nullptr) {
    if (const auto* addresses = kGo.member(*ipam, "addresses")) {
      if (!addresses->is_array()) kGo.type_error(*addresses, "IPAMConfig.ipam.addresses", "[]main.Address");
      for (const auto& item : *addresses) {
        if (!item.is_object()) kGo.type_error(item, "IPAMConfig.ipam.addresses", "main.Address");
        pending.push_back({kGo.string(item, "address", "Address.ipam.addresses.address"), std::nullopt,
                           kGo.ip(item, "gateway", "Address.ipam.addresses.gateway")});
      }
    }
    config.routes = parse_routes(*ipam);
    if (const auto* dns = kGo.member(*ipam, "dns")) config.dns = cni::parse_dns(*dns);
  }
  const auto runtime_ips = string_list_member(conf.runtime_config(), "ips", "Net.runtimeConfig.ips");
  const auto args_object = conf.args();  // owned here: kGo.member() points into it
  const auto* cni_args = kGo.member(args_object, "cni");
  const auto args_ips = cni_args != nullptr ? string_list_member(*cni_args, "ips", "IPAMArgs.args.cni.ips")
                                            : std::vector<std::string>{};

  if (ipam == nullptr) fail("IPAM config missing 'ipam' key");

  if (!call.request().args.empty()) {
    const auto args = call.args();
    args.require_known({"IP", "GATEWAY"});
    if (auto ips = args.get("IP"); ips && !ips->empty()) {
      for (const auto item : split_commas(*ips)) {
        const auto text = trim(item);
        pending.push_back({text, parse_cidr_or(text, "the 'ip' field is expected to be in CIDR notation, got: '{}'"), std::nullopt});
      }
    }
    if (auto gateways = args.get("GATEWAY"); gateways && !gateways->empty()) {
      for (const auto item : split_commas(*gateways)) {
        const auto gateway = cni::IPAddress::parse(trim(item));
        if (!gateway) fail(fmt::format("invalid gateway address: {}", item));
        // Only addresses parsed so far (those from CNI_ARGS) can hold it: the reference parses
        // the config's own addresses later, so their zero subnet contains nothing.
        for (auto& entry : pending) {
          if (entry.parsed && entry.parsed->address.contains(*gateway)) entry.parsed->gateway = gateway;
        }
      }
    }
  }

  const auto replace_with = [&](const std::vector<std::string>& ips) {
    pending.clear();
    for (const auto& text : ips) {
      pending.push_back({text, parse_cidr_or(text, "an entry in the 'ips' field is NOT in CIDR notation, got: '{}'"), std::nullopt});
    }
  };
  if (!args_ips.empty()) replace_with(args_ips);
  if (!runtime_ips.empty()) replace_with(runtime_ips);

  int v4_count = 0;
  int v6_count = 0;
  for (auto& entry : pending) {
    if (!entry.parsed) {
      entry.parsed = parse_cidr_or(entry.text, "the 'address' field is expected to be in CIDR notation, got: '{}'");
      entry.parsed->gateway = entry.gateway;
    }
    (entry.parsed->address.ip().is_v4() ? v4_count : v6_count)++;
    config.addresses.push_back(*entry.parsed);
  }
  // CNI 0.2.0 and below carry one address per family; the message prints cniVersion as written.
  if ((v4_count > 1 || v6_count > 1) &&
      (conf.cni_version.empty() || cni::compare_versions(conf.cni_version, "0.3.0") < 0)) {
    fail(fmt::format("CNI version {} does not support more than 1 address per family", conf.cni_version));
  }
  return config;
}

// ---- commands -----------------------------------------------------------------------------
class Static final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "static";
  static constexpr const char* kVersion = "1.1.1";

  cni::Result add(const Call& call) override {
    auto config = load_config(call);
    cni::Result result;
    result.cni_version = call.version();
    for (const auto& address : config.addresses) result.ips.push_back({address.address, address.gateway, std::nullopt});
    result.routes = config.routes;
    if (cni::compare_versions(call.version(), "1.1.0") < 0) {
      // types.Route before 1.1.0 has only dst and gw.
      for (auto& route : result.routes) route = cni::Route{route.dst, route.gw, {}, {}, {}, {}, {}};
    }
    result.dns = config.dns;
    return result;
  }

  void del(const Call& /*call*/) override {}  // nothing was allocated

  // Every configured address that prevResult holds must carry the configured gateway.
  void check(const Call& call) override {
    const auto config = load_config(call);
    const auto prev = call.conf().prev_result();
    if (!prev) fail("Required prevResult missing");
    const auto result = cni::parse_result(*prev, call.version());
    for (const auto& expected : config.addresses) {
      for (const auto& ip : result.ips) {
        if (ip.address.ip() != expected.address.ip()) continue;
        if (!expected.gateway || (ip.gateway && *ip.gateway == *expected.gateway)) break;
        fail(fmt::format("static: Failed to match addr {} on interface {}", ip.address.ip().to_string(), call.ifname()));
      }
    }
  }
};

}  // namespace

PLEXUS_PLUGIN(Static)
