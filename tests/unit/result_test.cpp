// Results: parse any version, print every version byte-for-byte as the reference library does
// (goldens for <=0.4.0 taken from Debian's reference static plugin; 1.x from libcni at HEAD:
// keys sorted, empty dns omitted).
#include <plexus/cni/errors.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/cni/version.hpp>

#include <gtest/gtest.h>

namespace {

namespace cni = plexus::cni;

// S5's dual-stack static result, as a 0.4.0 plugin prints it.
constexpr const char* kDualStack040 = R"({
    "cniVersion": "0.4.0",
    "interfaces": [
        {
            "name": "eth0",
            "mac": "0a:58:0a:0a:00:01",
            "sandbox": "/var/run/netns/a"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 0,
            "address": "10.10.0.1/24",
            "gateway": "10.10.0.254"
        },
        {
            "version": "6",
            "interface": 0,
            "address": "3ffe:ffff:0:1ff::1/64",
            "gateway": "3ffe:ffff::1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        },
        {
            "dst": "192.168.0.0/16",
            "gw": "10.10.5.1"
        },
        {
            "dst": "3ffe:ffff:0:1ff::1/64"
        }
    ],
    "dns": {
        "nameservers": [
            "8.8.8.8"
        ],
        "domain": "example.com",
        "search": [
            "example.com"
        ]
    }
})";

constexpr const char* kDualStack110 = R"({
    "cniVersion": "1.1.0",
    "dns": {
        "domain": "example.com",
        "nameservers": [
            "8.8.8.8"
        ],
        "search": [
            "example.com"
        ]
    },
    "interfaces": [
        {
            "mac": "0a:58:0a:0a:00:01",
            "name": "eth0",
            "sandbox": "/var/run/netns/a"
        }
    ],
    "ips": [
        {
            "address": "10.10.0.1/24",
            "gateway": "10.10.0.254",
            "interface": 0
        },
        {
            "address": "3ffe:ffff:0:1ff::1/64",
            "gateway": "3ffe:ffff::1",
            "interface": 0
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        },
        {
            "dst": "192.168.0.0/16",
            "gw": "10.10.5.1"
        },
        {
            "dst": "3ffe:ffff:0:1ff::1/64"
        }
    ]
})";

constexpr const char* kDualStack020 = R"({
    "cniVersion": "0.2.0",
    "ip4": {
        "ip": "10.10.0.1/24",
        "gateway": "10.10.0.254",
        "routes": [
            {
                "dst": "0.0.0.0/0"
            },
            {
                "dst": "192.168.0.0/16",
                "gw": "10.10.5.1"
            }
        ]
    },
    "ip6": {
        "ip": "3ffe:ffff:0:1ff::1/64",
        "gateway": "3ffe:ffff::1",
        "routes": [
            {
                "dst": "3ffe:ffff:0:1ff::1/64"
            }
        ]
    },
    "dns": {
        "nameservers": [
            "8.8.8.8"
        ],
        "domain": "example.com",
        "search": [
            "example.com"
        ]
    }
})";

std::string with_version(std::string text, std::string_view from, std::string_view to) {
  const auto pos = text.find(from);
  return text.replace(pos, from.size(), to);
}

TEST(Result, PrintsEachFamilyAsTheReference) {
  const auto result = cni::parse_result(std::string_view(kDualStack040));
  EXPECT_EQ(cni::print_result(result, "0.4.0"), kDualStack040);
  EXPECT_EQ(cni::print_result(result, "0.3.1"), with_version(kDualStack040, "0.4.0", "0.3.1"));
  EXPECT_EQ(cni::print_result(result, "0.3.0"), with_version(kDualStack040, "0.4.0", "0.3.0"));
  EXPECT_EQ(cni::print_result(result, "1.1.0"), kDualStack110);
  EXPECT_EQ(cni::print_result(result, "1.0.0"), with_version(kDualStack110, "1.1.0", "1.0.0"));
  EXPECT_EQ(cni::print_result(result, "0.2.0"), kDualStack020);
  EXPECT_EQ(cni::print_result(result, "0.1.0"), with_version(kDualStack020, "0.2.0", "0.1.0"));
}

// Every pair: parse a result printed at `from`, print at `to`; the result must equal printing the
// original at `to` directly, except what the older format cannot hold.
TEST(Result, ConvertsBetweenEveryPair) {
  const auto original = cni::parse_result(std::string_view(kDualStack040));
  for (const auto from : cni::all_versions()) {
    const auto printed = cni::print_result(original, from);
    for (const auto to : cni::all_versions()) {
      const auto converted = cni::convert_result(printed, to);
      auto expected = original;
      if (!cni::version_at_least(from, "0.3.0")) {
        // Through 0.2.0 the interfaces and the IPs' interface indexes are gone.
        expected.interfaces.clear();
        for (auto& ip : expected.ips) ip.interface.reset();
      }
      EXPECT_EQ(converted, cni::print_result(expected, to)) << from << " -> " << to;
    }
  }
}

TEST(Result, EmptyDnsIsOmittedOnlyIn1x) {
  cni::Result result;
  result.ips.push_back({*cni::IPNet::parse("10.1.2.3/24"), std::nullopt, std::nullopt});
  EXPECT_EQ(cni::print_result(result, "1.0.0"),
            "{\n    \"cniVersion\": \"1.0.0\",\n    \"ips\": [\n        {\n            \"address\": \"10.1.2.3/24\"\n        }\n    ]\n}");
  EXPECT_NE(cni::print_result(result, "0.4.0").find("\"dns\": {}"), std::string::npos);
  EXPECT_NE(cni::print_result(result, "0.2.0").find("\"dns\": {}"), std::string::npos);
}

TEST(Result, DownToLegacyNeedsAnAddress) {
  cni::Result result;
  result.interfaces.push_back({"eth0", "aa:bb:cc:dd:ee:ff", std::nullopt, "/x", "", ""});
  try {
    (void)cni::print_result(result, "0.2.0");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), "cannot convert: no valid IP addresses");
  }
}

TEST(Result, LegacyKeepsFirstAddressPerFamily) {
  cni::Result result;
  result.ips.push_back({*cni::IPNet::parse("10.1.0.1/24"), std::nullopt, 0});
  result.ips.push_back({*cni::IPNet::parse("10.2.0.1/24"), std::nullopt, 0});
  const auto printed = cni::print_result(result, "0.2.0");
  EXPECT_NE(printed.find("10.1.0.1/24"), std::string::npos);
  EXPECT_EQ(printed.find("10.2.0.1/24"), std::string::npos);
  EXPECT_EQ(printed.find("ip6"), std::string::npos);
}

TEST(Result, Route11FieldsAndInterfaceMtu) {
  const auto result = cni::parse_result(std::string_view(R"({"cniVersion":"1.1.0","interfaces":[{"name":"net1","mtu":1400}],
    "routes":[{"dst":"10.0.0.0/8","gw":"10.1.1.1","mtu":1300,"advmss":1200,"priority":5,"table":100,"scope":0}]})"));
  const auto printed = cni::print_result(result, "1.1.0");
  EXPECT_NE(printed.find("\"mtu\": 1400"), std::string::npos);
  EXPECT_NE(printed.find("\"advmss\": 1200"), std::string::npos);
  EXPECT_NE(printed.find("\"scope\": 0"), std::string::npos) << "a set scope of 0 is kept";
  EXPECT_NE(printed.find("\"table\": 100"), std::string::npos);
}

TEST(Result, MalformedIsADecodeError) {
  for (const auto* bad : {"[]", R"({"ips":[{"address":"10.0.0.1"}]})", R"({"ips":"x"})", "{"}) {
    try {
      (void)cni::parse_result(std::string_view(bad));
      FAIL() << bad;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 6) << bad;
    }
  }
}

TEST(IP, GoForms) {
  EXPECT_EQ(cni::IPNet::parse("3ffe:ffff:0:01ff::1/64")->to_string(), "3ffe:ffff:0:1ff::1/64");
  EXPECT_EQ(cni::IPNet::parse("10.10.0.1/24")->network().to_string(), "10.10.0.0/24");
  EXPECT_EQ(cni::IPAddress::parse("::ffff:1.2.3.4")->to_string(), "1.2.3.4");
  EXPECT_FALSE(cni::IPNet::parse("10.10.0.1"));
  EXPECT_FALSE(cni::IPNet::parse("10.10.0.1/33"));
  EXPECT_FALSE(cni::IPNet::parse("10.10.0.1/+4"));
  EXPECT_TRUE(cni::IPNet::parse("10.0.0.0/8")->contains(*cni::IPAddress::parse("10.200.1.1")));
  EXPECT_FALSE(cni::IPNet::parse("10.0.0.0/8")->contains(*cni::IPAddress::parse("11.0.0.1")));
  EXPECT_EQ(cni::parse_mac("20:01:02:03:04:05"), "20:01:02:03:04:05");
  EXPECT_EQ(cni::parse_mac("AA-BB-CC-DD-EE-FF"), "aa:bb:cc:dd:ee:ff");
  EXPECT_FALSE(cni::parse_mac("20:01:02:03:04"));
  EXPECT_FALSE(cni::parse_mac("20:01:02:03:04:0g"));
}

}  // namespace
