// ChainRunner against script plugins that record what they receive, and Debian's static IPAM:
// the bytes each plugin gets, the order, where a chain stops, and what the cache holds.
#include <plexus/cni/errors.hpp>
#include <plexus/invoke/chain.hpp>
#include <plexus/invoke/exec_invoker.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
using namespace plexus::invoke;

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "plexus-chain-XXXXXX").string();
    root = ::mkdtemp(pattern.data());
    cache = ResultCache(root / "cache");
    fs::create_directories(root / "bin");
    fs::create_directories(root / "seen");
    // Each recorder saves its stdin and logs the call; on ADD it prints its result.
    recorder("rec-a", R"({"cniVersion":"1.0.0","ips":[{"address":"10.2.0.2/24"}]})");
    recorder("rec-b", R"({"cniVersion":"1.0.0","interfaces":[{"name":"net1"}],"ips":[{"address":"10.2.0.3/24","interface":0}]})");
    recorder("rec-c", R"({"cniVersion":"1.0.0"})");
    script("fail", R"(cat > /dev/null; echo "$CNI_COMMAND fail" >> )" + (root / "log").string() +
                       R"(; printf '%s' '{"code":7,"msg":"bad config","details":"no such key"}'; exit 1)");
  }
  void TearDown() override { fs::remove_all(root); }

  void script(const std::string& name, const std::string& body) const {
    std::ofstream(root / "bin" / name) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(root / "bin" / name, fs::perms(0755));
  }
  void recorder(const std::string& name, const std::string& result) const {
    script(name, "cat > " + (root / "seen").string() + "/" + name + ".$CNI_COMMAND\n" +
                     "echo \"$CNI_COMMAND " + name + " $CNI_CONTAINERID $CNI_ARGS\" >> " + (root / "log").string() + "\n" +
                     "[ \"$CNI_COMMAND\" = ADD ] && printf '%s' '" + result + "'\nexit 0");
  }
  static std::string slurp(const fs::path& file) {
    std::ifstream in(file);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  std::string seen(const std::string& name, const std::string& command) const {
    return slurp(root / "seen" / (name + "." + command));
  }
  std::string log() const { return slurp(root / "log"); }

  ChainRunner runner() { return ChainRunner(exec, cache, (root / "bin").string() + ":" PLEXUS_REFERENCE_CNI_DIR); }
  static RuntimeConf runtime(const std::string& cid = "ctr-1") {
    RuntimeConf rt;
    rt.container_id = cid;
    rt.netns = "/var/run/netns/plexus-chain";
    rt.ifname = "net1";
    rt.args = {{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "p"}};
    return rt;
  }

  fs::path root;
  ExecInvoker exec;
  ResultCache cache;  // set to the test's own directory in SetUp
};

TEST_F(ChainTest, AddInjectsNameVersionAndPrevResultWithSortedKeys) {
  const auto network = Network::parse(
      R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"rec-a","name":"ignored"},)"
      R"({"type":"rec-b","zeta":{"y":1,"x":2},"alpha":true}]})");
  const auto result = runner().add(network, runtime());
  EXPECT_EQ(seen("rec-a", "ADD"), R"({"cniVersion":"1.0.0","name":"chain","type":"rec-a"})")
      << "the list's name replaces the plugin's own; no prevResult for the first";
  EXPECT_EQ(seen("rec-b", "ADD"),
            R"({"alpha":true,"cniVersion":"1.0.0","name":"chain",)"
            R"("prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.2.0.2/24"}]},"type":"rec-b","zeta":{"x":2,"y":1}})");
  ASSERT_EQ(result.ips.size(), 1U);
  EXPECT_EQ(result.ips[0].address.to_string(), "10.2.0.3/24") << "the last plugin's result";
  EXPECT_EQ(log(), "ADD rec-a ctr-1 IgnoreUnknown=1;K8S_POD_NAME=p\nADD rec-b ctr-1 IgnoreUnknown=1;K8S_POD_NAME=p\n");

  const auto entry = cache.read("chain", "ctr-1", "net1");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->config, network.bytes);
  EXPECT_EQ(entry->result["ips"][0]["address"], "10.2.0.3/24");
  EXPECT_EQ(entry->cni_args, runtime().args);
}

TEST_F(ChainTest, PrevResultIsConvertedToTheListVersion) {
  // rec-a answers 1.0.0 to a 0.4.0 list; rec-b must get a 0.4.0 result, in its struct order.
  const auto network =
      Network::parse(R"({"cniVersion":"0.4.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"rec-b"}]})");
  (void)runner().add(network, runtime());
  EXPECT_EQ(seen("rec-b", "ADD"),
            R"({"cniVersion":"0.4.0","name":"chain",)"
            R"("prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.2.0.2/24"}],"dns":{}},"type":"rec-b"})");
}

TEST_F(ChainTest, RuntimeConfigIsFilteredByCapabilities) {
  // Debian's static takes its address from runtimeConfig.ips; rec-b declares only mac.
  const auto network = Network::parse(
      R"({"cniVersion":"0.4.0","name":"chain","plugins":[)"
      R"({"type":"static","capabilities":{"ips":true},"ipam":{"type":"static","addresses":[{"address":"10.9.0.2/24"}]}},)"
      R"({"type":"rec-b","capabilities":{"mac":true,"ips":false},"runtimeConfig":{"stale":1}},)"
      R"({"type":"rec-c","runtimeConfig":{"kept":1}}]})");
  auto rt = runtime();
  rt.capability_args = cni::parse_json(R"({"ips":["10.1.0.5/24"],"mac":"20:01:02:03:04:05","portMappings":[]})");
  (void)runner().add(network, rt);
  const auto to_b = cni::parse_json(seen("rec-b", "ADD"));
  EXPECT_EQ(to_b["runtimeConfig"], cni::parse_json(R"({"mac":"20:01:02:03:04:05"})")) << "replaced, filtered";
  EXPECT_EQ(to_b["prevResult"]["ips"][0]["address"], "10.1.0.5/24") << "static got runtimeConfig.ips";
  EXPECT_EQ(to_b["capabilities"], cni::parse_json(R"({"ips":false,"mac":true})")) << "capabilities stay";
  const auto to_c = cni::parse_json(seen("rec-c", "ADD"));
  EXPECT_EQ(to_c["runtimeConfig"], cni::parse_json(R"({"kept":1})")) << "no capability: left alone";
  // With runtimeConfig injected libcni re-marshals everything through a map: prevResult sorted too.
  EXPECT_NE(seen("rec-b", "ADD").find(R"("prevResult":{"cniVersion":"0.4.0","dns":{},"ips":[{"address":"10.1.0.5/24","version":"4"}]})"),
            std::string::npos)
      << seen("rec-b", "ADD");
}

TEST_F(ChainTest, AddStopsAtTheFirstFailureWithLibcnisWording) {
  const auto network = Network::parse(
      R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"fail","name":"inner"},{"type":"rec-c"}]})");
  try {
    (void)runner().add(network, runtime());
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7) << "the plugin's own code";
    EXPECT_EQ(e.msg(), R"(plugin type="fail" name="inner" failed (add): bad config)");
    EXPECT_EQ(e.details(), "no such key");
  }
  EXPECT_FALSE(fs::exists(root / "seen/rec-c.ADD")) << "nothing after the failure runs";
  EXPECT_EQ(cache.read("chain", "ctr-1", "net1"), std::nullopt) << "a failed ADD caches nothing";
}

TEST_F(ChainTest, AddValidatesTheRuntimeAndFindsMissingPlugins) {
  const auto network = Network::parse(R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"rec-a"}]})");
  try {
    (void)runner().add(network, runtime("bad%id"));
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 4);
    EXPECT_EQ(std::string(e.what()), R"(plugin type="rec-a" failed (add): invalid characters in containerID; bad%id)");
  }
  const auto missing = Network::parse(R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"plexus-nope"}]})");
  try {
    (void)runner().add(missing, runtime());
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), "plugin type=\"plexus-nope\" failed (add): failed to find plugin \"plexus-nope\" in path [" +
                           (root / "bin").string() + " " PLEXUS_REFERENCE_CNI_DIR "]");
  }
}

TEST_F(ChainTest, DelRunsInReverseWithTheCachedResult) {
  const auto network =
      Network::parse(R"({"cniVersion":"0.4.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"rec-b"}]})");
  (void)runner().add(network, runtime());
  runner().del(network, runtime());
  EXPECT_NE(log().find("DEL rec-b ctr-1 IgnoreUnknown=1;K8S_POD_NAME=p\nDEL rec-a ctr-1"), std::string::npos) << log();
  // Both get the chain's final (rec-b's) result, in the list's version.
  for (const auto* plugin : {"rec-a", "rec-b"}) {
    const auto stdin_data = cni::parse_json(seen(plugin, "DEL"));
    EXPECT_EQ(stdin_data["prevResult"]["ips"][0]["address"], "10.2.0.3/24") << plugin;
    EXPECT_EQ(stdin_data["prevResult"]["cniVersion"], "0.4.0") << plugin;
  }
  EXPECT_FALSE(fs::exists(root / "cache/results/chain-ctr-1-net1")) << "the entry is removed";

  // Again, with nothing cached: still success, no prevResult.
  runner().del(network, runtime());
  EXPECT_FALSE(cni::parse_json(seen("rec-a", "DEL")).contains("prevResult"));
}

TEST_F(ChainTest, DelBelow040GetsNoPrevResultAndAFailureIsWrapped) {
  const auto old = Network::parse(R"({"cniVersion":"0.3.1","name":"chain","plugins":[{"type":"rec-a"}]})");
  (void)runner().add(old, runtime());
  runner().del(old, runtime());
  EXPECT_FALSE(cni::parse_json(seen("rec-a", "DEL")).contains("prevResult"));

  const auto failing = Network::parse(R"({"cniVersion":"0.4.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"fail"}]})");
  try {
    runner().del(failing, runtime());
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), R"(plugin type="fail" failed (delete): bad config)");
  }
}

TEST_F(ChainTest, CheckNeeds040AndHonoursDisableCheck) {
  const auto old = Network::parse(R"({"cniVersion":"0.3.1","name":"chain","plugins":[{"type":"rec-a"}]})");
  try {
    runner().check(old, runtime());
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), R"(configuration version "0.3.1" does not support the CHECK command)");
  }
  const auto disabled = Network::parse(
      R"({"cniVersion":"1.0.0","name":"chain","disableCheck":"true","plugins":[{"type":"fail"}]})");
  EXPECT_NO_THROW(runner().check(disabled, runtime()));

  const auto network =
      Network::parse(R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"rec-b"}]})");
  (void)runner().add(network, runtime());
  runner().check(network, runtime());
  EXPECT_NE(log().find("CHECK rec-a ctr-1 IgnoreUnknown=1;K8S_POD_NAME=p\nCHECK rec-b"), std::string::npos) << log();
  EXPECT_EQ(cni::parse_json(seen("rec-a", "CHECK"))["prevResult"]["ips"][0]["address"], "10.2.0.3/24");

  const auto failing = Network::parse(R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"fail"}]})");
  try {
    runner().check(failing, runtime());
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 7);
    EXPECT_EQ(e.msg(), "bad config") << "CHECK errors are returned as the plugin gave them";
  }
}

TEST_F(ChainTest, StatusIsForwardedFrom110) {
  const auto old = Network::parse(R"({"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"fail"}]})");
  EXPECT_NO_THROW(runner().status(old)) << "below 1.1.0 nothing is asked";
  const auto network =
      Network::parse(R"({"cniVersion":"1.1.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"rec-b"}]})");
  runner().status(network);
  EXPECT_EQ(log(), "STATUS rec-a  \nSTATUS rec-b  \n") << "no container, no CNI_ARGS";
  EXPECT_EQ(seen("rec-b", "STATUS"), R"({"cniVersion":"1.1.0","name":"chain","type":"rec-b"})");
  const auto failing = Network::parse(R"({"cniVersion":"1.1.0","name":"chain","plugins":[{"type":"fail"},{"type":"rec-c"}]})");
  EXPECT_THROW(runner().status(failing), cni::Error);
  EXPECT_FALSE(fs::exists(root / "seen/rec-c.STATUS"));
}

TEST_F(ChainTest, GcDeletesStaleAttachmentsThenForwardsGc) {
  const auto network =
      Network::parse(R"({"cniVersion":"1.1.0","name":"chain","plugins":[{"type":"rec-a"},{"type":"rec-b"}]})");
  (void)runner().add(network, runtime("keep"));
  (void)runner().add(network, runtime("stale"));
  fs::remove(root / "log");
  runner().gc(network, std::vector<GcAttachment>{{"keep", "net1"}});
  EXPECT_TRUE(fs::exists(root / "cache/results/chain-keep-net1"));
  EXPECT_FALSE(fs::exists(root / "cache/results/chain-stale-net1"));
  EXPECT_EQ(log(),
            "DEL rec-b stale IgnoreUnknown=1;K8S_POD_NAME=p\nDEL rec-a stale IgnoreUnknown=1;K8S_POD_NAME=p\n"
            "GC rec-a  \nGC rec-b  \n")
      << "the stale DEL uses the cached CNI_ARGS";
  EXPECT_EQ(seen("rec-a", "GC"),
            R"({"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"net1"}],"cniVersion":"1.1.0","name":"chain","type":"rec-a"})");
}

TEST_F(ChainTest, ASingleConfIsAChainOfOne) {
  const std::string conf =
      R"({"cniVersion":"1.0.0","name":"single","type":"static","ipam":{"type":"static","addresses":[{"address":"10.7.0.2/24","gateway":"10.7.0.1"}]}})";
  const auto network = Network::parse(conf);
  ASSERT_EQ(network.list.plugins.size(), 1U);
  const auto result = runner().add(network, runtime());
  ASSERT_EQ(result.ips.size(), 1U);
  EXPECT_EQ(result.ips[0].address.to_string(), "10.7.0.2/24");
  const auto entry = cache.read("single", "ctr-1", "net1");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->config, conf) << "the .conf bytes are what is cached";
  runner().del(network, runtime());
  EXPECT_EQ(cache.read("single", "ctr-1", "net1"), std::nullopt);
}

}  // namespace
