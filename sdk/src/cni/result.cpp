#include <plexus/cni/errors.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/cni/version.hpp>

#include <fmt/format.h>

namespace plexus::cni {
namespace {

[[noreturn]] void malformed(std::string_view what) {
  throw Error(ErrorCode::DecodingFailure, fmt::format("failed to parse result: {}", what));
}

std::string string_field(const ordered_json& object, std::string_view key) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return {};
  if (!value->is_string()) malformed(fmt::format("\"{}\" must be a string", key));
  return value->get<std::string>();
}

std::optional<int> int_field(const ordered_json& object, std::string_view key) {
  const auto* value = find_key(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) malformed(fmt::format("\"{}\" must be an integer", key));
  return value->get<int>();
}

std::vector<std::string> strings_field(const ordered_json& object, std::string_view key) {
  const auto* value = find_key(object, key);
  std::vector<std::string> out;
  if (value == nullptr) return out;
  if (!value->is_array()) malformed(fmt::format("\"{}\" must be a list of strings", key));
  for (const auto& item : *value) {
    if (!item.is_string()) malformed(fmt::format("\"{}\" must be a list of strings", key));
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<IPAddress> ip_field(const ordered_json& object, std::string_view key) {
  const auto text = string_field(object, key);
  if (text.empty()) return std::nullopt;
  auto ip = IPAddress::parse(text);
  if (!ip) malformed(fmt::format("invalid IP address: {}", text));
  return ip;
}

IPNet ipnet_field(const ordered_json& object, std::string_view key) {
  const auto text = string_field(object, key);
  auto net = IPNet::parse(text);
  if (!net) malformed(fmt::format("invalid CIDR address: {}", text));
  return *net;
}

const ordered_json& array_or_empty(const ordered_json& object, std::string_view key) {
  static const ordered_json kEmpty = ordered_json::array();
  const auto* value = find_key(object, key);
  if (value == nullptr) return kEmpty;
  if (!value->is_array()) malformed(fmt::format("\"{}\" must be a list", key));
  return *value;
}

Route parse_route(const ordered_json& value) {
  if (!value.is_object()) malformed("a route must be an object");
  Route route;
  route.dst = ipnet_field(value, "dst");
  route.gw = ip_field(value, "gw");
  route.mtu = int_field(value, "mtu");
  route.advmss = int_field(value, "advmss");
  route.priority = int_field(value, "priority");
  route.table = int_field(value, "table");
  route.scope = int_field(value, "scope");
  return route;
}

// The union of every version's fields: interfaces/ips/routes (0.3.0+) and ip4/ip6 (0.1.0/0.2.0).
Result parse_any(const ordered_json& value, std::string version) {
  if (!value.is_object()) malformed("a result must be a JSON object");
  Result result;
  result.cni_version = std::move(version);
  for (const auto& item : array_or_empty(value, "interfaces")) {
    if (!item.is_object()) malformed("an interface must be an object");
    Interface iface;
    iface.name = string_field(item, "name");
    iface.mac = string_field(item, "mac");
    iface.mtu = int_field(item, "mtu");
    iface.sandbox = string_field(item, "sandbox");
    iface.socket_path = string_field(item, "socketPath");
    iface.pci_id = string_field(item, "pciID");
    result.interfaces.push_back(std::move(iface));
  }
  for (const auto& item : array_or_empty(value, "ips")) {
    if (!item.is_object()) malformed("an ip must be an object");
    IPConfig ip;
    ip.address = ipnet_field(item, "address");
    ip.gateway = ip_field(item, "gateway");
    ip.interface = int_field(item, "interface");
    result.ips.push_back(ip);
  }
  for (const auto& item : array_or_empty(value, "routes")) result.routes.push_back(parse_route(item));
  // 0.1.0/0.2.0: ip4 then ip6, their routes appended in that order (types040.convertFrom02x).
  for (const auto* family : {"ip4", "ip6"}) {
    const auto* legacy = find_key(value, family);
    if (legacy == nullptr) continue;
    if (!legacy->is_object()) malformed(fmt::format("\"{}\" must be an object", family));
    IPConfig ip;
    ip.address = ipnet_field(*legacy, "ip");
    ip.gateway = ip_field(*legacy, "gateway");
    result.ips.push_back(ip);
    for (const auto& item : array_or_empty(*legacy, "routes")) result.routes.push_back(parse_route(item));
  }
  if (const auto* dns = find_key(value, "dns")) result.dns = parse_dns(*dns);
  return result;
}

// types.Route's JSON: dst, gw, then the 1.1.0 fields; mtu/advmss/priority omitted when 0.
template <typename Json>
Json route_json(const Route& route, bool legacy) {
  Json out;
  out["dst"] = route.dst.to_string();
  if (route.gw) out["gw"] = route.gw->to_string();
  if (legacy) return out;
  if (route.mtu.value_or(0) != 0) out["mtu"] = *route.mtu;
  if (route.advmss.value_or(0) != 0) out["advmss"] = *route.advmss;
  if (route.priority.value_or(0) != 0) out["priority"] = *route.priority;
  if (route.table) out["table"] = *route.table;
  if (route.scope) out["scope"] = *route.scope;
  return out;
}

template <typename Json>
Json dns_json(const DNS& dns) {
  Json out = Json::object();
  if (!dns.nameservers.empty()) out["nameservers"] = dns.nameservers;
  if (!dns.domain.empty()) out["domain"] = dns.domain;
  if (!dns.search.empty()) out["search"] = dns.search;
  if (!dns.options.empty()) out["options"] = dns.options;
  return out;
}

// 1.0.0 / 1.1.0: marshalled through a map, so keys are sorted at every level; empty dns omitted.
json to_json_1x(const Result& result, std::string_view version) {
  json out;
  out["cniVersion"] = version;
  for (const auto& iface : result.interfaces) {
    json item;
    item["name"] = iface.name;
    if (!iface.mac.empty()) item["mac"] = iface.mac;
    if (iface.mtu.value_or(0) != 0) item["mtu"] = *iface.mtu;
    if (!iface.sandbox.empty()) item["sandbox"] = iface.sandbox;
    if (!iface.socket_path.empty()) item["socketPath"] = iface.socket_path;
    if (!iface.pci_id.empty()) item["pciID"] = iface.pci_id;
    out["interfaces"].push_back(std::move(item));
  }
  for (const auto& ip : result.ips) {
    json item;
    item["address"] = ip.address.to_string();
    if (ip.gateway) item["gateway"] = ip.gateway->to_string();
    if (ip.interface) item["interface"] = *ip.interface;
    out["ips"].push_back(std::move(item));
  }
  for (const auto& route : result.routes) out["routes"].push_back(route_json<json>(route, false));
  if (!result.dns.empty()) out["dns"] = dns_json<json>(result.dns);
  return out;
}

// 0.3.0 / 0.3.1 / 0.4.0: struct order, "version" per IP, dns always present.
ordered_json to_json_04x(const Result& result, std::string_view version) {
  ordered_json out;
  out["cniVersion"] = version;
  for (const auto& iface : result.interfaces) {
    ordered_json item;
    item["name"] = iface.name;
    if (!iface.mac.empty()) item["mac"] = iface.mac;
    if (!iface.sandbox.empty()) item["sandbox"] = iface.sandbox;
    out["interfaces"].push_back(std::move(item));
  }
  for (const auto& ip : result.ips) {
    ordered_json item;
    item["version"] = ip.address.ip().is_v4() ? "4" : "6";
    if (ip.interface) item["interface"] = *ip.interface;
    item["address"] = ip.address.to_string();
    if (ip.gateway) item["gateway"] = ip.gateway->to_string();
    out["ips"].push_back(std::move(item));
  }
  for (const auto& route : result.routes) out["routes"].push_back(route_json<ordered_json>(route, false));
  out["dns"] = dns_json<ordered_json>(result.dns);
  return out;
}

// 0.1.0 / 0.2.0: the first IPv4 and first IPv6 address; each route under the family of its dst,
// only when that family has an address.
ordered_json to_json_02x(const Result& result, std::string_view version) {
  const IPConfig* ip4 = nullptr;
  const IPConfig* ip6 = nullptr;
  for (const auto& ip : result.ips) {
    if (ip.address.ip().is_v4() && ip4 == nullptr) ip4 = &ip;
    if (ip.address.ip().is_v6() && ip6 == nullptr) ip6 = &ip;
  }
  if (ip4 == nullptr && ip6 == nullptr) throw Error(ErrorCode::Internal, "cannot convert: no valid IP addresses");
  ordered_json out;
  out["cniVersion"] = version;
  for (const auto& [key, ip] : {std::pair{"ip4", ip4}, std::pair{"ip6", ip6}}) {
    if (ip == nullptr) continue;
    ordered_json item;
    item["ip"] = ip->address.to_string();
    if (ip->gateway) item["gateway"] = ip->gateway->to_string();
    for (const auto& route : result.routes) {
      if (route.dst.ip().is_v4() == ip->address.ip().is_v4()) {
        item["routes"].push_back(route_json<ordered_json>(route, true));
      }
    }
    out[key] = std::move(item);
  }
  out["dns"] = dns_json<ordered_json>(result.dns);
  return out;
}

}  // namespace

DNS parse_dns(const ordered_json& value) {
  if (!value.is_object()) malformed("\"dns\" must be an object");
  DNS dns;
  dns.nameservers = strings_field(value, "nameservers");
  dns.domain = string_field(value, "domain");
  dns.search = strings_field(value, "search");
  dns.options = strings_field(value, "options");
  return dns;
}

Result parse_result(const ordered_json& value, std::string_view version) {
  std::string own = value.is_object() ? string_field(value, "cniVersion") : std::string();
  return parse_any(value, own.empty() ? std::string(version) : own);
}

Result parse_result(const ordered_json& value) { return parse_result(value, "0.1.0"); }

Result parse_result(std::string_view bytes) {
  ordered_json value;
  try {
    value = parse_json(bytes);
  } catch (const std::exception& e) {
    malformed(e.what());
  }
  return parse_result(value);
}

ordered_json result_to_json(const Result& result, std::string_view version) {
  if (version_at_least(version, "1.0.0")) return ordered_json::parse(to_json_1x(result, version).dump());
  if (version_at_least(version, "0.3.0")) return to_json_04x(result, version);
  return to_json_02x(result, version);
}

std::string print_result(const Result& result, std::string_view version) {
  require_supported(version, all_versions());
  if (version_at_least(version, "1.0.0")) return go_marshal_indent(to_json_1x(result, version));
  return go_marshal_indent(result_to_json(result, version));
}

std::string convert_result(std::string_view bytes, std::string_view to_version) {
  return print_result(parse_result(bytes), to_version);
}

}  // namespace plexus::cni
