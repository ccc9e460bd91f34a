// A namespace's links, IPv4 addresses and IPv4 routes of every table as `ip -j` prints them, for
// "a failed call left it exactly as it was" checks. IPv6 is left out: the kernel's own link-local
// addresses finish DAD and gain their routes on their own schedule.
#pragma once

#include "netns.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <ostream>
#include <string>

namespace plexus::test {

struct NetnsSnapshot {
  nlohmann::json links;
  nlohmann::json addresses;
  nlohmann::json routes;

  static NetnsSnapshot of(const TestNetns& netns) {
    return {netns.exec_json("ip -j link show"), netns.exec_json("ip -4 -j addr show"),
            netns.exec_json("ip -4 -j route show table all")};
  }
  // The same, after giving the kernel up to two seconds to match `expected`: a bridge's carrier
  // follows its last port away asynchronously (linkwatch), so only a real leftover fails.
  static NetnsSnapshot settled(const TestNetns& netns, const NetnsSnapshot& expected) {
    auto now = of(netns);
    for (int i = 0; i < 40 && !(now == expected); ++i) {
      ::usleep(50000);
      now = of(netns);
    }
    return now;
  }

  // What changed since `before`, a JSON patch per part, for failure messages.
  std::string changes_since(const NetnsSnapshot& before) const {
    using nlohmann::json;
    return "links " + json::diff(before.links, links).dump() + "\naddresses " + json::diff(before.addresses, addresses).dump() +
           "\nroutes " + json::diff(before.routes, routes).dump();
  }
  friend bool operator==(const NetnsSnapshot&, const NetnsSnapshot&) = default;
};

}  // namespace plexus::test
