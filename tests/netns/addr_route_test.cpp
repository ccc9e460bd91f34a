// Addresses, routes (ECMP included), sysctl and the DAD wait against the kernel, checked with
// `ip -j addr` / `ip -j route` inside test namespaces.
#include <plexus/net/error.hpp>
#include <plexus/net/iface.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include <plexus/net/sysctl.hpp>
#include "netns.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>

namespace plexus::net {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

cni::IPNet net(const char* text) { return *cni::IPNet::parse(text); }
cni::IPAddress ip(const char* text) { return *cni::IPAddress::parse(text); }

// A veth pair with both ends in `ns`, both up: routes via a gateway need a connected prefix.
int make_up_pair(Netlink& nl, const std::string& name, const std::string& peer) {
  nl.create_veth({.name = name, .peer_name = peer});
  nl.set_link_up(nl.link(peer).index);
  const int index = nl.link(name).index;
  nl.set_link_up(index);
  return index;
}

json addr_info(const test::TestNetns& ns, const std::string& dev, const std::string& family_flag = "") {
  return ns.exec_json("ip -j " + family_flag + " addr show dev " + dev).at(0).at("addr_info");
}

const json* find_local(const json& infos, const std::string& local) {
  for (const json& info : infos) {
    if (info.value("local", "") == local) return &info;
  }
  return nullptr;
}

std::vector<json> routes_to(const json& routes, const std::string& dst) {
  std::vector<json> out;
  for (const json& route : routes) {
    if (route.value("dst", "") == dst) out.push_back(route);
  }
  return out;
}

TEST(Addresses, AddListAndDeleteIdempotently) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("addr");
  const int index = in_netns(pod.path(), [&] {
    Netlink nl;
    const int v0 = make_up_pair(nl, "v0", "v1");
    write_sysctl("net/ipv6/conf/v0/accept_dad", "0");  // no DAD wait in this test
    nl.add_address(v0, net("10.1.2.3/24"));
    nl.add_address(v0, net("10.1.3.3/24"), ip("10.1.3.100"));
    nl.add_address(v0, net("2001:db8:1::3/64"));
    try {
      nl.add_address(v0, net("10.1.2.3/24"));
      ADD_FAILURE() << "a second add of the same address succeeded";
    } catch (const std::system_error& error) {
      EXPECT_TRUE(is_exists(error.code())) << error.what();
    }
    return v0;
  });

  const json infos = addr_info(pod, "v0");
  const json* v4 = find_local(infos, "10.1.2.3");
  ASSERT_NE(v4, nullptr) << infos.dump();
  EXPECT_EQ(v4->at("prefixlen"), 24);
  EXPECT_EQ(v4->at("broadcast"), "10.1.2.255") << "the subnet broadcast, as netlink.AddrAdd sets it";
  const json* explicit_brd = find_local(infos, "10.1.3.3");
  ASSERT_NE(explicit_brd, nullptr);
  EXPECT_EQ(explicit_brd->at("broadcast"), "10.1.3.100");
  const json* v6 = find_local(infos, "2001:db8:1::3");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->at("prefixlen"), 64);

  in_netns(pod.path(), [&] {
    Netlink nl;
    const auto v4_list = nl.addresses(index, AF_INET);
    ASSERT_EQ(v4_list.size(), 2U);
    EXPECT_EQ(v4_list[0].address, net("10.1.2.3/24"));
    ASSERT_TRUE(v4_list[0].broadcast.has_value());
    EXPECT_EQ(*v4_list[0].broadcast, ip("10.1.2.255"));
    const auto v6_list = nl.addresses(index, AF_INET6);
    EXPECT_TRUE(std::any_of(v6_list.begin(), v6_list.end(), [](const Address& a) { return a.address == net("2001:db8:1::3/64"); }));
    EXPECT_TRUE(std::none_of(v6_list.begin(), v6_list.end(), [](const Address& a) { return a.address.ip().is_v4(); }));
    EXPECT_EQ(nl.addresses(index).size(), v4_list.size() + v6_list.size());

    EXPECT_TRUE(nl.delete_address(index, net("10.1.2.3/24")));
    EXPECT_FALSE(nl.delete_address(index, net("10.1.2.3/24")));
    EXPECT_TRUE(nl.delete_address(index, net("2001:db8:1::3/64")));
    EXPECT_FALSE(nl.delete_address(index, net("2001:db8:1::3/64")));
  });
  const json after = addr_info(pod, "v0");
  EXPECT_EQ(find_local(after, "10.1.2.3"), nullptr);
  EXPECT_EQ(find_local(after, "2001:db8:1::3"), nullptr);
  EXPECT_NE(find_local(after, "10.1.3.3"), nullptr);
}

TEST(Routes, PlainRouteWithMetricAndTableAndScope) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("route");
  in_netns(pod.path(), [&] {
    Netlink nl;
    const int v0 = make_up_pair(nl, "v0", "v1");
    nl.add_address(v0, net("10.1.2.3/24"));
    nl.add_route({.dst = net("10.9.0.0/16"), .gw = ip("10.1.2.1"), .index = v0, .priority = 100});
    nl.add_route({.dst = net("0.0.0.0/0"), .gw = ip("10.1.2.1"), .index = v0});
    nl.add_route({.dst = net("10.7.0.0/16"), .index = v0, .table = 100, .scope = RT_SCOPE_LINK});
    try {
      nl.add_route({.dst = net("10.9.0.0/16"), .gw = ip("10.1.2.2"), .index = v0, .priority = 100});
      ADD_FAILURE() << "add_route (exclusive) over an existing route succeeded";
    } catch (const std::system_error& error) {
      EXPECT_TRUE(is_exists(error.code())) << error.what();
    }

    const auto main_routes = nl.routes({.family = AF_INET, .index = v0});
    const auto it = std::find_if(main_routes.begin(), main_routes.end(), [](const Route& r) { return r.dst == net("10.9.0.0/16"); });
    ASSERT_NE(it, main_routes.end());
    EXPECT_EQ(it->priority, 100U);
    EXPECT_EQ(it->table, static_cast<std::uint32_t>(RT_TABLE_MAIN));
    EXPECT_EQ(it->scope, RT_SCOPE_UNIVERSE);
    EXPECT_EQ(it->protocol, RTPROT_BOOT);
    ASSERT_EQ(it->nexthops.size(), 1U);
    EXPECT_EQ(it->nexthops[0].gw, ip("10.1.2.1"));
    EXPECT_EQ(it->nexthops[0].index, v0);
    EXPECT_TRUE(std::none_of(main_routes.begin(), main_routes.end(), [](const Route& r) { return r.table == 100; }));
    const auto table_100 = nl.routes({.family = AF_INET, .table = 100});
    ASSERT_EQ(table_100.size(), 1U);
    EXPECT_EQ(table_100[0].scope, RT_SCOPE_LINK);
  });

  const json main_table = pod.exec_json("ip -j route show");
  const auto to_9 = routes_to(main_table, "10.9.0.0/16");
  ASSERT_EQ(to_9.size(), 1U) << main_table.dump();
  EXPECT_EQ(to_9[0].at("gateway"), "10.1.2.1");
  EXPECT_EQ(to_9[0].at("dev"), "v0");
  EXPECT_EQ(to_9[0].at("metric"), 100);
  const auto defaults = routes_to(main_table, "default");
  ASSERT_EQ(defaults.size(), 1U);
  EXPECT_EQ(defaults[0].at("gateway"), "10.1.2.1");
  const json table_100 = pod.exec_json("ip -j route show table 100");
  const auto to_7 = routes_to(table_100, "10.7.0.0/16");
  ASSERT_EQ(to_7.size(), 1U) << table_100.dump();
  EXPECT_EQ(to_7[0].at("scope"), "link");

  in_netns(pod.path(), [&] {
    Netlink nl;
    const int v0 = nl.link("v0").index;
    EXPECT_TRUE(nl.delete_route({.dst = net("10.9.0.0/16"), .gw = ip("10.1.2.1"), .index = v0, .priority = 100}));
    EXPECT_FALSE(nl.delete_route({.dst = net("10.9.0.0/16"), .gw = ip("10.1.2.1"), .index = v0, .priority = 100}));
    // The scope is not known to the caller: delete finds the link-scoped route anyway.
    EXPECT_TRUE(nl.delete_route({.dst = net("10.7.0.0/16"), .index = v0, .table = 100}));
  });
  EXPECT_TRUE(routes_to(pod.exec_json("ip -j route show"), "10.9.0.0/16").empty());
  EXPECT_TRUE(routes_to(pod.exec_json("ip -j route show table 100"), "10.7.0.0/16").empty());
}

TEST(Routes, EcmpAppendsAnotherGatewayAndAnExactDuplicateIsExists) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("ecmp");
  in_netns(pod.path(), [&] {
    Netlink nl;
    const int v0 = make_up_pair(nl, "v0", "v1");
    write_sysctl("net/ipv6/conf/v0/accept_dad", "0");
    nl.add_address(v0, net("10.1.2.3/24"));
    nl.add_address(v0, net("2001:db8:1::3/64"));
    nl.add_route_ecmp({.dst = net("10.8.0.0/16"), .gw = ip("10.1.2.1"), .index = v0});
    nl.add_route_ecmp({.dst = net("10.8.0.0/16"), .gw = ip("10.1.2.2"), .index = v0});
    nl.add_route_ecmp({.dst = net("2001:db8:9::/64"), .gw = ip("2001:db8:1::1"), .index = v0});
    nl.add_route_ecmp({.dst = net("2001:db8:9::/64"), .gw = ip("2001:db8:1::2"), .index = v0});
    for (const char* gw : {"10.1.2.2", "2001:db8:1::2"}) {
      const cni::IPAddress gateway = ip(gw);
      try {
        nl.add_route_ecmp({.dst = gateway.is_v4() ? net("10.8.0.0/16") : net("2001:db8:9::/64"), .gw = gateway, .index = v0});
        ADD_FAILURE() << "an exact duplicate via " << gw << " was accepted";
      } catch (const std::system_error& error) {
        EXPECT_TRUE(is_exists(error.code())) << error.what();
      }
    }
    const auto v6 = nl.routes({.family = AF_INET6});
    const auto multipath = std::find_if(v6.begin(), v6.end(), [](const Route& r) { return r.dst == net("2001:db8:9::/64"); });
    ASSERT_NE(multipath, v6.end());
    EXPECT_EQ(multipath->nexthops.size(), 2U);
  });

  // IPv4 keeps the appended route beside the first; IPv6 merges them into one multipath route.
  const auto v4 = routes_to(pod.exec_json("ip -j route show"), "10.8.0.0/16");
  ASSERT_EQ(v4.size(), 2U);
  EXPECT_EQ(v4[0].at("gateway"), "10.1.2.1");
  EXPECT_EQ(v4[1].at("gateway"), "10.1.2.2");
  const auto v6 = routes_to(pod.exec_json("ip -j -6 route show"), "2001:db8:9::/64");
  ASSERT_EQ(v6.size(), 1U);
  const json& nexthops = v6[0].at("nexthops");
  ASSERT_EQ(nexthops.size(), 2U) << v6[0].dump();
  EXPECT_EQ(nexthops[0].at("gateway"), "2001:db8:1::1");
  EXPECT_EQ(nexthops[1].at("gateway"), "2001:db8:1::2");

  in_netns(pod.path(), [&] {
    Netlink nl;
    const int v0 = nl.link("v0").index;
    EXPECT_TRUE(nl.delete_route({.dst = net("10.8.0.0/16"), .gw = ip("10.1.2.2"), .index = v0}));
  });
  const auto left = routes_to(pod.exec_json("ip -j route show"), "10.8.0.0/16");
  ASSERT_EQ(left.size(), 1U);
  EXPECT_EQ(left[0].at("gateway"), "10.1.2.1");
}

TEST(Sysctl, WritesAreReadBackInTheNamespaceThatOpenedThem) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("sysctl");
  const std::string ifname = "sy" + std::to_string(::getpid() % 100000);
  const std::string key = "net/ipv4/conf/" + ifname + "/arp_notify";
  const std::string value = in_netns(pod.path(), [&] {
    Netlink nl;
    nl.create_veth({.name = ifname, .peer_name = ifname + "p"});
    EXPECT_EQ(read_sysctl(key), "0");
    write_sysctl(key, "1");
    write_sysctl("net/ipv6/conf/" + ifname + "/disable_ipv6", "1");
    EXPECT_EQ(read_sysctl("net/ipv6/conf/" + ifname + "/disable_ipv6"), "1");
    return read_sysctl(key);
  });
  EXPECT_EQ(value, "1");
  EXPECT_EQ(pod.exec("cat /proc/sys/" + key), "1\n");
  // The caller's namespace has no such interface: /proc/sys/net is per namespace.
  try {
    read_sysctl(key);
    FAIL() << "read the pod's sysctl from the caller's namespace";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(error.what()).find("/proc/sys/" + key), std::string::npos);
  }
  EXPECT_THROW(read_sysctl("../etc/passwd"), std::invalid_argument);
}

TEST(Dad, SettleWaitsForTentativeAddressesAndReportsDadFailure) {
  PLEXUS_REQUIRE_ROOT();
  test::MacvlanTopology topology;
  const Netns host = Netns::open(topology.host.path());
  in_netns(topology.pod.path(), [&] {
    Netlink nl;
    nl.create_veth({.name = "d0", .peer_name = "d1", .peer_netns_fd = host.fd()});
  });
  topology.host.exec("ip link set d1 up && ip addr add 2001:db8:5::9/64 dev d1 nodad");

  in_netns(topology.pod.path(), [&] {
    Netlink nl;
    const int d0 = nl.link("d0").index;
    nl.set_link_up(d0);
    nl.add_address(d0, net("2001:db8:5::2/64"));
    const auto fresh = nl.addresses(d0, AF_INET6);
    const auto added = std::find_if(fresh.begin(), fresh.end(), [](const Address& a) { return a.address == net("2001:db8:5::2/64"); });
    ASSERT_NE(added, fresh.end());
    EXPECT_TRUE(added->is_tentative()) << "DAD takes about a second; the address starts tentative";
    try {
      settle_addresses(nl, "d0", 0ms);
      ADD_FAILURE() << "settled with a tentative address and no time";
    } catch (const std::runtime_error& error) {
      EXPECT_EQ(std::string(error.what()), "link d0 still has tentative addresses after 0 seconds");
    }
    const auto started = std::chrono::steady_clock::now();
    settle_addresses(nl, "d0", 10s);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    for (const Address& address : nl.addresses(d0, AF_INET6)) {
      EXPECT_FALSE(address.is_tentative()) << address.address.to_string();
    }

    // The host end answers for ::9: DAD fails, and settle says so instead of waiting.
    nl.add_address(d0, net("2001:db8:5::9/64"));
    try {
      settle_addresses(nl, "d0", 10s);
      ADD_FAILURE() << "settled with a duplicate address";
    } catch (const std::runtime_error& error) {
      EXPECT_EQ(std::string(error.what()), "link d0 has address 2001:db8:5::9 in DADFAILED state");
    }
  });
  const json v6_infos = addr_info(topology.pod, "d0", "-6");
  const json* failed = find_local(v6_infos, "2001:db8:5::9");
  ASSERT_NE(failed, nullptr);
  EXPECT_TRUE(failed->value("dadfailed", false)) << failed->dump();
}

}  // namespace
}  // namespace plexus::net
