// The sticky IPAM's pool parser (plexus/ipam/sticky_pool.hpp): every way to give addresses and
// MACs, and every refusal naming the key and the value.
#include <plexus/cni/errors.hpp>
#include <plexus/ipam/sticky_pool.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace plexus::ipam {
namespace {

using ::testing::HasSubstr;

StickyPool parse(std::string_view text) { return parse_sticky_pool(cni::parse_json(text)); }

std::vector<std::string> addresses(const StickyPool& pool) {
  std::vector<std::string> out;
  for (const auto& address : pool.addresses) out.push_back(address.to_string());
  return out;
}

// The refusal's code and message.
cni::Error refusal(std::string_view text) {
  try {
    parse(text);
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << text;
  return cni::Error(0, "");
}

TEST(StickyPool, RangeWithPrefixAndMacPrefixGiveTheMotivatingReplicaZero) {
  const auto pool = parse(R"({"type":"sticky","range":"192.168.111.10-192.168.111.20/24",
    "mac":{"prefix":"20:01:02:03:04","start":5}})");
  ASSERT_EQ(pool.size(), 11U);
  EXPECT_EQ(pool.addresses[0].to_string(), "192.168.111.10/24");
  EXPECT_EQ(pool.addresses[10].to_string(), "192.168.111.20/24");
  EXPECT_EQ(pool.mac_for(0), "20:01:02:03:04:05");
  EXPECT_EQ(pool.mac_for(2), "20:01:02:03:04:07");
  EXPECT_EQ(pool.mac_for(11), std::nullopt);
  EXPECT_EQ(pool.pool, "default");
  EXPECT_FALSE(pool.allow_dynamic);
}

TEST(StickyPool, RangeTakesItsPrefixFromSubnetAndSkipsTheGateway) {
  const auto pool = parse(R"({"range":"10.1.0.1-10.1.0.4","subnet":"10.1.0.0/16","gateway":"10.1.0.2","pool":"lab"})");
  EXPECT_EQ(addresses(pool), (std::vector<std::string>{"10.1.0.1/16", "10.1.0.3/16", "10.1.0.4/16"}));
  EXPECT_EQ(pool.gateway->to_string(), "10.1.0.2");
  EXPECT_EQ(pool.pool, "lab");
}

TEST(StickyPool, SubnetWithRangeStartAndEndOrItsWholeHostRange) {
  EXPECT_EQ(addresses(parse(R"({"subnet":"10.0.0.0/24","rangeStart":"10.0.0.250","rangeEnd":"10.0.0.252"})")),
            (std::vector<std::string>{"10.0.0.250/24", "10.0.0.251/24", "10.0.0.252/24"}));
  const auto whole = parse(R"({"subnet":"10.0.0.0/29"})");
  EXPECT_EQ(addresses(whole), (std::vector<std::string>{"10.0.0.1/29", "10.0.0.2/29", "10.0.0.3/29", "10.0.0.4/29",
                                                        "10.0.0.5/29", "10.0.0.6/29"}));
  EXPECT_EQ(addresses(parse(R"({"subnet":"fd00::/126"})")), (std::vector<std::string>{"fd00::1/126", "fd00::2/126", "fd00::3/126"}));
}

TEST(StickyPool, ExplicitAddressesAndMacs) {
  const auto pool = parse(R"({"addresses":["10.0.0.7/24","10.0.0.3/24"],"macs":["02:00:00:00:00:AA","02-00-00-00-00-bb"],
    "routes":[{"dst":"10.9.0.0/16","gw":"10.0.0.1"}],"dns":{"nameservers":["10.0.0.53"]},"allowDynamic":true})");
  EXPECT_EQ(addresses(pool), (std::vector<std::string>{"10.0.0.7/24", "10.0.0.3/24"}));
  EXPECT_EQ(pool.macs, (std::vector<std::string>{"02:00:00:00:00:aa", "02:00:00:00:00:bb"}));
  ASSERT_EQ(pool.routes.size(), 1U);
  EXPECT_EQ(pool.routes[0].dst.to_string(), "10.9.0.0/16");
  EXPECT_EQ(pool.dns.nameservers, std::vector<std::string>{"10.0.0.53"});
  EXPECT_TRUE(pool.allow_dynamic);
  EXPECT_EQ(pool.slot_of(*cni::IPAddress::parse("10.0.0.3")), 1U);
  EXPECT_EQ(pool.slot_of(*cni::IPAddress::parse("10.0.0.4")), std::nullopt);
}

TEST(StickyPool, MacPrefixCarriesIntoEveryFreeOctet) {
  const auto pool = parse(R"({"subnet":"10.0.0.0/22","rangeStart":"10.0.0.1","rangeEnd":"10.0.1.44","mac":{"prefix":"02:aa:00:00","start":255}})");
  EXPECT_EQ(pool.mac_for(0), "02:aa:00:00:00:ff");
  EXPECT_EQ(pool.mac_for(1), "02:aa:00:00:01:00");
}

TEST(StickyPool, RefusalsAreCode7AndNameTheKeyAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "needs \"range\""},
      {R"({"range":"10.0.0.1-10.0.0.5"})", "ipam.range \"10.0.0.1-10.0.0.5\" needs a prefix length"},
      {R"({"range":"10.0.0.9-10.0.0.5/24"})", "range end 10.0.0.5 is before its start 10.0.0.9"},
      {R"({"range":"10.0.0.1-10.0.1.5/24"})", "10.0.1.5 is outside the subnet 10.0.0.0/24"},
      {R"({"range":"10.0.0.1-nope/24"})", "ipam.range \"nope\" is not an IP address"},
      {R"({"subnet":"10.0.0.0/24","rangeEnd":"10.0.0.x"})", "ipam.rangeEnd \"10.0.0.x\" is not an IP address"},
      {R"({"subnet":"10.0.0/24"})", "ipam.subnet \"10.0.0/24\" is not in CIDR notation"},
      {R"({"addresses":["10.0.0.1"]})", "ipam.addresses: \"10.0.0.1\" is not in CIDR notation"},
      {R"({"addresses":["10.0.0.1/24","10.0.0.1/24"]})", "address 10.0.0.1 is listed twice"},
      {R"({"addresses":["10.0.0.1/24"],"range":"10.0.0.1-10.0.0.2/24"})", "only one of"},
      {R"({"pool":"Bad_Pool","addresses":["10.0.0.1/24"]})", "ipam.pool \"Bad_Pool\" is not a DNS-1123 label"},
      {R"({"addresses":["10.0.0.1/24","10.0.0.2/24"],"macs":["02:00:00:00:00:01"]})", "ipam.macs has 1 entries but the pool has 2"},
      {R"({"addresses":["10.0.0.1/24"],"macs":["zz:00:00:00:00:01"]})", "ipam.macs: \"zz:00:00:00:00:01\" is not a MAC"},
      {R"({"addresses":["10.0.0.1/24"],"macs":["01:00:00:00:00:01"]})", "is a multicast MAC"},
      {R"({"addresses":["10.0.0.1/24"],"mac":{"prefix":"20:01:02:03:04:05"}})", "ipam.mac.prefix \"20:01:02:03:04:05\" is not 1 to 5 octets"},
      {R"({"addresses":["10.0.0.1/24"],"mac":{"prefix":"2001"}})", "ipam.mac.prefix \"2001\""},
      {R"({"range":"10.0.0.1-10.0.0.3/24","mac":{"prefix":"20:01:02:03:04","start":254}})",
       "start 254 leaves room for 2 MACs, the pool has 3 addresses"},
      {R"({"addresses":["10.0.0.1/24"],"mac":{"prefix":"20:01:02:03:04","start":-1}})", "ipam.mac.start must be a non-negative integer, got -1"},
      {R"({"addresses":["10.0.0.1/24"],"mac":{"prefix":"20:01:02:03:04"},"macs":["02:00:00:00:00:01"]})", "either \"mac\" or \"macs\""},
      {R"({"addresses":["10.0.0.1/24"],"allowDynamic":"yes"})", "ipam.allowDynamic must be true or false, got \"yes\""},
      {R"({"addresses":["10.0.0.1/24"],"routes":[{"dst":"x"}]})", "ipam.routes: {\"dst\":\"x\"} has no valid \"dst\" CIDR"},
      {R"({"subnet":"10.0.0.0/8"})", "more than 65536 addresses"},
  };
  for (const auto& [config, message] : cases) {
    const auto error = refusal(config);
    EXPECT_EQ(error.code(), 7) << config;
    EXPECT_THAT(error.msg(), HasSubstr(message)) << config;
  }
}

TEST(StickyPool, AddressLabelsAreDnsSafe) {
  EXPECT_EQ(address_label(*cni::IPAddress::parse("192.168.111.10")), "192-168-111-10");
  EXPECT_EQ(address_label(*cni::IPAddress::parse("fd00::1")), "fd00--1");
}

TEST(StickyPool, UsesStickyIpamLooksAtIpamType) {
  EXPECT_TRUE(uses_sticky_ipam(cni::parse_json(R"({"type":"macvlan","ipam":{"type":"sticky"}})")));
  EXPECT_FALSE(uses_sticky_ipam(cni::parse_json(R"({"type":"macvlan","ipam":{"type":"static"}})")));
  EXPECT_FALSE(uses_sticky_ipam(cni::parse_json(R"({"type":"macvlan"})")));
}

}  // namespace
}  // namespace plexus::ipam
