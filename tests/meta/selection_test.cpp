#include <plexus/cni/errors.hpp>
#include <plexus/meta/selection.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace plexus::meta {
namespace {

std::string error_of(const std::string& annotation) {
  try {
    parse_network_selections(annotation, "pod-ns");
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    return e.msg();
  }
  ADD_FAILURE() << "no error for " << annotation;
  return {};
}

TEST(NetworkSelection, EmptyAnnotationSelectsNothing) {
  EXPECT_TRUE(parse_network_selections("", "ns").empty());
  EXPECT_TRUE(parse_network_selections("  \n", "ns").empty());
}

TEST(NetworkSelection, CommaFormWithNamespaceAndInterface) {
  const auto selections = parse_network_selections(" net-a , other/net-b@eth9,net-c@fast0 ", "pod-ns");
  ASSERT_EQ(selections.size(), 3U);
  EXPECT_EQ(selections[0].name, "net-a");
  EXPECT_EQ(selections[0].namespace_name, "pod-ns");
  EXPECT_EQ(selections[0].interface, "");
  EXPECT_EQ(selections[1].qualified_name(), "other/net-b");
  EXPECT_EQ(selections[1].interface, "eth9");
  EXPECT_EQ(selections[2].namespace_name, "pod-ns");
  EXPECT_EQ(selections[2].interface, "fast0");
}

TEST(NetworkSelection, JsonFormEveryField) {
  const auto selections = parse_network_selections(R"([
    {"name":"ip-192","namespace":"lic","interface":"lic0","ips":["192.168.111.10/24","fd00::5"],
     "mac":"20:01:02:03:04:05","infiniband-guid":"c2:11:22:33:44:55:66:77","default-route":["192.168.111.1"],
     "portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],
     "bandwidth":{"ingressRate":1000,"egressRate":2000},"cni-args":{"foo":"bar"},"deviceID":"0000:03:02.3"},
    {"name":"old","interfaceRequest":"legacy0"}])",
                                                   "pod-ns");
  ASSERT_EQ(selections.size(), 2U);
  const auto& s = selections[0];
  EXPECT_EQ(s.qualified_name(), "lic/ip-192");
  EXPECT_EQ(s.interface, "lic0");
  EXPECT_EQ(s.ips, (std::vector<std::string>{"192.168.111.10/24", "fd00::5"}));
  EXPECT_EQ(s.mac, "20:01:02:03:04:05");
  EXPECT_EQ(s.infiniband_guid, "c2:11:22:33:44:55:66:77");
  EXPECT_EQ(s.default_route, std::vector<std::string>{"192.168.111.1"});
  ASSERT_TRUE(s.port_mappings);
  EXPECT_EQ((*s.port_mappings)[0]["hostPort"], 8080);
  ASSERT_TRUE(s.bandwidth);
  EXPECT_EQ((*s.bandwidth)["egressRate"], 2000);
  ASSERT_TRUE(s.cni_args);
  EXPECT_EQ((*s.cni_args)["foo"], "bar");
  EXPECT_EQ(s.device_id, "0000:03:02.3");
  EXPECT_EQ(selections[1].namespace_name, "pod-ns");
  EXPECT_EQ(selections[1].interface, "legacy0");  // the deprecated key still works
}

TEST(NetworkSelection, InterfaceWinsOverDeprecatedInterfaceRequest) {
  const auto selections = parse_network_selections(R"([{"name":"n","interface":"new0","interfaceRequest":"old0"}])", "ns");
  EXPECT_EQ(selections.at(0).interface, "new0");
}

TEST(NetworkSelection, ValidationErrorsQuoteTheOffendingText) {
  EXPECT_NE(error_of(R"([{"name":"n",)").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":"n"})").find("must be a list"), std::string::npos);
  EXPECT_NE(error_of(R"(["n"])").find("must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","mac":"20:01:02:03:04"}])").find("\"20:01:02:03:04\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","infiniband-guid":"zz"}])").find("infiniband GUID \"zz\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","ips":["10.0.0.1/33"]}])").find("CIDR address \"10.0.0.1/33\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","ips":["10.0.0.300"]}])").find("IP address \"10.0.0.300\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","ips":"10.0.0.1"}])").find("\"ips\" must be a list"), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","default-route":["gw"]}])").find("\"gw\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","cni-args":[1]}])").find("\"cni-args\" must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","portMappings":{}}])").find("\"portMappings\" must be a list"), std::string::npos);
  EXPECT_NE(error_of(R"([{"namespace":"x"}])").find("no network name"), std::string::npos);
}

TEST(NetworkSelection, KubernetesNameRules) {
  EXPECT_NE(error_of("Net_A").find("\"Net_A\" is not a DNS-1123 label"), std::string::npos);
  EXPECT_NE(error_of("-net").find("\"-net\""), std::string::npos);
  EXPECT_NE(error_of("Bad.NS/net").find("namespace \"Bad.NS\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"UPPER"}])").find("\"UPPER\""), std::string::npos);
  EXPECT_NE(error_of(std::string(64, 'a')).find("DNS-1123"), std::string::npos);
  EXPECT_NE(error_of("a/b/c").find("more than one '/'"), std::string::npos);
  EXPECT_NE(error_of("n@a@b").find("more than one '@'"), std::string::npos);
  EXPECT_NO_THROW(parse_network_selections(std::string(63, 'a'), "ns"));
}

TEST(NetworkSelection, InterfaceNameRules) {
  EXPECT_NE(error_of("net@abcdefghijklmnop").find("\"abcdefghijklmnop\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","interface":"a/b"}])").find("\"a/b\""), std::string::npos);
  EXPECT_NE(error_of(R"([{"name":"n","interface":"a b"}])").find("\"a b\""), std::string::npos);
  EXPECT_NO_THROW(parse_network_selections("net@abcdefghijklmno", "ns"));  // 15 is the limit
}

// Issue 9: every name the kernel would refuse, or that names no file, is code 7 naming the
// network and the value, in both forms.
TEST(NetworkSelection, HostileInterfaceNamesNameTheNetworkAndTheValue) {
  for (const auto& [annotation, quoted] : std::vector<std::pair<std::string, std::string>>{
           {R"([{"name":"n","interface":"a:b"}])", R"("a:b")"},
           {R"([{"name":"n","interface":"lan\u0001"}])", R"("lan\u0001")"},
           {R"([{"name":"n","interface":"lan\u007f"}])", "\"lan\x7f\""},  // Go leaves DEL unescaped
           {R"([{"name":"n","interface":"a\tb"}])", R"("a\tb")"},
           {R"([{"name":"n","interface":"."}])", R"(".")"},
           {R"([{"name":"n","interface":".."}])", R"("..")"},
           {"n@a:b", R"("a:b")"},
           {"n@..", R"("..")"}}) {
    SCOPED_TRACE(annotation);
    const auto msg = error_of(annotation);
    EXPECT_NE(msg.find("network \"n\" asks for interface name " + quoted), std::string::npos) << msg;
  }
  EXPECT_NE(error_of("n@").find("network \"n\" asks for an empty interface name"), std::string::npos);
  EXPECT_FALSE(is_valid_ifname(std::string("a\0b", 3)));
}

TEST(NetworkSelection, PerPodLimitsOfSizeAndCount) {
  std::string sixty_four = "n0";
  for (int i = 1; i < 64; ++i) sixty_four += ",n" + std::to_string(i);
  EXPECT_EQ(parse_network_selections(sixty_four, "ns").size(), 64U);
  EXPECT_EQ(error_of(sixty_four + ",n64"), "invalid network selection annotation: it names 65 networks, more than the limit of 64 per pod");

  const std::string padded = R"([{"name":"n","cni-args":{"pad":")";
  const auto fits = padded + std::string(kMaxSelectionAnnotationBytes - padded.size() - 4, 'x') + R"("}}])";
  ASSERT_EQ(fits.size(), 65536U);
  EXPECT_EQ(parse_network_selections(fits, "ns").size(), 1U);
  EXPECT_EQ(error_of(fits + " "),
            "invalid network selection annotation: it is 65537 bytes, more than the limit of 65536 bytes per pod");
}

TEST(NetworkSelection, HardwareAddressForms) {
  EXPECT_TRUE(is_hardware_address("00:11:22:33:44:55"));
  EXPECT_TRUE(is_hardware_address("00-11-22-33-44-55-66-77"));
  EXPECT_TRUE(is_hardware_address("0011.2233.4455"));
  EXPECT_FALSE(is_hardware_address("00:11:22:33:44"));
  EXPECT_FALSE(is_hardware_address("00:11:22:33:44:5g"));
}

}  // namespace
}  // namespace plexus::meta
