// plexus::exec and ExecInvoker against Debian's reference binaries and small script plugins.
#include <plexus/cni/errors.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/exec_invoker.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace cni = plexus::cni;
namespace exec = plexus::exec;

const fs::path kReference = PLEXUS_REFERENCE_CNI_DIR;

class ScriptDir {
 public:
  ScriptDir() {
    std::string pattern = (fs::temp_directory_path() / "plexus-exec-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScriptDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& body) const {
    const auto file = path_ / name;
    std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(file, fs::perms(0755));
    return file;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

cni::Request add_request(const std::string& config) {
  return {"ADD", "ctr1", "/var/run/netns/plexus-none", "net1", "", PLEXUS_REFERENCE_CNI_DIR, config, ""};
}

TEST(Exec, ReferenceVersionIsParsed) {
  // Debian's 1.1.1 (built with libcni 1.1.2) stops at 1.0.0.
  EXPECT_EQ(exec::supported_versions(kReference / "macvlan"),
            (std::vector<std::string>{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}));
}

TEST(Exec, PluginWithoutVersionCommandIsA010Plugin) {
  ScriptDir dir;
  const auto old = dir.write("old", R"(echo '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1)");
  EXPECT_EQ(exec::supported_versions(old), std::vector<std::string>{"0.1.0"});
  const auto broken = dir.write("broken", R"(echo '{"code":5,"msg":"disk on fire"}'; exit 1)");
  try {
    (void)exec::supported_versions(broken);
    FAIL() << "a VERSION failure other than the unknown command is an error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), 5);
    EXPECT_EQ(e.msg(), "disk on fire");
  }
}

TEST(Exec, ReferenceErrorSurfacesWithCodeAndMessage) {
  auto request = add_request(R"({"cniVersion":"0.4.0","name":"n","type":"macvlan"})");
  request.netns.clear();
  auto reply = exec::run(kReference / "macvlan", request);
  EXPECT_EQ(reply.exit_code, 1);
  ASSERT_TRUE(exec::error_of(reply).has_value());
  auto error = *exec::error_of(reply);
  EXPECT_EQ(error.code(), 4);
  EXPECT_EQ(error.msg(), "required env variables [CNI_NETNS] missing");

  // A master that does not exist fails before any namespace is touched.
  reply = exec::run(kReference / "macvlan",
                    add_request(R"({"cniVersion":"0.4.0","name":"n","type":"macvlan","master":"plexus-nope0"})"));
  error = cni::reply_error(reply);
  EXPECT_EQ(error.code(), 999);
  EXPECT_EQ(error.msg(), "Link not found");
}

TEST(Exec, FindInPathAsLibcni) {
  EXPECT_EQ(exec::find_in_path("static", "/nonexistent:" PLEXUS_REFERENCE_CNI_DIR), kReference / "static");
  try {
    (void)exec::find_in_path("nope", "/a:/b");
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), "failed to find plugin \"nope\" in path [/a /b]");
  }
  EXPECT_THROW((void)exec::find_in_path("static", ""), cni::Error);
}

// A type is a plain file name: never a path that leaves CNI_PATH, whatever exists there.
TEST(Exec, FindInPathRefusesATypeThatIsNoPlainFileNameWithCode7) {
  ScriptDir dir;
  dir.write("plugin", "exit 0");
  const auto inside = dir.path() / "sub";
  fs::create_directories(inside);
  const std::string escape = "../" + dir.path().filename().string() + "/plugin";  // exists, seen from sub/
  for (const std::string& type : {std::string("../../bin/sh"), std::string("/bin/sh"), escape, std::string(".."),
                                 std::string("."), std::string("sh\0x", 4), std::string("a..b")}) {
    SCOPED_TRACE(type);
    EXPECT_FALSE(exec::is_plain_plugin_name(type));
    try {
      (void)exec::find_in_path(type, inside.string() + ":/bin");
      FAIL() << "found a plugin for a type that is a path";
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 7);
      EXPECT_NE(e.msg().find("invalid plugin name"), std::string::npos) << e.msg();
    }
  }
  EXPECT_TRUE(exec::is_plain_plugin_name("host-local"));
  EXPECT_TRUE(exec::is_plain_plugin_name("my.plugin_v2"));
  // ExecInvoker answers with the same error, and runs nothing.
  plexus::invoke::ExecInvoker invoker;
  auto request = add_request("{}");
  request.path = inside.string() + ":/bin";
  const auto reply = invoker.invoke("../../bin/sh", request);
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_EQ(cni::reply_error(reply).code(), 7);
  EXPECT_NE(cni::reply_error(reply).msg().find("\"../../bin/sh\""), std::string::npos) << reply.stdout_data;
}

TEST(Exec, EnvironmentAndStdinReachThePlugin) {
  ScriptDir dir;
  const auto script = dir.write("echoenv", R"(printf '%s|%s|%s|%s|%s|' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS"; cat)");
  cni::Request request{"ADD", "c9", "/ns", "eth3", "A=1", dir.path().string(), "{\"x\":1}", ""};
  const auto reply = exec::run(script, request);
  EXPECT_EQ(reply.exit_code, 0);
  EXPECT_EQ(reply.stdout_data, "ADD|c9|/ns|eth3|A=1|{\"x\":1}");
}

TEST(Exec, ErrorOnlyOnStderrIsReadFromThere) {
  ScriptDir dir;
  const auto script = dir.write("fails", "echo boom >&2; exit 1");
  const auto reply = exec::run(script, add_request("{}"));
  EXPECT_EQ(reply.exit_code, 1);
  ASSERT_TRUE(exec::error_of(reply).has_value());
  EXPECT_EQ(exec::error_of(reply)->msg(), "netplugin failed: \"boom\n\"");
  EXPECT_EQ(exec::error_of(exec::run(dir.write("ok", "echo '{}' ; echo noise >&2"), add_request("{}"))), std::nullopt)
      << "exit 0 is success whatever stderr says";
}

TEST(Exec, TimeoutKillsTheChild) {
  ScriptDir dir;
  const auto script = dir.write("sleeper", "exec sleep 30");
  exec::ExecOptions options;
  options.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  const auto reply = exec::run(script, add_request("{}"), options);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(cni::reply_error(reply).code(), 11);
  EXPECT_NE(cni::reply_error(reply).msg().find("timed out after 300 ms"), std::string::npos);
}

TEST(Exec, OutputOverTheCapIsRefusedAndUnderItArrivesIntact) {
  ScriptDir dir;
  const auto big = dir.write("big", "head -c 2097152 /dev/zero | tr '\\0' 'x'");
  exec::ExecOptions options;
  options.output_cap = 1024 * 1024;
  auto reply = exec::run(big, add_request("{}"), options);
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_NE(cni::reply_error(reply).msg().find("printed more than 1048576 bytes"), std::string::npos);

  const auto fits = dir.write("fits", "cat >/dev/null; head -c 1048576 /dev/zero | tr '\\0' 'y'");
  std::string large_stdin(512 * 1024, 'z');  // both directions at once must not deadlock
  auto request = add_request(large_stdin);
  reply = exec::run(fits, request, options);
  EXPECT_EQ(reply.exit_code, 0);
  EXPECT_EQ(reply.stdout_data, std::string(1024 * 1024, 'y'));
}

TEST(Exec, PluginPrintingBeforeReadingStdinDoesNotDeadlock) {
  ScriptDir dir;
  // 1 MiB out before a byte of the 512 KiB in is read: both pipes are full at once.
  const auto script = dir.write("eager", "head -c 1048576 /dev/zero | tr '\\0' 'y'; cat >/dev/null");
  exec::ExecOptions options;
  options.timeout = std::chrono::seconds(20);
  const auto reply = exec::run(script, add_request(std::string(512 * 1024, 'z')), options);
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data.substr(0, 200);
  EXPECT_EQ(reply.stdout_data.size(), 1024U * 1024U);
}

TEST(Exec, TextFileBusyIsRetried) {
  ScriptDir dir;
  const auto script = dir.write("busy", "echo '{}'");
  // A writer holding the file open makes execve fail with ETXTBSY until it closes.
  const int writer = ::open(script.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(writer, 0);
  std::thread closer([writer] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::close(writer);
  });
  const auto reply = exec::run(script, add_request("{}"));
  closer.join();
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(reply.stdout_data, "{}\n");
}

TEST(ExecInvoker, ExtraDirsComeFirstAndMissingTypesAreCniErrors) {
  ScriptDir dir;
  dir.write("static", "echo from-extra-dir");
  plexus::invoke::ExecInvoker first({dir.path().string()});
  auto reply = first.invoke("static", add_request("{}"));
  EXPECT_EQ(reply.stdout_data, "from-extra-dir\n");
  reply = first.invoke("plexus-missing", add_request("{}"));
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_EQ(cni::reply_error(reply).msg().rfind("failed to find plugin \"plexus-missing\" in path [", 0), 0U);
}

}  // namespace
