// CNI results: one model for every spec version (the 1.1.0 shape), parsed from any version and
// printed byte-for-byte as the reference library prints that version.
#pragma once

#include <plexus/cni/ip.hpp>
#include <plexus/cni/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::cni {

struct Interface {
  std::string name;
  std::string mac;
  std::optional<int> mtu;   // 1.1.0
  std::string sandbox;
  std::string socket_path;  // 1.1.0
  std::string pci_id;       // 1.1.0

  friend bool operator==(const Interface&, const Interface&) = default;
};

struct IPConfig {
  IPNet address;                   // host bits kept
  std::optional<IPAddress> gateway;
  std::optional<int> interface;    // index into Result::interfaces

  friend bool operator==(const IPConfig&, const IPConfig&) = default;
};

struct Route {
  IPNet dst;
  std::optional<IPAddress> gw;
  std::optional<int> mtu;
  std::optional<int> advmss;
  std::optional<int> priority;
  std::optional<int> table;
  std::optional<int> scope;

  friend bool operator==(const Route&, const Route&) = default;
};

struct DNS {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;

  bool empty() const { return nameservers.empty() && domain.empty() && search.empty() && options.empty(); }
  friend bool operator==(const DNS&, const DNS&) = default;
};

struct Result {
  std::string cni_version;  // the version it was parsed from or is meant for
  std::vector<Interface> interfaces;
  std::vector<IPConfig> ips;
  std::vector<Route> routes;
  DNS dns;

  friend bool operator==(const Result&, const Result&) = default;
};

// Parses a result of any version (taken from its "cniVersion"; missing means 0.1.0... as libcni
// does for a prevResult of the config version). Throws cni::Error code 6 on malformed input.
Result parse_result(const ordered_json& value);
Result parse_result(std::string_view bytes);
// Parses with a known version, for results that do not carry theirs (an IPAM reply is still
// expected to carry it; this is for prevResult objects).
Result parse_result(const ordered_json& value, std::string_view version);

// The JSON of `result` in `version`'s format. Converting to 0.1.0/0.2.0 keeps the first IPv4 and
// first IPv6 address; with no IP at all it throws code 999 "cannot convert: no valid IP addresses"
// ... as the reference library does.
ordered_json result_to_json(const Result& result, std::string_view version);

// MarshalIndent output of result_to_json: what a plugin prints (no trailing newline).
std::string print_result(const Result& result, std::string_view version);

// Parses and converts in one go (libcni's GetAsVersion).
std::string convert_result(std::string_view bytes, std::string_view to_version);

// DNS from a config's "dns" object (nameservers, domain, search, options).
DNS parse_dns(const ordered_json& value);

}  // namespace plexus::cni
