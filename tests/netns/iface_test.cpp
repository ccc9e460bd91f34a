// configure_iface: an IPAM result applied to a link the way the reference ConfigureIface does.
#include <plexus/cni/result.hpp>
#include <plexus/net/iface.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include <plexus/net/sysctl.hpp>
#include "netns.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace plexus::net {
namespace {

using nlohmann::json;

cni::IPNet net(const char* text) { return *cni::IPNet::parse(text); }
cni::IPAddress ip(const char* text) { return *cni::IPAddress::parse(text); }

cni::Interface interface_named(const std::string& name, const std::string& sandbox = "") {
  cni::Interface iface;
  iface.name = name;
  iface.sandbox = sandbox;
  return iface;
}

cni::IPConfig ip_config(const char* address, std::optional<cni::IPAddress> gateway, std::optional<int> interface) {
  cni::IPConfig config;
  config.address = net(address);
  config.gateway = gateway;
  config.interface = interface;
  return config;
}

cni::Route route_to(const char* dst, std::optional<cni::IPAddress> gw = std::nullopt,
                    std::optional<int> priority = std::nullopt) {
  cni::Route route;
  route.dst = net(dst);
  route.gw = gw;
  route.priority = priority;
  return route;
}

const json* find_by(const json& items, const char* key, const std::string& value) {
  for (const json& item : items) {
    if (item.value(key, "") == value) return &item;
  }
  return nullptr;
}

std::string configure_error(const std::string& netns_path, const std::string& ifname, const cni::Result& result) {
  return in_netns(netns_path, [&]() -> std::string {
    try {
      configure_iface(ifname, result);
    } catch (const std::runtime_error& error) {
      return error.what();
    }
    return "no error";
  });
}

TEST(ConfigureIface, AddsAddressesBringsTheLinkUpWaitsForDadAndAddsRoutes) {
  PLEXUS_REQUIRE_ROOT();
  test::MacvlanTopology topology;
  const Netns host = Netns::open(topology.host.path());
  in_netns(topology.pod.path(), [&] {
    Netlink nl;
    nl.create_veth({.name = "c0", .peer_name = "c1", .peer_netns_fd = host.fd()});
    write_sysctl("net/ipv6/conf/c0/disable_ipv6", "1");  // configure_iface must turn it back on
  });
  topology.host.exec("ip link set c1 up");

  cni::Result result;
  result.cni_version = "1.0.0";
  result.interfaces.push_back(interface_named("c0", topology.pod.path()));
  result.ips.push_back(ip_config("10.3.0.5/24", ip("10.3.0.1"), 0));
  result.ips.push_back(ip_config("2001:db8:3::5/64", ip("2001:db8:3::1"), 0));
  result.ips.push_back(ip_config("10.4.0.5/24", std::nullopt, std::nullopt));
  result.routes.push_back(route_to("0.0.0.0/0"));
  result.routes.push_back(route_to("10.50.0.0/16", ip("10.3.0.254"), 50));
  result.routes.push_back(route_to("2001:db8:77::/64"));

  in_netns(topology.pod.path(), [&] {
    configure_iface("c0", result);
    EXPECT_EQ(read_sysctl("net/ipv6/conf/c0/disable_ipv6"), "0");
    EXPECT_EQ(read_sysctl("net/ipv6/conf/lo/disable_ipv6"), "0");
    EXPECT_EQ(read_sysctl("net/ipv6/conf/c0/keep_addr_on_down"), "1");
  });

  const json link = topology.pod.exec_json("ip -j addr show dev c0").at(0);
  const auto& flags = link.at("flags");
  EXPECT_NE(std::find(flags.begin(), flags.end(), "UP"), flags.end());
  const json& infos = link.at("addr_info");
  const json* v4 = find_by(infos, "local", "10.3.0.5");
  ASSERT_NE(v4, nullptr) << infos.dump();
  EXPECT_EQ(v4->at("prefixlen"), 24);
  const json* v6 = find_by(infos, "local", "2001:db8:3::5");
  ASSERT_NE(v6, nullptr) << infos.dump();
  EXPECT_FALSE(v6->value("tentative", false)) << "DAD must be over before the routes are added";
  EXPECT_EQ(find_by(infos, "local", "10.4.0.5"), nullptr) << "an ip without interface index is not ours";

  const json v4_routes = topology.pod.exec_json("ip -j route show dev c0");
  const json* by_default = find_by(v4_routes, "dst", "default");
  ASSERT_NE(by_default, nullptr) << v4_routes.dump();
  EXPECT_EQ(by_default->at("gateway"), "10.3.0.1");
  const json* to_50 = find_by(v4_routes, "dst", "10.50.0.0/16");
  ASSERT_NE(to_50, nullptr) << v4_routes.dump();
  EXPECT_EQ(to_50->at("gateway"), "10.3.0.254");
  EXPECT_EQ(to_50->at("metric"), 50);
  const json v6_routes = topology.pod.exec_json("ip -j -6 route show dev c0");
  const json* to_77 = find_by(v6_routes, "dst", "2001:db8:77::/64");
  ASSERT_NE(to_77, nullptr) << v6_routes.dump();
  EXPECT_EQ(to_77->at("gateway"), "2001:db8:3::1");
}

TEST(ConfigureIface, RefusesWhatTheReferenceRefusesInItsWords) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("cfgerr");
  pod.exec("ip link add c0 type veth peer name c1");

  cni::Result empty;
  EXPECT_EQ(configure_error(pod.path(), "c0", empty), "no interfaces to configure");

  cni::Result other_interface;
  other_interface.interfaces.push_back(interface_named("c1"));
  other_interface.ips.push_back(ip_config("10.3.0.6/24", std::nullopt, 0));
  EXPECT_EQ(configure_error(pod.path(), "c0", other_interface),
            "failed to add IP addr 10.3.0.6/24 to \"c0\": invalid interface index");
  other_interface.ips[0].interface = 3;
  EXPECT_EQ(configure_error(pod.path(), "c0", other_interface),
            "failed to add IP addr 10.3.0.6/24 to \"c0\": invalid interface index");

  EXPECT_EQ(configure_error(pod.path(), "nope", other_interface), "failed to lookup \"nope\": Link not found");

  cni::Result twice;
  twice.interfaces.push_back(interface_named("c0"));
  twice.ips.push_back(ip_config("10.3.0.7/24", std::nullopt, 0));
  twice.ips.push_back(ip_config("10.3.0.7/24", std::nullopt, 0));
  const std::string error = configure_error(pod.path(), "c0", twice);
  EXPECT_EQ(error, "failed to add IP addr 10.3.0.7/24 to \"c0\": file exists");
}

}  // namespace
}  // namespace plexus::net
