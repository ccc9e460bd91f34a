// Links against the kernel: veth, macvlan and bridge created, read back (with our readers and
// with `ip -d -j link`), renamed, moved, changed and deleted, all inside test namespaces.
#include <plexus/net/error.hpp>
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include "netns.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace plexus::net {
namespace {

using nlohmann::json;

json ip_link(const test::TestNetns& ns, const std::string& name) {
  const json links = ns.exec_json("ip -d -j link show dev " + name);
  return links.at(0);
}

bool has_flag(const json& link, const std::string& flag) {
  const auto& flags = link.at("flags");
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

TEST(Links, VethPairWithThePeerCreatedInAnotherNamespace) {
  PLEXUS_REQUIRE_ROOT();
  test::MacvlanTopology topology;
  const Netns host = Netns::open(topology.host.path());
  const Link pod_end = in_netns(topology.pod.path(), [&] {
    Netlink nl;
    nl.create_veth({.name = "vp0", .peer_name = "vh0", .mtu = 1400, .mac = "02:00:00:00:00:01",
                    .peer_mac = "02:00:00:00:00:02", .peer_netns_fd = host.fd()});
    EXPECT_FALSE(nl.find_link("vh0").has_value()) << "the peer must not be in the pod";
    return nl.link("vp0");
  });
  EXPECT_EQ(pod_end.kind, "veth");
  EXPECT_EQ(pod_end.mtu, 1400U);
  EXPECT_EQ(pod_end.mac, "02:00:00:00:00:01");
  EXPECT_FALSE(pod_end.is_up());

  const json seen_in_pod = ip_link(topology.pod, "vp0");
  EXPECT_EQ(seen_in_pod.at("linkinfo").at("info_kind"), "veth");
  EXPECT_EQ(seen_in_pod.at("mtu"), 1400);
  EXPECT_EQ(seen_in_pod.at("address"), "02:00:00:00:00:01");
  const json seen_in_host = ip_link(topology.host, "vh0");
  EXPECT_EQ(seen_in_host.at("linkinfo").at("info_kind"), "veth");
  EXPECT_EQ(seen_in_host.at("address"), "02:00:00:00:00:02");
  EXPECT_EQ(seen_in_host.at("mtu"), 1400);
}

TEST(Links, MacvlanCreatedInThePodRenamedMovedAndDeletedTwice) {
  PLEXUS_REQUIRE_ROOT();
  test::MacvlanTopology topology;
  test::TestNetns other("other");
  const Netns pod = Netns::open(topology.pod.path());
  const std::string temp_name = random_veth_name();
  ASSERT_EQ(temp_name.size(), 12U);
  ASSERT_EQ(temp_name.rfind("veth", 0), 0U);

  // As the reference: the link is made from the host namespace (where the master is) directly
  // into the pod namespace, under a temporary name.
  in_netns(topology.host.path(), [&] {
    Netlink nl;
    const Link master = nl.link(test::MacvlanTopology::kMaster);
    nl.create_macvlan({.name = temp_name, .master_index = master.index, .mode = MacvlanMode::Private,
                       .mtu = 1400, .mac = "20:01:02:03:04:05", .netns_fd = pod.fd()});
    EXPECT_FALSE(nl.find_link(temp_name).has_value()) << "created in the host, not the pod";
  });

  const Link created = in_netns(pod, [&] { return Netlink().link(temp_name); });
  EXPECT_EQ(created.kind, "macvlan");
  ASSERT_TRUE(created.macvlan_mode.has_value());
  EXPECT_EQ(*created.macvlan_mode, MacvlanMode::Private);
  EXPECT_EQ(created.mac, "20:01:02:03:04:05");
  EXPECT_EQ(created.mtu, 1400U);
  const json seen = ip_link(topology.pod, temp_name);
  EXPECT_EQ(seen.at("linkinfo").at("info_kind"), "macvlan");
  EXPECT_EQ(seen.at("linkinfo").at("info_data").at("mode"), "private");
  EXPECT_EQ(seen.at("address"), "20:01:02:03:04:05");
  EXPECT_EQ(seen.at("mtu"), 1400);

  const Link renamed = in_netns(pod, [&] {
    Netlink nl;
    nl.rename_link(created.index, "net1");
    EXPECT_FALSE(nl.find_link(temp_name).has_value());
    nl.set_link_up(created.index);
    return nl.link("net1");
  });
  EXPECT_EQ(renamed.index, created.index);
  EXPECT_TRUE(renamed.is_up());
  EXPECT_TRUE(has_flag(ip_link(topology.pod, "net1"), "UP"));

  const Netns other_ns = Netns::open(other.path());
  in_netns(pod, [&] {
    Netlink nl;
    nl.move_link_to_netns(renamed.index, other_ns);
    EXPECT_FALSE(nl.find_link("net1").has_value());
  });
  EXPECT_EQ(ip_link(other, "net1").at("linkinfo").at("info_kind"), "macvlan");

  in_netns(other_ns, [&] {
    Netlink nl;
    EXPECT_TRUE(nl.delete_link("net1"));
    EXPECT_FALSE(nl.delete_link("net1")) << "a missing link is success for DEL";
    EXPECT_FALSE(nl.delete_link(renamed.index));
    EXPECT_FALSE(nl.find_link("net1").has_value());
  });
  EXPECT_NE(other.run("ip link show dev net1").exit_code, 0);
}

TEST(Links, ADuplicateNameIsExistsAndAMissingMasterIsNotFound) {
  PLEXUS_REQUIRE_ROOT();
  test::MacvlanTopology topology;
  in_netns(topology.host.path(), [&] {
    Netlink nl;
    const Link master = nl.link(test::MacvlanTopology::kMaster);
    nl.create_macvlan({.name = "mv0", .master_index = master.index});
    try {
      nl.create_macvlan({.name = "mv0", .master_index = master.index});
      ADD_FAILURE() << "second create succeeded";
    } catch (const std::system_error& error) {
      EXPECT_TRUE(is_exists(error.code()));
      EXPECT_FALSE(is_not_found(error.code()));
      EXPECT_EQ(error.code(), std::errc::file_exists);
      EXPECT_EQ(error.code().category(), netlink_category());
      EXPECT_NE(error.code().message().find("exists"), std::string::npos) << error.code().message();
      EXPECT_NE(std::string(error.what()).find("failed to create macvlan \"mv0\""), std::string::npos);
      const auto* netlink = dynamic_cast<const NetlinkError*>(&error);
      ASSERT_NE(netlink, nullptr);
      EXPECT_EQ(netlink->kernel_errno(), EEXIST);
      EXPECT_EQ(netlink->kernel_message(), "file exists") << "Go's words, as the reference prints them";
    }
    EXPECT_FALSE(nl.delete_link("mv-missing"));  // a swallowed not-found leaves no stale errno
    try {
      nl.create_macvlan({.name = "mv1", .master_index = 999999});
      ADD_FAILURE() << "created on a missing master";
    } catch (const NetlinkError& error) {
      EXPECT_TRUE(is_not_found(error.code())) << error.what();
      EXPECT_FALSE(is_exists(error.code()));
      EXPECT_EQ(error.kernel_errno(), ENODEV);
      EXPECT_EQ(error.kernel_message(), "no such device");
    }
    try {
      nl.rename_link(nl.link("mv0").index, "a-name-of-16-chr");
      ADD_FAILURE() << "a 16-byte name was accepted";
    } catch (const std::invalid_argument&) {
    }
    EXPECT_FALSE(nl.find_link("mv1").has_value());
    EXPECT_FALSE(nl.find_link(999999).has_value());
    try {
      nl.link("no-such-link");
      ADD_FAILURE() << "link() of a missing name returned";
    } catch (const std::system_error& error) {
      EXPECT_TRUE(is_not_found(error.code()));
    }
  });
}

TEST(Links, BridgeEnslaveReleaseAndAttributeChanges) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("bridge");
  const auto [bridge, port, peer] = in_netns(pod.path(), [&] {
    Netlink nl;
    nl.create_bridge({.name = "br0", .mac = "02:11:22:33:44:55"});
    nl.create_veth({.name = "bp0", .peer_name = "bp1"});
    const Link br = nl.link("br0");
    nl.set_link_master(nl.link("bp0").index, br.index);
    const int peer_index = nl.link("bp1").index;
    nl.set_link_mtu(peer_index, 1300);
    nl.set_link_mac(peer_index, "02-AA-BB-CC-DD-EE");
    nl.set_link_up(peer_index);
    return std::tuple(br, nl.link("bp0"), nl.link(peer_index));
  });
  EXPECT_EQ(bridge.kind, "bridge");
  EXPECT_EQ(bridge.mac, "02:11:22:33:44:55");
  EXPECT_EQ(port.master_index, bridge.index);
  EXPECT_EQ(ip_link(pod, "bp0").at("master"), "br0");
  EXPECT_EQ(ip_link(pod, "br0").at("linkinfo").at("info_kind"), "bridge");
  EXPECT_EQ(peer.mtu, 1300U);
  EXPECT_EQ(peer.mac, "02:aa:bb:cc:dd:ee");
  EXPECT_TRUE(peer.is_up());
  const json peer_seen = ip_link(pod, "bp1");
  EXPECT_EQ(peer_seen.at("mtu"), 1300);
  EXPECT_EQ(peer_seen.at("address"), "02:aa:bb:cc:dd:ee");
  EXPECT_TRUE(has_flag(peer_seen, "UP"));

  in_netns(pod.path(), [&] {
    Netlink nl;
    nl.set_link_master(port.index, 0);
    EXPECT_EQ(nl.link(port.index).master_index, 0);
    nl.set_link_down(peer.index);
    EXPECT_FALSE(nl.link(peer.index).is_up());
  });
  EXPECT_FALSE(ip_link(pod, "bp0").contains("master"));
  EXPECT_FALSE(has_flag(ip_link(pod, "bp1"), "UP"));
}

TEST(Links, BadNamesAndMacsAreRejectedBeforeTheKernel) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("badargs");
  in_netns(pod.path(), [&] {
    Netlink nl;
    EXPECT_THROW(nl.create_bridge({.name = "a-name-of-16-chr"}), std::invalid_argument);
    EXPECT_THROW(nl.create_bridge({.name = "br1", .mac = "20:01:02:03:04"}), std::invalid_argument);
    EXPECT_FALSE(nl.find_link("br1").has_value());
    EXPECT_EQ(parse_macvlan_mode("passthru"), MacvlanMode::Passthru);
    EXPECT_EQ(parse_macvlan_mode("x"), std::nullopt);
    EXPECT_EQ(to_string(MacvlanMode::Vepa), "vepa");
  });
}

}  // namespace
}  // namespace plexus::net
