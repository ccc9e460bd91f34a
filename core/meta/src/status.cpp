#include <plexus/meta/status.hpp>

namespace plexus::meta {
namespace {

using cni::ordered_json;

struct Entry {
  std::string name;
  std::string interface;
  std::vector<std::string> ips;
  std::string mac;
  int mtu = 0;
  bool is_default = false;
  ordered_json dns = ordered_json::object();
  std::vector<std::string> gateway;

  ordered_json to_json() const {
    ordered_json out = ordered_json::object();
    out["name"] = name;
    if (!interface.empty()) out["interface"] = interface;
    if (!ips.empty()) out["ips"] = ips;
    if (!mac.empty()) out["mac"] = mac;
    if (mtu != 0) out["mtu"] = mtu;
    if (is_default) out["default"] = true;
    out["dns"] = dns;
    if (!gateway.empty()) out["gateway"] = gateway;
    return out;
  }
};

ordered_json dns_json(const cni::DNS& dns) {
  ordered_json out = ordered_json::object();
  if (!dns.nameservers.empty()) out["nameservers"] = dns.nameservers;
  if (!dns.domain.empty()) out["domain"] = dns.domain;
  if (!dns.search.empty()) out["search"] = dns.search;
  if (!dns.options.empty()) out["options"] = dns.options;
  return out;
}

bool is_default_route(const cni::Route& route) { return route.dst.prefix() == 0 && route.dst.ip().is_unspecified(); }

std::vector<std::string> default_gateways(const cni::Result& result) {
  std::vector<std::string> gateways;
  for (const auto& route : result.routes) {
    if (is_default_route(route)) gateways.push_back(route.gw ? route.gw->to_string() : "<nil>");
  }
  return gateways;
}

}  // namespace

std::vector<ordered_json> network_status_entries(const cni::Result& result, std::string_view network_name,
                                                 bool is_default) {
  std::vector<Entry> entries;
  const auto dns = dns_json(result.dns);

  if (result.interfaces.size() == 1) {
    Entry entry{std::string(network_name), {}, {}, {}, 0, is_default, dns, default_gateways(result)};
    const auto& iface = result.interfaces.front();
    if (!iface.sandbox.empty()) {
      entry.interface = iface.name;
      entry.mac = iface.mac;
      entry.mtu = iface.mtu.value_or(0);
    }
    for (const auto& ip : result.ips) entry.ips.push_back(ip.address.ip().to_string());
    entries.push_back(std::move(entry));
  } else {
    // Several interfaces: one entry per sandbox interface. On the default network the one that
    // owns the first gateway is "default", else the first sandbox interface.
    int gateway_iface = -1;
    if (is_default) {
      for (const auto& ip : result.ips) {
        if (ip.gateway && ip.interface) {
          gateway_iface = *ip.interface;
          break;
        }
      }
    }
    const auto gateways = default_gateways(result);
    std::vector<int> entry_of(result.interfaces.size(), -1);
    bool default_set = false;
    for (std::size_t i = 0; i < result.interfaces.size(); ++i) {
      const auto& iface = result.interfaces[i];
      if (iface.sandbox.empty()) continue;
      const bool mark = is_default && !default_set && (gateway_iface == -1 || static_cast<int>(i) == gateway_iface);
      default_set = default_set || mark;
      entries.push_back(Entry{std::string(network_name), iface.name, {}, iface.mac, iface.mtu.value_or(0), mark, dns, gateways});
      entry_of[i] = static_cast<int>(entries.size()) - 1;
    }
    for (const auto& ip : result.ips) {
      const auto address = ip.address.ip().to_string();
      if (ip.interface) {
        const auto index = *ip.interface;
        if (index >= 0 && static_cast<std::size_t>(index) < entry_of.size() && entry_of[static_cast<std::size_t>(index)] >= 0) {
          entries[static_cast<std::size_t>(entry_of[static_cast<std::size_t>(index)])].ips.push_back(address);
        }
      } else if (!entries.empty()) {
        entries.back().ips.push_back(address);  // as the NAD client: unowned IPs go to the last entry
      }
    }
  }
  std::vector<ordered_json> out;
  for (const auto& entry : entries) out.push_back(entry.to_json());
  return out;
}

std::string network_status_annotation(const std::vector<ordered_json>& entries) {
  std::string out = "[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i != 0) out += ",";
    out += cni::go_marshal_indent(entries[i]);
  }
  return out + "]";
}

}  // namespace plexus::meta
