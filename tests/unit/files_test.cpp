// The one path builder and the one bounded reader that every request-derived path and every
// outside file goes through (issue 9, classes 1 and 5).
#include "temp_dir.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace cni = plexus::cni;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

cni::Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no cni::Error thrown";
  return cni::Error(0, "");
}

TEST(PathUnder, JoinsOneSafeComponent) {
  EXPECT_EQ(cni::path_under("/var/lib/cni/multus", "c0ffee-1.2_x", "container ID"), fs::path("/var/lib/cni/multus/c0ffee-1.2_x"));
  EXPECT_EQ(cni::path_under("/var/lib/cni/./multus/", "..a", "container ID"), fs::path("/var/lib/cni/multus/..a"));
}

TEST(PathUnder, RefusesEverythingThatLeavesOrIsNoFileName) {
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "../x", "a/b", "/tmp/x", "x/..", std::string("a\0b", 3)}) {
    SCOPED_TRACE(bad);
    const auto error = error_of([&] { (void)cni::path_under("/var/lib/cni/multus", bad, "container ID"); });
    EXPECT_EQ(error.code(), 7);
    EXPECT_THAT(error.msg(), HasSubstr("container ID \"" + bad + "\""));
  }
}

TEST(ReadFileBounded, ReadsARegularFileAndSaysNoneForAMissingOne) {
  plexus::test::TempDir dir("files");
  const auto file = dir.write("f", "nameserver 10.0.0.1\n");
  EXPECT_EQ(cni::read_file_bounded(file, 1024, "resolvConf"), "nameserver 10.0.0.1\n");
  EXPECT_EQ(cni::read_file_bounded(file, 20, "resolvConf"), "nameserver 10.0.0.1\n");  // exactly the limit
  EXPECT_EQ(cni::read_file_bounded(dir.path() / "missing", 1024, "resolvConf"), std::nullopt);
  const auto error = error_of([&] { (void)cni::read_existing_file_bounded(dir.path() / "missing", 1024, "manifest"); });
  EXPECT_EQ(error.code(), 5);
  EXPECT_THAT(error.msg(), HasSubstr("missing"));
}

TEST(ReadFileBounded, ALargerFileIsCode7NamingFileAndLimit) {
  plexus::test::TempDir dir("files");
  const auto file = dir.write("big", std::string(21, 'x'));
  const auto error = error_of([&] { (void)cni::read_file_bounded(file, 20, "resolvConf"); });
  EXPECT_EQ(error.code(), 7);
  EXPECT_EQ(error.msg(), "resolvConf " + file.string() + " is larger than the limit of 20 bytes");
}

TEST(ReadFileBounded, DevZeroAFifoAndADirectoryAreRefusedAtOnce) {
  plexus::test::TempDir dir("files");
  const auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& special : {fs::path("/dev/zero"), fifo, dir.path()}) {
    SCOPED_TRACE(special.string());
    const auto start = std::chrono::steady_clock::now();
    const auto error = error_of([&] { (void)cni::read_file_bounded(special, cni::kMaxResolvConfBytes, "resolvConf"); });
    EXPECT_EQ(error.code(), 7);
    EXPECT_EQ(error.msg(), "resolvConf " + special.string() + " is not a regular file");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "a FIFO without writer must not block";
  }
}

TEST(ReadFdBounded, StopsOneByteAfterTheLimit) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::signal(SIGPIPE, SIG_IGN);  // the reader stops at the limit and closes its end
  std::thread writer([&] {
    const std::string chunk(4096, 'x');
    for (int i = 0; i < 64; ++i) {
      if (::write(fds[1], chunk.data(), chunk.size()) < 0) break;  // the reader stopped: EPIPE
    }
    ::close(fds[1]);
  });
  const auto error = error_of([&] { (void)cni::read_fd_bounded(fds[0], 10000, cni::kStdinDescription); });
  ::close(fds[0]);
  writer.join();
  EXPECT_EQ(error.code(), 7);
  EXPECT_EQ(error.msg(), "the network configuration on stdin (PLEXUS_MAX_STDIN_BYTES) is larger than the limit of 10000 bytes");
}

TEST(ReadStreamBounded, ReadsUpToTheLimitAndRefusesMore) {
  std::istringstream fits(std::string(100, 'a'));
  EXPECT_EQ(cni::read_stream_bounded(fits, 100, "stdin"), std::string(100, 'a'));
  std::istringstream over(std::string(101, 'a'));
  const auto error = error_of([&] { (void)cni::read_stream_bounded(over, 100, "stdin"); });
  EXPECT_EQ(error.code(), 7);
  EXPECT_EQ(error.msg(), "stdin is larger than the limit of 100 bytes");
}

TEST(MaxStdinBytes, SixteenMebibytesUnlessTheEnvironmentSaysOtherwise) {
  ::unsetenv("PLEXUS_MAX_STDIN_BYTES");
  EXPECT_EQ(cni::max_stdin_bytes(), 16U * 1024U * 1024U);
  ::setenv("PLEXUS_MAX_STDIN_BYTES", "1048576", 1);
  EXPECT_EQ(cni::max_stdin_bytes(), 1048576U);
  for (const char* ignored : {"0", "-5", "12k", ""}) {
    ::setenv("PLEXUS_MAX_STDIN_BYTES", ignored, 1);
    EXPECT_EQ(cni::max_stdin_bytes(), 16U * 1024U * 1024U) << ignored;
  }
  ::unsetenv("PLEXUS_MAX_STDIN_BYTES");
}

}  // namespace
