#include "meta_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/meta/cache.hpp>

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace plexus::meta {
namespace {

using test::TempDir;

CacheEntry sample_entry() {
  CacheEntry entry;
  entry.container_id = "c0ffee";
  entry.pod_namespace = "app";
  entry.pod_name = "web";
  entry.pod_uid = "1234";
  entry.cni_version = "1.0.0";
  Delegate master;
  master.network_name = "cbr0";
  master.config = "{ \"name\" : \"cbr0\",\n  \"type\":\"bridge\", \"kubeconfig\": \"/etc/x\" }";  // odd spacing kept
  master.cluster_network = true;
  master.ifname = "eth0";
  master.cni_args = "IgnoreUnknown=true;K8S_POD_NAME=web";
  Delegate licence;
  licence.network_name = "app/ip-192";
  licence.config = R"({"name":"ip-192","plugins":[{"type":"macvlan"}]})";
  licence.conflist = true;
  licence.ifname = "net1";
  licence.ips = {"192.168.111.10/24"};
  licence.mac = "20:01:02:03:04:05";
  licence.default_route = {"192.168.111.1"};
  licence.device_id = "0000:03:02.3";
  licence.resource_name = "intel.com/sriov";
  entry.delegates = {master, licence};
  return entry;
}

TEST(DelegateCache, RoundTripKeepsConfigBytesExactly) {
  TempDir dir;
  const DelegateCache cache(dir.path() / "multus");
  const auto entry = sample_entry();
  cache.write(entry);
  const auto lookup = cache.read("c0ffee");
  ASSERT_TRUE(std::holds_alternative<CacheEntry>(lookup));
  EXPECT_EQ(std::get<CacheEntry>(lookup), entry);

  struct stat info {};
  ASSERT_EQ(::stat(cache.path_for("c0ffee").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  // No temp file left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "multus"), {}), 1);
}

TEST(DelegateCache, OverwriteReplacesAtomically) {
  TempDir dir;
  const DelegateCache cache(dir.path());
  auto entry = sample_entry();
  cache.write(entry);
  entry.delegates.pop_back();
  cache.write(entry);
  EXPECT_EQ(std::get<CacheEntry>(cache.read("c0ffee")).delegates.size(), 1U);
}

TEST(DelegateCache, MissingAndRemove) {
  TempDir dir;
  const DelegateCache cache(dir.path());
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Missing>(cache.read("nope")));
  EXPECT_NO_THROW(cache.remove("nope"));
  cache.write(sample_entry());
  cache.remove("c0ffee");
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Missing>(cache.read("c0ffee")));
}

TEST(DelegateCache, CorruptContentIsReportedNotThrown) {
  TempDir dir;
  const DelegateCache cache(dir.path());
  dir.write("truncated", R"({"containerID":"truncated","delegates":[)");
  dir.write("wrong-shape", R"({"containerID":"wrong-shape","podNamespace":"a","podName":"b","podUID":"","cniVersion":"1.0.0","delegates":[{"name":1}]})");
  dir.write("bad-config", R"({"containerID":"bad-config","podNamespace":"a","podName":"b","podUID":"","cniVersion":"1.0.0","delegates":[{"name":"n","ifname":"eth0","clusterNetwork":true,"conflist":false,"cniArgs":"","config":"{oops","ips":[],"mac":"","defaultRoute":[],"deviceID":""}]})");
  for (const auto* id : {"truncated", "wrong-shape", "bad-config"}) {
    const auto lookup = cache.read(id);
    ASSERT_TRUE(std::holds_alternative<DelegateCache::Corrupt>(lookup)) << id;
    EXPECT_NE(std::get<DelegateCache::Corrupt>(lookup).reason.find(id), std::string::npos) << id;
  }
}

TEST(DelegateCache, FileOfAnotherContainerIsCorrupt) {
  TempDir dir;
  const DelegateCache cache(dir.path());
  cache.write(sample_entry());
  std::filesystem::rename(cache.path_for("c0ffee"), cache.path_for("other"));
  EXPECT_TRUE(std::holds_alternative<DelegateCache::Corrupt>(cache.read("other")));
}

TEST(DelegateCache, UnwritableDirectoryIsCode5) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
  TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  const DelegateCache cache(dir.path());
  try {
    cache.write(sample_entry());
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 5);
  }
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
}

}  // namespace
}  // namespace plexus::meta
