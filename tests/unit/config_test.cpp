#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>

#include <gtest/gtest.h>

namespace {

namespace cni = plexus::cni;

int code_of(const std::function<void()>& fn, std::string* msg = nullptr) {
  try {
    fn();
  } catch (const cni::Error& e) {
    if (msg != nullptr) *msg = e.msg();
    return e.code();
  }
  return 0;
}

TEST(NetConf, KeysMatchCaseInsensitivelyAndUnknownKeysStay) {
  const auto conf = cni::parse_netconf(R"({"cniVersion":"1.0.0","Name":"n1","type":"macvlan","master":"eth0",
    "RuntimeConfig":{"mac":"c2:11:22:33:44:55"},"ipam":{"type":"static"},"capabilities":{"ips":true,"mac":false}})");
  EXPECT_EQ(conf.name, "n1");
  EXPECT_EQ(conf.version(), "1.0.0");
  EXPECT_EQ(conf.runtime_config()["mac"], "c2:11:22:33:44:55");
  EXPECT_EQ(conf.ipam_type(), "static");
  EXPECT_EQ(conf.raw["master"], "eth0");
  EXPECT_TRUE(conf.capabilities.at("ips"));
  EXPECT_FALSE(conf.capabilities.at("mac"));
}

TEST(NetConf, LastDuplicateWinsAndNullMeansDefault) {
  const auto conf = cni::parse_netconf(R"({"name":"a","NAME":"b","type":"x","Type":null})");
  EXPECT_EQ(conf.name, "b");
  EXPECT_EQ(conf.type, "x");
  EXPECT_EQ(conf.version(), "0.1.0");
}

TEST(NetConf, StdinChecksAsSkel) {
  std::string msg;
  EXPECT_EQ(code_of([] { cni::validate_stdin_config("not json"); }, &msg), 6);
  EXPECT_EQ(msg.rfind("error unmarshall network config: ", 0), 0U) << msg;
  EXPECT_EQ(code_of([] { cni::validate_stdin_config(""); }, &msg), 6);
  EXPECT_EQ(msg, "error unmarshall network config: unexpected end of JSON input");
  EXPECT_EQ(code_of([] { cni::validate_stdin_config(R"({"type":"x"})"); }, &msg), 7);
  EXPECT_EQ(msg, "missing network name");
  EXPECT_EQ(code_of([] { cni::validate_stdin_config(R"({"name":"a b"})"); }, &msg), 7);
  EXPECT_EQ(msg, "invalid characters found in network name");
  EXPECT_EQ(code_of([] { cni::validate_stdin_config(R"({"name":7})"); }), 6);
}

TEST(NetConf, WrongTypeNamesTheField) {
  std::string msg;
  EXPECT_EQ(code_of([] { (void)cni::parse_netconf(R"({"name":"n","type":"x","ipam":"static"})"); }, &msg), 7);
  EXPECT_EQ(msg, "failed to load netconf: json: cannot unmarshal string into Go struct field NetConf.ipam of type types.IPAM");
}

TEST(ConfList, ParsesAndPicksVersion) {
  const auto list = cni::parse_conflist(R"({"name":"chain","cniVersion":"0.4.0","cniVersions":["0.4.0","1.0.0","9.0.0"],
    "disableCheck":"true","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]})");
  EXPECT_EQ(list.name, "chain");
  EXPECT_EQ(list.cni_version, "1.0.0") << "highest not above plexus's own";
  EXPECT_TRUE(list.disable_check);
  ASSERT_EQ(list.plugins.size(), 2U);
  EXPECT_EQ(list.plugins[1]["type"], "portmap");
}

TEST(ConfList, Errors) {
  std::string msg;
  EXPECT_EQ(code_of([] { (void)cni::parse_conflist(R"({"plugins":[{"type":"a"}]})"); }, &msg), 7);
  EXPECT_EQ(msg, "error parsing configuration list: no name");
  EXPECT_EQ(code_of([] { (void)cni::parse_conflist(R"({"name":"n","plugins":[]})"); }, &msg), 7);
  EXPECT_EQ(msg, "error parsing configuration list: no plugins in list");
  EXPECT_EQ(code_of([] { (void)cni::parse_conflist(R"({"name":"n","plugins":[{"name":"x"}]})"); }, &msg), 7);
  EXPECT_EQ(msg, "failed to parse plugin config 0: error parsing configuration: missing 'type'");
  EXPECT_EQ(code_of([] { (void)cni::parse_conflist(R"({"name":"n","disableCheck":"maybe","plugins":[{"type":"a"}]})"); }), 7);
}

TEST(Error, JsonAsSkelPrintsIt) {
  EXPECT_EQ(cni::Error(4, "required env variables [CNI_NETNS] missing").to_json(),
            "{\n    \"code\": 4,\n    \"msg\": \"required env variables [CNI_NETNS] missing\"\n}");
  EXPECT_EQ(cni::Error(7, "bad <value> & more", "d").to_json(),
            "{\n    \"code\": 7,\n    \"msg\": \"bad \\u003cvalue\\u003e \\u0026 more\",\n    \"details\": \"d\"\n}");
  const auto parsed = cni::Error::from_json(R"({"code": 11, "msg": "later", "details": "x"})");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->code(), 11);
  EXPECT_EQ(parsed->details(), "x");
  EXPECT_FALSE(cni::Error::from_json("garbage"));
}

}  // namespace

namespace {

TEST(Fields, TypedReadsWithGoWording) {
  const auto object = cni::parse_json(R"({"master":"eth0","MTU":1400,"linkInContainer":true,"ips":["a","b"],"mode":null})");
  EXPECT_EQ(cni::string_field(object, "master"), "eth0");
  EXPECT_EQ(cni::string_field(object, "mode", "bridge"), "bridge") << "null keeps the default";
  EXPECT_EQ(cni::int_field(object, "mtu"), 1400);
  EXPECT_TRUE(cni::bool_field(object, "linkInContainer"));
  EXPECT_EQ(cni::string_list_field(object, "ips"), (std::vector<std::string>{"a", "b"}));
  std::string msg;
  EXPECT_EQ(code_of([&] { (void)cni::int_field(object, "master"); }, &msg), 7);
  EXPECT_EQ(msg, "failed to load netconf: json: cannot unmarshal string into Go struct field NetConf.master of type int");
}

}  // namespace
