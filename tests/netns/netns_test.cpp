// in_netns: the right namespace, values and exceptions across the thread, the typed errors.
#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>
#include "netns.hpp"
#include "privileged.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace plexus::net {
namespace {

ino_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path);
  return st.st_ino;
}

ino_t thread_netns_inode() { return inode_of("/proc/thread-self/ns/net"); }

struct Marker : std::runtime_error {
  int value;
  explicit Marker(int v) : std::runtime_error("marker " + std::to_string(v)), value(v) {}
};

TEST(InNetns, RunsOnAThreadInsideTheNamespaceAndLeavesTheCallerWhereItWas) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("inns");
  const ino_t caller_before = thread_netns_inode();
  const ino_t target = inode_of(pod.path());
  ASSERT_NE(caller_before, target);

  const ino_t seen = in_netns(pod.path(), [] { return thread_netns_inode(); });

  EXPECT_EQ(seen, target);
  EXPECT_EQ(thread_netns_inode(), caller_before);
  EXPECT_EQ(Netns::open(pod.path()).inode(), target);
}

TEST(InNetns, ReturnsValuesIncludingMoveOnlyOnesAndRunsVoidFunctions) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("values");
  EXPECT_EQ(in_netns(pod.path(), [] { return std::string("from inside"); }), "from inside");
  auto owned = in_netns(pod.path(), [] { return std::make_unique<int>(42); });
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 42);
  int touched = 0;
  in_netns(pod.path(), [&] { touched = 7; });
  EXPECT_EQ(touched, 7);
}

TEST(InNetns, RethrowsTheFunctionsOwnExceptionOnTheCallersThread) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("throws");
  try {
    in_netns(pod.path(), []() -> int { throw Marker(5); });
    FAIL() << "no exception";
  } catch (const Marker& marker) {
    EXPECT_EQ(marker.value, 5);
    EXPECT_STREQ(marker.what(), "marker 5");
  }
}

TEST(InNetns, NetlinkSocketsOpenedInsideSeeOnlyThatNamespace) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("sock");
  pod.exec("ip link add plx-a type veth peer name plx-b");
  const auto names = in_netns(pod.path(), [] {
    Netlink nl;
    std::vector<std::string> out;
    for (const Link& link : nl.links()) out.push_back(link.name);
    return out;
  });
  EXPECT_EQ(names.size(), 3U);  // lo and the pair, nothing of the caller's namespace
  EXPECT_NE(std::find(names.begin(), names.end(), "plx-a"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "lo"), names.end());
}

TEST(InNetns, CurrentTakenOnTheCallerIsTheWayBackToTheHost) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("nested");
  const Netns host = Netns::current();
  const ino_t host_inode = thread_netns_inode();
  EXPECT_EQ(host.inode(), host_inode);
  const auto [inside, back_in_host, inside_current] = in_netns(pod.path(), [&] {
    const ino_t here = thread_netns_inode();
    const ino_t there = in_netns(host, [] { return thread_netns_inode(); });
    return std::tuple(here, there, static_cast<ino_t>(Netns::current().inode()));
  });
  EXPECT_EQ(inside, inode_of(pod.path()));
  EXPECT_EQ(inside_current, inside);
  EXPECT_EQ(back_in_host, host_inode);
}

// The namespace of every thread of this process, by inode.
std::vector<ino_t> netns_of_every_thread() {
  std::vector<ino_t> inodes;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    inodes.push_back(inode_of((task.path() / "ns" / "net").string()));
  }
  return inodes;
}

pid_t thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

TEST(InNetnsWorkers, AreReusedAndWaitBackInTheirHomeNamespaceSoNoPodNamespaceIsPinned) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("pool");
  const ino_t target = inode_of(pod.path());
  const pid_t first = in_netns(pod.path(), [] { return thread_id(); });
  const pid_t second = in_netns(pod.path(), [] { return thread_id(); });
  EXPECT_EQ(first, second) << "a parked worker serves the next call";
  EXPECT_NE(first, thread_id());
  // Parked between calls, the worker is back home: no thread of ours keeps the pod's namespace.
  const auto inodes = netns_of_every_thread();
  EXPECT_GE(inodes.size(), 2U);
  EXPECT_EQ(std::count(inodes.begin(), inodes.end(), target), 0);
}

TEST(InNetnsWorkers, AWorkerWhoseBodyThrewIsBackHomeAndServesTheNextCall) {
  PLEXUS_REQUIRE_ROOT();
  test::TestNetns pod("poolfail");
  const pid_t failed_on = [&] {
    pid_t worker = 0;
    EXPECT_THROW(in_netns(pod.path(), [&worker]() -> int {
                   worker = thread_id();
                   throw Marker(1);
                 }),
                 Marker);
    return worker;
  }();
  const auto inodes = netns_of_every_thread();
  EXPECT_EQ(std::count(inodes.begin(), inodes.end(), inode_of(pod.path())), 0);
  EXPECT_EQ(in_netns(pod.path(), [] { return thread_id(); }), failed_on);
  EXPECT_EQ(in_netns(pod.path(), [] { return thread_netns_inode(); }), inode_of(pod.path()));
}

TEST(InNetnsWorkers, ConcurrentCallersEachGetTheirOwnNamespace) {
  PLEXUS_REQUIRE_ROOT();
  std::vector<std::unique_ptr<test::TestNetns>> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(std::make_unique<test::TestNetns>("conc"));
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      const ino_t expected = inode_of(pods[static_cast<std::size_t>(i)]->path());
      for (int round = 0; round < 50; ++round) {
        const ino_t seen = in_netns(pods[static_cast<std::size_t>(i)]->path(), [] { return thread_netns_inode(); });
        if (seen != expected) ++wrong;
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(wrong.load(), 0);
  for (const auto& pod : pods) {
    const auto inodes = netns_of_every_thread();
    EXPECT_EQ(std::count(inodes.begin(), inodes.end(), inode_of(pod->path())), 0);
  }
}

TEST(NetnsOpen, AMissingPathIsNetnsNotFoundAndTheFunctionNeverRuns) {
  PLEXUS_REQUIRE_ROOT();
  const std::string path = "/run/netns/plexus-missing-" + std::to_string(::getpid());
  bool ran = false;
  try {
    in_netns(path, [&] { ran = true; });
    FAIL() << "no exception";
  } catch (const NetnsNotFound& error) {
    EXPECT_EQ(std::string(error.what()), "failed to Statfs \"" + path + "\": no such file or directory");
    EXPECT_EQ(error.path(), path);
  }
  EXPECT_FALSE(ran);
}

TEST(NetnsOpen, ARegularFileIsNotANetns) {
  PLEXUS_REQUIRE_ROOT();
  const std::string path = "/tmp/plexus-not-a-netns-" + std::to_string(::getpid());
  { std::ofstream(path) << "x"; }
  bool ran = false;
  EXPECT_THROW(in_netns(path, [&] { ran = true; }), NotANetns);
  try {
    Netns::open(path);
  } catch (const NotANetns& error) {
    EXPECT_NE(std::string(error.what()).find("unknown FS magic on \"" + path + "\""), std::string::npos) << error.what();
  }
  ::unlink(path.c_str());
  EXPECT_FALSE(ran);
}

TEST(NetnsOpen, AnotherKindOfNamespaceIsNotANetns) {
  PLEXUS_REQUIRE_ROOT();
  // nsfs like a network namespace, but a mount namespace: setns(CLONE_NEWNET) would refuse it.
  EXPECT_THROW(Netns::open("/proc/self/ns/mnt"), NotANetns);
  // The missing case is not NotANetns: DEL must be able to tell them apart.
  EXPECT_THROW(Netns::open("/proc/self/ns/plexus-nonexistent"), NetnsNotFound);
}

}  // namespace
}  // namespace plexus::net
