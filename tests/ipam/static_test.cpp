// static IPAM against Debian's reference plugin: the scenarios S5-S9 of cni-conformance.md (the
// reference's static_test.go, ported), each over every spec version it applies to, each run
// in-process through the .so, through the standalone binary and through /usr/lib/cni/static.
#include "ipam_harness.hpp"

#include <plexus/cni/result.hpp>

namespace plexus::ipam_test {
namespace {

class StaticTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { trio_ = std::make_unique<PluginTrio>("static"); }
  static void TearDownTestSuite() { trio_.reset(); }

  // Runs the request all three ways; returns plexus's reply after comparing it with the
  // reference's (when the reference speaks this version) and the .so's with the binary's.
  static cni::Reply run_all(const cni::Request& request, std::string_view version, std::string_view what) {
    const auto in_process = trio_->in_process(request);
    const auto standalone = trio_->standalone(request);
    EXPECT_EQ(in_process.exit_code, standalone.exit_code) << what << " at " << version;
    EXPECT_EQ(in_process.stdout_data, standalone.stdout_data) << what << " at " << version;
    if (reference_speaks(version)) expect_same_reply(trio_->reference(request), in_process, version, what);
    return in_process;
  }

  static inline std::unique_ptr<PluginTrio> trio_;
};

// The README's dual-stack example.
constexpr std::string_view kReadmeConfig = R"({
  "cniVersion": "{version}",
  "name": "mynet",
  "type": "ipvlan",
  "master": "foo0",
  "ipam": {
    "type": "static",
    "addresses": [
      {"address": "10.10.0.1/24", "gateway": "10.10.0.254"},
      {"address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"}
    ],
    "routes": [
      {"dst": "0.0.0.0/0"},
      {"dst": "192.168.0.0/16", "gw": "10.10.5.1"},
      {"dst": "3ffe:ffff:0:01ff::1/64"}
    ],
    "dns": {"nameservers": ["8.8.8.8"], "domain": "example.com", "search": ["example.com"]}
  }
})";

TEST_F(StaticTest, S5ReadmeDualStackConfigAtEveryVersion) {
  for (const auto& version : kAllVersions) {
    const auto reply = run_all(make_request("ADD", fill(std::string(kReadmeConfig), {{"version", version}})), version, "S5");
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 2U) << version;
    EXPECT_EQ(result.ips[0].address.to_string(), "10.10.0.1/24");
    EXPECT_EQ(result.ips[0].gateway->to_string(), "10.10.0.254");
    EXPECT_EQ(result.ips[1].address.to_string(), "3ffe:ffff:0:1ff::1/64");
    EXPECT_EQ(result.ips[1].gateway->to_string(), "3ffe:ffff::1");
    ASSERT_EQ(result.routes.size(), 3U);
    EXPECT_EQ(result.routes[1].gw->to_string(), "10.10.5.1");
    EXPECT_EQ(result.dns.nameservers, std::vector<std::string>{"8.8.8.8"});
    EXPECT_EQ(result.dns.domain, "example.com");
    const bool legacy = version == "0.1.0" || version == "0.2.0";
    const bool versioned_ips = version.starts_with("0.3") || version == "0.4.0";
    EXPECT_EQ(reply.stdout_data.find("\"ip4\"") != std::string::npos, legacy) << version;
    EXPECT_EQ(reply.stdout_data.find("\"version\":") != std::string::npos, versioned_ips) << version;
  }
}

constexpr std::string_view kNoAddressConfig = R"({
  "cniVersion": "{version}",
  "name": "mynet",
  "type": "bridge",
  "ipam": {"type": "static", "routes": [{"dst": "0.0.0.0/0"}]}{extra}
})";

TEST_F(StaticTest, S6CniArgsIpAndGatewayAtEveryVersion) {
  for (const auto& version : kAllVersions) {
    const auto config = fill(std::string(kNoAddressConfig), {{"version", version}, {"extra", ""}});
    const auto reply = run_all(make_request("ADD", config, "IP=10.10.0.1/24,11.11.0.1/24;GATEWAY=10.10.0.254"), version, "S6");
    if (version == "0.1.0" || version == "0.2.0") {
      EXPECT_EQ(reply.exit_code, 1);
      EXPECT_NE(reply.stdout_data.find("does not support more than 1 address per family"), std::string::npos);
      continue;
    }
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 2U);
    EXPECT_EQ(result.ips[0].gateway->to_string(), "10.10.0.254");
    EXPECT_FALSE(result.ips[1].gateway.has_value());
  }
}

TEST_F(StaticTest, S6GatewayFromCniArgsSkipsTheConfigsOwnAddresses) {
  // The reference parses config addresses after applying GATEWAY, so only CNI_ARGS IPs get it.
  constexpr std::string_view config = R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static",
    "addresses":[{"address":"10.10.0.7/24"}]}})";
  for (const auto& version : {std::string("0.3.1"), std::string("0.4.0"), std::string("1.0.0")}) {
    const auto reply = run_all(make_request("ADD", fill(std::string(config), {{"version", version}}),
                                            "IP=10.10.0.1/24;GATEWAY=10.10.0.254"),
                               version, "gateway quirk");
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 2U);
    EXPECT_FALSE(result.ips[0].gateway.has_value());
    EXPECT_EQ(result.ips[1].gateway->to_string(), "10.10.0.254");
  }
}

TEST_F(StaticTest, S7RuntimeConfigWinsOverArgsAndCniArgs) {
  const std::string extra = R"(,
  "args": {"cni": {"ips": ["10.10.0.1/24", "11.11.0.1/24"]}},
  "RuntimeConfig": {"ips": ["12.12.0.1/24", "13.13.0.1/24"]})";
  for (const auto& version : kAllVersions) {
    if (version == "0.1.0" || version == "0.2.0") continue;  // two v4 addresses
    const auto config = fill(std::string(kNoAddressConfig), {{"version", version}, {"extra", extra}});
    const auto reply = run_all(make_request("ADD", config, "IP=14.14.0.1/24;GATEWAY=14.14.0.254"), version, "S7");
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 2U);
    EXPECT_EQ(result.ips[0].address.to_string(), "12.12.0.1/24");
    EXPECT_EQ(result.ips[1].address.to_string(), "13.13.0.1/24");
    EXPECT_FALSE(result.ips[0].gateway.has_value());
    EXPECT_FALSE(result.ips[1].gateway.has_value());
  }
}

TEST_F(StaticTest, S7ArgsWinOverCniArgsAndConfig) {
  const std::string extra = R"(, "args": {"cni": {"ips": ["10.10.0.9/24"]}})";
  for (const auto& version : kAllVersions) {
    const auto config = fill(std::string(kNoAddressConfig), {{"version", version}, {"extra", extra}});
    const auto reply = run_all(make_request("ADD", config, "IP=14.14.0.1/24"), version, "args");
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.ips.size(), 1U);
    EXPECT_EQ(result.ips[0].address.to_string(), "10.10.0.9/24");
  }
}

struct ErrorCase {
  std::string what;
  std::string config;  // {version} filled in
  std::string cni_args;
  std::string message;
};

TEST_F(StaticTest, S8ErrorsCarryTheReferencesCodeAndMessage) {
  const std::vector<ErrorCase> cases = {
      {"no ipam key", R"({"cniVersion":"{version}","name":"n","type":"bridge"})", "", "IPAM config missing 'ipam' key"},
      {"config address without prefix",
       R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1"}]}})", "",
       "the 'address' field is expected to be in CIDR notation, got: '10.10.0.1'"},
      {"CNI_ARGS IP without prefix", R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"}})", "IP=10.10.0.1",
       "the 'ip' field is expected to be in CIDR notation, got: '10.10.0.1'"},
      {"args ip without prefix",
       R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"},"args":{"cni":{"ips":["10.10.0.1"]}}})", "",
       "an entry in the 'ips' field is NOT in CIDR notation, got: '10.10.0.1'"},
      {"RuntimeConfig ip without prefix",
       R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"},"RuntimeConfig":{"ips":["10.10.0.1"]}})", "",
       "an entry in the 'ips' field is NOT in CIDR notation, got: '10.10.0.1'"},
      {"bad CNI_ARGS gateway", R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"}})",
       "IP=10.10.0.1/24;GATEWAY=nope", "invalid gateway address: nope"},
      {"unknown CNI_ARGS", R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"}})", "MAC=c2:11:22:33:44:55",
       "ARGS: unknown args [\"MAC=c2:11:22:33:44:55\"]"},
      {"invalid CNI_ARGS pair", R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static"}})", "IP", "ARGS: invalid pair \"IP\""},
      {"bad config gateway",
       R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24","gateway":"x"}]}})",
       "", "invalid IP address: x"},
      {"addresses of the wrong type", R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static","addresses":"x"}})", "",
       "json: cannot unmarshal string into Go struct field IPAMConfig.ipam.addresses of type []main.Address"},
  };
  for (const auto& version : kAllVersions) {
    for (const auto& c : cases) {
      const auto reply = run_all(make_request("ADD", fill(c.config, {{"version", version}}), c.cni_args), version, c.what);
      EXPECT_EQ(reply.exit_code, 1) << c.what;
      const auto error = cni::Error::from_json(reply.stdout_data);
      ASSERT_TRUE(error.has_value()) << reply.stdout_data;
      EXPECT_EQ(error->code(), 999) << c.what;
      EXPECT_EQ(error->msg(), c.message) << c.what << " at " << version;
    }
  }
}

TEST_F(StaticTest, IgnoreUnknownLetsForeignCniArgsThrough) {
  for (const auto& version : kAllVersions) {
    const auto config = fill(std::string(kNoAddressConfig), {{"version", version}, {"extra", ""}});
    const auto reply = run_all(make_request("ADD", config, "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.1.1/24"), version, "IgnoreUnknown");
    EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  }
}

TEST_F(StaticTest, PerFamilyLimitPrintsTheVersionAsWritten) {
  // No cniVersion at all means 0.1.0, and the message prints the empty string the config held.
  const std::string config = R"({"name":"n","ipam":{"type":"static","addresses":[{"address":"10.1.0.1/24"},{"address":"10.2.0.1/24"}]}})";
  const auto reply = run_all(make_request("ADD", config), "0.1.0", "no cniVersion");
  EXPECT_EQ(cni::Error::from_json(reply.stdout_data)->msg(), "CNI version  does not support more than 1 address per family");
}

TEST_F(StaticTest, S9EcmpRoutesAreKeptAndDelOfNothingSucceeds) {
  constexpr std::string_view config = R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static",
    "addresses":[{"address":"10.10.0.1/24"}],
    "routes":[{"dst":"10.5.0.0/16","gw":"10.10.0.2"},{"dst":"10.5.0.0/16","gw":"10.10.0.3"}]}})";
  for (const auto& version : kAllVersions) {
    const auto stdin_config = fill(std::string(config), {{"version", version}});
    const auto reply = run_all(make_request("ADD", stdin_config), version, "S9 ADD");
    ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
    const auto result = cni::parse_result(std::string_view(reply.stdout_data));
    ASSERT_EQ(result.routes.size(), 2U) << version;
    EXPECT_EQ(result.routes[0].dst, result.routes[1].dst);
    EXPECT_NE(result.routes[0].gw, result.routes[1].gw);

    const auto del = run_all(make_request("DEL", stdin_config, "", "never-added"), version, "S9 DEL");
    EXPECT_EQ(del.exit_code, 0);
    EXPECT_EQ(del.stdout_data, "");
  }
}

TEST_F(StaticTest, ZeroAddressesIsAResultUnlessTheVersionNeedsAnIp) {
  for (const auto& version : kAllVersions) {
    const auto config = fill(std::string(kNoAddressConfig), {{"version", version}, {"extra", ""}});
    const auto reply = run_all(make_request("ADD", config), version, "no addresses");
    const bool legacy = version == "0.1.0" || version == "0.2.0";
    EXPECT_EQ(reply.exit_code, legacy ? 1 : 0) << reply.stdout_data;
  }
}

TEST_F(StaticTest, CheckMatchesGatewaysAgainstPrevResult) {
  constexpr std::string_view config = R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static",
    "addresses":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"}]}{prev}})";
  const std::string matching = R"(,"prevResult":{"cniVersion":"{version}","ips":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"}]})";
  const std::string other_gateway = R"(,"prevResult":{"cniVersion":"{version}","ips":[{"address":"10.10.0.1/24","gateway":"10.10.0.9"}]})";
  const std::string other_address = R"(,"prevResult":{"cniVersion":"{version}","ips":[{"address":"10.10.9.9/24"}]})";
  for (const auto& version : kAllVersions) {
    const auto with = [&](const std::string& prev) {
      return fill(std::string(config), {{"prev", fill(prev, {{"version", version}})}, {"version", version}});
    };
    const bool allowed = version == "0.4.0" || version.starts_with("1.");
    const auto ok = run_all(make_request("CHECK", with(matching)), version, "CHECK match");
    EXPECT_EQ(ok.exit_code, allowed ? 0 : 1) << ok.stdout_data;
    const auto missing = run_all(make_request("CHECK", with("")), version, "CHECK no prevResult");
    EXPECT_EQ(missing.exit_code, 1);
    const auto other = run_all(make_request("CHECK", with(other_address)), version, "CHECK other address");
    EXPECT_EQ(other.exit_code, allowed ? 0 : 1) << other.stdout_data;
    const auto bad = run_all(make_request("CHECK", with(other_gateway)), version, "CHECK gateway mismatch");
    ASSERT_EQ(bad.exit_code, 1);
    if (allowed) {
      EXPECT_EQ(cni::Error::from_json(bad.stdout_data)->msg(), "static: Failed to match addr 10.10.0.1 on interface eth0");
      EXPECT_EQ(cni::Error::from_json(missing.stdout_data)->msg(), "Required prevResult missing");
    }
  }
}

TEST_F(StaticTest, StatusAndGcSucceedAtOneOneZero) {
  const std::string config = R"({"cniVersion":"1.1.0","name":"n","ipam":{"type":"static"},
    "cni.dev/valid-attachments":[]})";
  for (const auto* command : {"STATUS", "GC"}) {
    const auto reply = run_all(make_request(command, config), "1.1.0", command);
    EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
    EXPECT_EQ(reply.stdout_data, "");
  }
}

TEST_F(StaticTest, OneOneZeroKeepsTheNewRouteFieldsAndOlderVersionsDropThem) {
  constexpr std::string_view config = R"({"cniVersion":"{version}","name":"n","ipam":{"type":"static",
    "addresses":[{"address":"10.10.0.1/24"}],"routes":[{"dst":"10.5.0.0/16","mtu":1400,"table":100}]}})";
  const auto modern = run_all(make_request("ADD", fill(std::string(config), {{"version", "1.1.0"}})), "1.1.0", "route fields");
  EXPECT_NE(modern.stdout_data.find("\"mtu\": 1400"), std::string::npos) << modern.stdout_data;
  EXPECT_NE(modern.stdout_data.find("\"table\": 100"), std::string::npos) << modern.stdout_data;
  // At 1.0.0 the comparison with the reference (which does not know the fields) is the proof.
  const auto older = run_all(make_request("ADD", fill(std::string(config), {{"version", "1.0.0"}})), "1.0.0", "route fields");
  EXPECT_EQ(older.stdout_data.find("mtu"), std::string::npos);
}

TEST_F(StaticTest, TheSoIsAPlexusPluginServingStatic) {
  const auto& info = trio_->so().info();
  EXPECT_EQ(info.abi_major, PLEXUS_ABI_MAJOR);
  EXPECT_STREQ(info.name_cstr, "static");
  ASSERT_EQ(info.types_count, 1U);
  EXPECT_STREQ(info.types[0], "static");
}

}  // namespace
}  // namespace plexus::ipam_test
