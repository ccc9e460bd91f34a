// ResultCache: libcni's on-disk format byte for byte, private modes, atomic replacement, and DEL's
// idempotence (a missing entry is success).
#include <plexus/cni/errors.hpp>
#include <plexus/invoke/result_cache.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
using plexus::invoke::CacheEntry;
using plexus::invoke::ResultCache;

class ResultCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "plexus-cache-XXXXXX").string();
    root = ::mkdtemp(pattern.data());
  }
  void TearDown() override { fs::remove_all(root); }

  static std::string slurp(const fs::path& file) {
    std::ifstream in(file);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  static void spit(const fs::path& file, const std::string& bytes) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << bytes;
  }
  static unsigned mode_of(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777U;
  }

  static CacheEntry sample() {
    CacheEntry entry;
    entry.container_id = "ctr-1";
    entry.config = R"({"a":1})";
    entry.ifname = "net1";
    entry.network_name = "ip-192";
    entry.netns = "/var/run/netns/p";
    entry.cni_args = {{"IgnoreUnknown", "1"}, {"MAC", "20:01:02:03:04:05"}};
    entry.capability_args = cni::parse_json(R"({"mac":"20:01:02:03:04:05","ips":["192.168.111.10/24"]})");
    entry.result = cni::parse_json(R"({"cniVersion":"1.0.0","ips":[{"address":"192.168.111.10/24","interface":0}]})");
    return entry;
  }

  fs::path root;
};

TEST_F(ResultCacheTest, WritesLibcnisFormatWithPrivateModes) {
  // The cache directory does not exist yet: every directory it creates is private.
  const ResultCache cache(root / "var" / "lib" / "cni");
  cache.write(sample());
  const auto file = root / "var/lib/cni/results/ip-192-ctr-1-net1";
  ASSERT_TRUE(fs::exists(file));
  // libcni's cachedInfo as json.Marshal prints it: struct order, []byte as base64, maps sorted.
  EXPECT_EQ(slurp(file),
            R"({"kind":"cniCacheV1","containerId":"ctr-1","config":"eyJhIjoxfQ==","ifName":"net1","networkName":"ip-192",)"
            R"("netns":"/var/run/netns/p","cniArgs":[["IgnoreUnknown","1"],["MAC","20:01:02:03:04:05"]],)"
            R"("capabilityArgs":{"ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"},)"
            R"("result":{"cniVersion":"1.0.0","ips":[{"address":"192.168.111.10/24","interface":0}]}})");
  EXPECT_EQ(mode_of(file), 0600U);
  EXPECT_EQ(mode_of(root / "var/lib/cni/results"), 0700U);
  EXPECT_EQ(mode_of(root / "var/lib/cni"), 0700U);
}

TEST_F(ResultCacheTest, ReadsBackWhatItWrote) {
  const ResultCache cache(root);
  auto entry = sample();
  entry.config = "ab";  // base64 padding of every length
  cache.write(entry);
  auto read = cache.read("ip-192", "ctr-1", "net1");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->config, "ab");
  EXPECT_EQ(read->container_id, "ctr-1");
  EXPECT_EQ(read->netns, "/var/run/netns/p");
  EXPECT_EQ(read->cni_args, entry.cni_args);
  EXPECT_EQ(read->capability_args["ips"][0], "192.168.111.10/24");
  EXPECT_EQ(read->result["ips"][0]["address"], "192.168.111.10/24");
  for (const std::string config : {"", "a", "abc", "abcd", R"({"cniVersion":"1.0.0","name":"n","plugins":[]})"}) {
    entry.config = config;
    cache.write(entry);
    EXPECT_EQ(cache.read("ip-192", "ctr-1", "net1")->config, config);
  }
}

TEST_F(ResultCacheTest, ReadsAnEntryLibcniWroteWithoutOptionalFields) {
  const ResultCache cache(root);
  spit(root / "results/n-c-eth0",
       R"({"kind":"cniCacheV1","containerId":"c","config":"eyJuYW1lIjoibiJ9","ifName":"eth0","networkName":"n"})");
  const auto entry = cache.read("n", "c", "eth0");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->config, R"({"name":"n"})");
  EXPECT_TRUE(entry->netns.empty());
  EXPECT_TRUE(entry->cni_args.empty());
  EXPECT_EQ(cache.read_result("n", "c", "eth0"), std::nullopt) << "no result cached";
}

TEST_F(ResultCacheTest, ReplacesAtomicallyAndLeavesNoTempFiles) {
  const ResultCache cache(root);
  auto entry = sample();
  cache.write(entry);
  entry.netns = "/var/run/netns/q";
  cache.write(entry);
  EXPECT_EQ(cache.read("ip-192", "ctr-1", "net1")->netns, "/var/run/netns/q");
  std::vector<std::string> names;
  for (const auto& file : fs::directory_iterator(root / "results")) names.push_back(file.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"ip-192-ctr-1-net1"});
}

TEST_F(ResultCacheTest, MissingEntriesAreNotErrors) {
  const ResultCache cache(root);
  EXPECT_EQ(cache.read("n", "c", "eth0"), std::nullopt);
  EXPECT_EQ(cache.read_result("n", "c", "eth0"), std::nullopt);
  EXPECT_NO_THROW(cache.remove("n", "c", "eth0"));
  EXPECT_TRUE(cache.list().empty());
  cache.write(sample());
  cache.remove("ip-192", "ctr-1", "net1");
  EXPECT_FALSE(fs::exists(root / "results/ip-192-ctr-1-net1"));
  EXPECT_NO_THROW(cache.remove("ip-192", "ctr-1", "net1")) << "twice is fine";
}

TEST_F(ResultCacheTest, BadEntriesAreErrorsInLibcnisWords) {
  const ResultCache cache(root);
  spit(root / "results/n-c-eth0", R"({"kind":"cniCacheV2","containerId":"c"})");
  try {
    (void)cache.read("n", "c", "eth0");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), "read cached network \"n\" config has wrong kind: cniCacheV2");
  }
  spit(root / "results/n-c-eth0", "{not json");
  try {
    (void)cache.read("n", "c", "eth0");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg().rfind("failed to unmarshal cached network \"n\" config: ", 0), 0U) << e.msg();
  }
  try {
    (void)cache.file_for("n", "", "eth0");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), R"(cache file path requires network name ("n"), container ID (""), and interface name ("eth0"))");
  }
}

TEST_F(ResultCacheTest, LegacyBareResultIsStillRead) {
  const ResultCache cache(root);
  spit(root / "results/n-c-eth0", R"({"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}],"dns":{}})");
  const auto result = cache.read_result("n", "c", "eth0");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ((*result)["ips"][0]["address"], "10.0.0.2/24");
}

TEST_F(ResultCacheTest, ListsAttachmentsAsGetCachedAttachments) {
  const ResultCache cache(root);
  auto entry = sample();
  cache.write(entry);
  entry.container_id = "ctr-2";
  cache.write(entry);
  entry.network_name = "other";
  cache.write(entry);
  spit(root / "results/junk-ctr-2-eth0", "garbage");
  const auto all = cache.list();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].container_id, "ctr-1");
  const auto only = cache.list("ctr-2");
  ASSERT_EQ(only.size(), 2U);
  EXPECT_EQ(only[0].network_name, "ip-192");
  EXPECT_EQ(only[1].network_name, "other");
}

}  // namespace
