// skel's dispatch ported: scenarios S1-S4 of cni-conformance.md against a plugin class, called
// through plexus::dispatch exactly as the ABI entry and run_main() call it.
#include <plexus/plugin.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace {

namespace cni = plexus::cni;

// Records what reached it; ADD returns one address so every version can print it.
class RecordingPlugin final : public plexus::Plugin {
 public:
  std::vector<std::string> calls;
  cni::Result add(const plexus::Call& call) override {
    calls.push_back("ADD " + call.version());
    cni::Result result;
    result.interfaces.push_back({call.ifname(), "0a:58:0a:01:02:03", std::nullopt, call.netns(), "", ""});
    result.ips.push_back({*cni::IPNet::parse("10.1.2.3/24"), cni::IPAddress::parse("10.1.2.1"), 0});
    if (call.conf().find("noAddress") != nullptr) result.ips.clear();
    return result;
  }
  void del(const plexus::Call& call) override { calls.push_back("DEL " + call.version()); }
  void check(const plexus::Call&) override { calls.push_back("CHECK"); }
  void gc(const plexus::Call&) override { calls.push_back("GC"); }
  void status(const plexus::Call&) override { calls.push_back("STATUS"); }
};

class NullHost final : public plexus::Host {
 public:
  cni::Reply invoke(std::string_view, const cni::Request&) override { return {1, cni::Error(999, "no delegation in this test").to_json(), {}}; }
  void log(plexus::LogLevel, std::string_view) override {}
};

constexpr std::array<const char*, 1> kTypes = {"recording"};
const plexus::PluginIdentity kIdentity{"recording", "1.0.0", kTypes, cni::all_versions()};

cni::Request request(const std::string& command, const std::string& version = "1.0.0") {
  cni::Request r;
  r.command = command;
  r.container_id = "ctr";
  r.netns = "/var/run/netns/does-not-exist-plexus";
  r.ifname = "eth0";
  r.path = "/opt/cni/bin";
  r.stdin_data = R"({"cniVersion":")" + version + R"(","name":"net","type":"recording"})";
  return r;
}

struct Outcome {
  cni::Reply reply;
  std::vector<std::string> calls;
};

Outcome run(const cni::Request& r) {
  RecordingPlugin plugin;
  NullHost host;
  auto reply = plexus::dispatch(plugin, kIdentity, host, r);
  return {reply, plugin.calls};
}

void expect_error(const Outcome& out, int code, const std::string& msg) {
  EXPECT_EQ(out.reply.exit_code, 1);
  const auto error = cni::Error::from_json(out.reply.stdout_data);
  ASSERT_TRUE(error) << out.reply.stdout_data;
  EXPECT_EQ(error->code(), code);
  EXPECT_EQ(error->msg(), msg);
  EXPECT_TRUE(out.calls.empty()) << "the plugin must not run";
}

TEST(Dispatch, S1VersionIgnoresStdin) {
  auto r = request("VERSION");
  r.stdin_data = "not json at all";
  const auto out = run(r);
  EXPECT_EQ(out.reply.exit_code, 0);
  EXPECT_EQ(out.reply.stdout_data, cni::version_reply(cni::all_versions()));
}

TEST(Dispatch, S2MissingEnvironment) {
  auto r = request("ADD");
  r.netns.clear();
  r.ifname.clear();
  r.path.clear();
  expect_error(run(r), 4, "required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing");
}

TEST(Dispatch, S3BadNamesAndIds) {
  auto r = request("ADD");
  r.ifname = "0123456789abcdef";
  expect_error(run(r), 4, "interface name is too long");
  r.ifname = ".";
  expect_error(run(r), 4, "interface name is . or ..");
  r.ifname = "a:b";
  expect_error(run(r), 4, "interface name contains / or : or whitespace characters");
  r = request("ADD");
  r.container_id = "some-%%container-id";
  expect_error(run(r), 4, "invalid characters in containerID");
}

TEST(Dispatch, S4Versions) {
  expect_error(run(request("ADD", "9.9.9")), 1, "incompatible CNI versions");
  expect_error(run(request("CHECK", "0.3.1")), 1, "config version does not allow CHECK");
  expect_error(run(request("GC", "1.0.0")), 1, "config version does not allow GC");
  expect_error(run(request("STATUS", "1.0.0")), 1, "config version does not allow STATUS");
  auto gc = request("GC", "1.1.0");
  gc.container_id.clear();
  gc.ifname.clear();
  const auto out = run(gc);
  EXPECT_EQ(out.reply.exit_code, 0);
  EXPECT_EQ(out.reply.stdout_data, "");
  EXPECT_EQ(out.calls, std::vector<std::string>{"GC"});
}

TEST(Dispatch, UnknownCommandAfterConfigChecks) {
  expect_error(run(request("FROB")), 4, "unknown CNI_COMMAND: FROB");
  auto r = request("FROB");
  r.stdin_data = "{";
  EXPECT_EQ(cni::Error::from_json(run(r).reply.stdout_data)->code(), 6) << "config is checked first, as in skel";
}

TEST(Dispatch, StdinChecks) {
  auto r = request("ADD");
  r.stdin_data = R"({"cniVersion":"1.0.0","type":"recording"})";
  expect_error(run(r), 7, "missing network name");
  r.stdin_data = "nope";
  EXPECT_EQ(cni::Error::from_json(run(r).reply.stdout_data)->code(), 6);
}

TEST(Dispatch, AddPrintsInTheConfigVersion) {
  for (const auto version : cni::all_versions()) {
    const auto out = run(request("ADD", std::string(version)));
    ASSERT_EQ(out.reply.exit_code, 0) << out.reply.stdout_data;
    EXPECT_EQ(out.reply.stdout_data.back(), '}') << "no trailing newline";
    EXPECT_NE(out.reply.stdout_data.find("\"cniVersion\": \"" + std::string(version) + "\""), std::string::npos);
    EXPECT_EQ(out.calls, std::vector<std::string>{"ADD " + std::string(version)});
  }
}

TEST(Dispatch, MissingVersionMeans010) {
  auto r = request("ADD");
  r.stdin_data = R"({"name":"net","type":"recording"})";
  const auto out = run(r);
  EXPECT_NE(out.reply.stdout_data.find("\"ip4\""), std::string::npos) << out.reply.stdout_data;
}

TEST(Dispatch, UnprintableResultIsRolledBack) {
  auto r = request("ADD", "0.2.0");
  r.stdin_data = R"({"cniVersion":"0.2.0","name":"net","type":"recording","noAddress":true})";
  RecordingPlugin plugin;
  NullHost host;
  const auto reply = plexus::dispatch(plugin, kIdentity, host, r);
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_EQ(cni::Error::from_json(reply.stdout_data)->msg(), "cannot convert: no valid IP addresses");
  EXPECT_EQ(plugin.calls, (std::vector<std::string>{"ADD 0.2.0", "DEL 0.2.0"}));
}

TEST(Dispatch, RefusesItsOwnNetnsBeforeActing) {
  auto r = request("ADD");
  r.netns = "/proc/self/ns/net";
  expect_error(run(r), 8, "plugin's netns and netns from CNI_NETNS should not be the same");
  r.netns_override = "true";
  EXPECT_EQ(run(r).reply.exit_code, 0);
}

TEST(Dispatch, ExceptionsBecomeCode999) {
  class Throwing final : public plexus::Plugin {
   public:
    cni::Result add(const plexus::Call&) override { throw std::runtime_error("boom"); }
    void del(const plexus::Call&) override { throw cni::Error(11, "later", "x"); }
  };
  Throwing plugin;
  NullHost host;
  auto reply = plexus::dispatch(plugin, kIdentity, host, request("ADD"));
  EXPECT_EQ(reply.stdout_data, "{\n    \"code\": 999,\n    \"msg\": \"boom\"\n}");
  reply = plexus::dispatch(plugin, kIdentity, host, request("DEL"));
  EXPECT_EQ(reply.stdout_data, "{\n    \"code\": 11,\n    \"msg\": \"later\",\n    \"details\": \"x\"\n}");
}

TEST(Dispatch, DelegationErrorsPassThroughUnchanged) {
  class Delegating final : public plexus::Plugin {
   public:
    cni::Result add(const plexus::Call& call) override { return call.delegate_add("static"); }
    void del(const plexus::Call&) override {}
  };
  Delegating plugin;
  NullHost host;
  const auto reply = plexus::dispatch(plugin, kIdentity, host, request("ADD"));
  EXPECT_EQ(cni::Error::from_json(reply.stdout_data)->msg(), "no delegation in this test");
}

}  // namespace
