// plexusd in-process, over its real unix socket: the wire format, the HTTP endpoints, the socket's
// permissions, per-container serialization, metrics, and the plexus shim in front of it (daemon up,
// daemon down). The delegate is a recording script run through the exec fallback, so no root.
#include "daemon_test_support.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/daemon/container_locks.hpp>
#include <plexus/daemon/wire.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <future>
#include <thread>

namespace plexus::test {
namespace {

namespace fs = std::filesystem;

TEST(DaemonWire, Base64RoundTripsEveryByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= 5; ++n) {
    const auto part = bytes.substr(0, n);
    EXPECT_EQ(daemon::base64_decode(daemon::base64_encode(part)), part) << n;
  }
  EXPECT_EQ(daemon::base64_encode("plexus"), "cGxleHVz");
  EXPECT_EQ(daemon::base64_decode(daemon::base64_encode(bytes)), bytes);
  EXPECT_THROW(daemon::base64_decode("abc"), std::invalid_argument);
  EXPECT_THROW(daemon::base64_decode("ab!="), std::invalid_argument);
}

TEST(DaemonWire, RequestAndReplyRoundTrip) {
  auto request = cni_request("ADD", "ctr-1", "{\"a\":\"\\u0000\"}\n");
  request.netns_override = "true";
  const auto decoded = daemon::decode_cni_request(daemon::encode_cni_request(request));
  EXPECT_EQ(decoded.command, "ADD");
  EXPECT_EQ(decoded.container_id, "ctr-1");
  EXPECT_EQ(decoded.args, request.args);
  EXPECT_EQ(decoded.path, request.path);
  EXPECT_EQ(decoded.netns_override, "true");
  EXPECT_EQ(decoded.stdin_data, request.stdin_data);

  // multus's shape: the whole environ, config as base64, extra keys ignored.
  const auto multus = daemon::decode_cni_request(
      R"({"env":{"CNI_COMMAND":"DEL","CNI_CONTAINERID":"c","HOME":"/root"},"config":"e30=","interfaceAttributes":{}})");
  EXPECT_EQ(multus.command, "DEL");
  EXPECT_EQ(multus.stdin_data, "{}");
  EXPECT_THROW(daemon::decode_cni_request(R"({"env":{}})"), std::invalid_argument);
  EXPECT_THROW(daemon::decode_cni_request("not json"), std::invalid_argument);

  const cni::Reply reply{7, "{\n    \"code\": 7\n}", "warn\n"};
  const auto back = daemon::decode_cni_reply(daemon::encode_cni_reply(reply));
  EXPECT_EQ(back.exit_code, 7);
  EXPECT_EQ(back.stdout_data, reply.stdout_data);
  EXPECT_EQ(back.stderr_data, reply.stderr_data);
}

TEST(DaemonConfigFile, KeysDefaultsAndErrors) {
  const auto config = daemon::parse_daemon_config(
      R"({"socketDir":"/tmp/x","metricsAddress":"127.0.0.1:0","nodeName":"n1","pluginDirs":["/a","/b"],"maxConnections":4,"chrootDir":"/ignored"})");
  EXPECT_EQ(config.socket_path(), fs::path("/tmp/x/plexus.sock"));
  EXPECT_EQ(config.metrics_address, "127.0.0.1:0");
  EXPECT_EQ(config.node_name, "n1");
  EXPECT_EQ(config.plugin_dirs.size(), 2U);
  EXPECT_EQ(config.max_connections, 4);
  EXPECT_EQ(daemon::parse_daemon_config("{}").socket_path(), fs::path("/run/plexus/plexus.sock"));
  EXPECT_EQ(daemon::parse_daemon_config(R"({"metricsPort":9091})").metrics_address, "0.0.0.0:9091");
  EXPECT_THROW(daemon::parse_daemon_config(R"({"socketDir":5})"), std::invalid_argument);
  EXPECT_THROW(daemon::parse_daemon_config(R"({"maxConnections":0})"), std::invalid_argument);
  // multus's logging keys; a level outside its four is named, not ignored.
  const auto logging = daemon::parse_daemon_config(R"({"logLevel":"Debug","logFile":"/var/log/plexusd.log","logToStderr":false})");
  EXPECT_EQ(logging.log_level, meta::LogLevel::Debug);
  EXPECT_EQ(logging.log_file, "/var/log/plexusd.log");
  EXPECT_FALSE(logging.log_to_stderr);
  EXPECT_EQ(daemon::parse_daemon_config("{}").log_level, meta::LogLevel::Verbose);
  try {
    daemon::parse_daemon_config(R"({"logLevel":"chatty"})");
    ADD_FAILURE() << "accepted logLevel chatty";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"logLevel\" is \"chatty\""), std::string::npos) << e.what();
  }
}

TEST(ContainerLocks, SameIdWaitsOtherIdDoesNot) {
  daemon::ContainerLocks locks;
  std::atomic<bool> second_entered{false};
  std::optional<std::thread> waiter;
  {
    auto held = locks.lock("a");
    waiter.emplace([&] {
      auto again = locks.lock("a");
      second_entered = true;
    });
    { auto other = locks.lock("b"); }  // would deadlock if ids shared a mutex
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(second_entered.load());
  }
  waiter->join();
  EXPECT_TRUE(second_entered.load());
  EXPECT_EQ(locks.size(), 0U);  // entries go with their last user
}

class InProcessDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    write_recorder(work_.path() / "bin", work_.path());
    config_ = test_daemon_config(work_.path());
  }
  void start() {
    daemon_ = std::make_unique<daemon::Daemon>(config_);
    daemon_->start();
  }
  fs::path socket() const { return config_.socket_path(); }

  TempDir work_;
  daemon::DaemonConfig config_;
  std::unique_ptr<daemon::Daemon> daemon_;
};

TEST_F(InProcessDaemon, SocketIsPrivateAndEndpointsAnswer) {
  start();
  EXPECT_EQ(fs::status(config_.socket_dir).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_TRUE(fs::is_socket(socket()));
  EXPECT_EQ(fs::status(socket()).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/healthz").status, 200);
  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/readyz").status, 200);
  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/nothing").status, 404);
  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/cni").status, 405);
  const auto bad = daemon::http_over_unix(socket(), "POST", "/cni", R"({"env":{}})");
  EXPECT_EQ(bad.status, 400);
  const auto error = cni::Error::from_json(bad.body);
  ASSERT_TRUE(error.has_value()) << bad.body;
  EXPECT_EQ(error->code(), 6);

  // A second daemon on the same socket refuses to start instead of stealing it.
  daemon::Daemon second(config_);
  EXPECT_THROW(second.start(), std::runtime_error);
  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/healthz").status, 200);

  daemon_->shutdown();
  EXPECT_FALSE(fs::exists(socket()));
  EXPECT_THROW(daemon::http_over_unix(socket(), "GET", "/healthz"), daemon::DaemonUnavailable);
}

TEST_F(InProcessDaemon, ConnectionWorkersAreReusedAndLeaveAtShutdown) {
  start();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(daemon::http_over_unix(socket(), "GET", "/healthz").status, 200);
    // The client has its answer a moment before the worker is back waiting: a call in that
    // moment rightly gets a worker of its own. Sequential here means after the worker is back.
    const auto back = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (daemon_->idle_connection_workers() < daemon_->connection_workers() && std::chrono::steady_clock::now() < back) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  EXPECT_EQ(daemon_->connection_workers(), 1) << "one call at a time needs one worker, kept between calls";

  // Calls in parallel get workers of their own (the slow recorder holds each call 0.3 s).
  write_recorder(work_.path() / "bin", work_.path(), "0.3");
  const auto config = recorder_meta_config(work_.path());
  std::vector<std::future<cni::Reply>> replies;
  for (const auto* id : {"w1", "w2", "w3"}) {
    replies.push_back(std::async(std::launch::async, [&, id = std::string(id)] {
      return daemon::call_daemon(socket(), cni_request("ADD", id, config));
    }));
  }
  for (auto& reply : replies) EXPECT_EQ(reply.get().exit_code, 0);
  EXPECT_GE(daemon_->connection_workers(), 3);
  EXPECT_LE(daemon_->connection_workers(), config_.max_connections);

  daemon_->shutdown();
  EXPECT_EQ(daemon_->connection_workers(), 0);
}

TEST_F(InProcessDaemon, AStaleSocketIsReplaced) {
  fs::create_directories(config_.socket_dir);
  { std::ofstream(socket()) << "stale"; }
  start();
  EXPECT_TRUE(fs::is_socket(socket()));
  EXPECT_EQ(daemon::http_over_unix(socket(), "GET", "/healthz").status, 200);
}

TEST_F(InProcessDaemon, AddAndDelOverTheSocketMatchTheEngine) {
  start();
  const auto config = recorder_meta_config(work_.path());
  const auto added = daemon::call_daemon(socket(), cni_request("ADD", "ctr-1", config));
  ASSERT_EQ(added.exit_code, 0) << added.stdout_data;
  const auto result = nlohmann::json::parse(added.stdout_data);
  EXPECT_EQ(result["interfaces"][0]["name"], "eth0");
  EXPECT_TRUE(fs::exists(work_.path() / "cache" / "ctr-1"));

  const auto deleted = daemon::call_daemon(socket(), cni_request("DEL", "ctr-1", config));
  EXPECT_EQ(deleted.exit_code, 0) << deleted.stdout_data;
  EXPECT_EQ(deleted.stdout_data, "");
  EXPECT_FALSE(fs::exists(work_.path() / "cache" / "ctr-1"));

  const auto calls = recorded_calls(work_.path());
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0].command, "ADD");
  EXPECT_EQ(calls[1].command, "DEL");

  // A failure carries the real exit code and the CNI error bytes.
  const auto broken = daemon::call_daemon(socket(), cni_request("ADD", "ctr-2", R"({"type":"plexus"})"));
  EXPECT_EQ(broken.exit_code, 1);
  const auto error = cni::Error::from_json(broken.stdout_data);
  ASSERT_TRUE(error.has_value()) << broken.stdout_data;
  EXPECT_EQ(error->code(), 7);

  const auto version = daemon::call_daemon(socket(), cni_request("VERSION", "", ""));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.stdout_data.find("supportedVersions"), std::string::npos);
}

// plexusd's handler validates CNI_CONTAINERID and CNI_IFNAME before any file is touched: code 4,
// no delegate called, and not one file under the work dir (cniDir, sentinels) changed.
TEST_F(InProcessDaemon, HostileContainerIdsAndIfnamesAreCode4AndTouchNoFile) {
  start();
  const auto config = recorder_meta_config(work_.path());
  fs::create_directories(work_.path() / "cache" / "a");
  std::ofstream(work_.path() / "x") << "sentinel for ../x";
  std::ofstream(work_.path() / "cache" / "a" / "b") << "sentinel for a/b";
  const auto tree = [&] {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(work_.path())) {
      std::ifstream in(entry.path(), std::ios::binary);
      files[entry.path().string()] = entry.is_regular_file() ? std::string(std::istreambuf_iterator<char>(in), {}) : "";
    }
    return files;
  };
  const auto before = tree();
  for (const std::string command : {"ADD", "DEL"}) {
    for (const std::string& id : std::vector<std::string>{"../x", "a/b", "/tmp/x", "..", ""}) {
      SCOPED_TRACE(command + " " + id);
      const auto reply = daemon::call_daemon(socket(), cni_request(command, id, config));
      EXPECT_EQ(reply.exit_code, 1);
      const auto error = cni::Error::from_json(reply.stdout_data);
      ASSERT_TRUE(error.has_value()) << reply.stdout_data;
      EXPECT_EQ(error->code(), 4);
      EXPECT_EQ(error->msg(), id.empty() ? "CNI_CONTAINERID missing" : "invalid CNI_CONTAINERID \"" + id + "\": invalid characters in containerID");
    }
    auto bad_ifname = cni_request(command, "ctr-1", config);
    bad_ifname.ifname = "../eth0";
    const auto error = cni::Error::from_json(daemon::call_daemon(socket(), bad_ifname).stdout_data);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code(), 4);
    EXPECT_EQ(error->msg(), "invalid CNI_IFNAME \"../eth0\": interface name contains / or : or whitespace characters");
  }
  EXPECT_EQ(tree(), before);
  EXPECT_TRUE(recorded_calls(work_.path()).empty());
}

TEST_F(InProcessDaemon, SameContainerCallsAreSerializedOthersRunInParallel) {
  write_recorder(work_.path() / "bin", work_.path(), "0.4");
  start();
  const auto config = recorder_meta_config(work_.path());
  std::vector<std::future<cni::Reply>> replies;
  for (const auto* id : {"same", "same", "left", "right"}) {
    replies.push_back(std::async(std::launch::async, [&, id = std::string(id)] {
      return daemon::call_daemon(socket(), cni_request("ADD", id, config));
    }));
  }
  for (auto& reply : replies) EXPECT_EQ(reply.get().exit_code, 0);

  std::map<std::string, std::vector<RecordedCall>> by_container;
  for (const auto& call : recorded_calls(work_.path())) by_container[call.container].push_back(call);
  ASSERT_EQ(by_container["same"].size(), 2U);
  ASSERT_EQ(by_container["left"].size(), 1U);
  ASSERT_EQ(by_container["right"].size(), 1U);
  EXPECT_FALSE(overlap(by_container["same"][0], by_container["same"][1])) << "two calls for one container overlapped";
  EXPECT_TRUE(overlap(by_container["left"][0], by_container["right"][0])) << "calls for two containers did not run in parallel";
  EXPECT_EQ(daemon_->container_locks().size(), 0U);
}

// GET http://127.0.0.1:<port>/metrics
std::string scrape(int port) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::empty_body> request{http::verb::get, "/metrics", 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  EXPECT_EQ(response.result_int(), 200U);
  return response.body();
}

TEST_F(InProcessDaemon, MetricsOnLoopbackCountTheCalls) {
  config_.metrics_address = "127.0.0.1:0";
  start();
  ASSERT_GT(daemon_->metrics_port(), 0);
  const auto config = recorder_meta_config(work_.path());
  for (const auto* id : {"m1", "m2"}) ASSERT_EQ(daemon::call_daemon(socket(), cni_request("ADD", id, config)).exit_code, 0);
  ASSERT_EQ(daemon::call_daemon(socket(), cni_request("DEL", "m1", config)).exit_code, 0);
  ASSERT_EQ(daemon::call_daemon(socket(), cni_request("ADD", "m3", R"({"type":"plexus"})")).exit_code, 1);

  const auto body = scrape(daemon_->metrics_port());
  EXPECT_NE(body.find(R"(plexus_cni_calls_total{command="ADD",result="success"} 2)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(plexus_cni_calls_total{command="DEL",result="success"} 1)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(plexus_cni_calls_total{command="ADD",result="error"} 1)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(plexus_delegate_duration_seconds_count{command="ADD",type="recorder"} 2)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(plexus_delegate_duration_seconds_count{command="DEL",type="recorder"} 1)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(plexus_http_requests_total{code="200",handler="cni"} 4)"), std::string::npos) << body;
}

TEST_F(InProcessDaemon, ShimPrintsExactlyWhatExecdPlexusPrints) {
  start();
  const auto local = recorder_meta_config(work_.path());
  const auto shim = recorder_meta_config(work_.path(), {{"daemonSocket", socket().string()}});
  const auto via_daemon = run_plexus(work_, cni_request("ADD", "shim-1", shim));
  const auto in_process = run_plexus(work_, cni_request("ADD", "local-1", local));
  EXPECT_EQ(via_daemon.exit_code, 0) << via_daemon.out << via_daemon.err;
  EXPECT_EQ(via_daemon.out, in_process.out);
  ASSERT_EQ(recorded_calls(work_.path()).size(), 2U);

  // The same for an error: exit code and bytes.
  const auto bad_shim = recorder_meta_config(work_.path(), {{"daemonSocket", socket().string()}, {"logLevel", "nonsense"}});
  const auto bad_local = recorder_meta_config(work_.path(), {{"logLevel", "nonsense"}});
  const auto bad_via_daemon = run_plexus(work_, cni_request("ADD", "shim-2", bad_shim));
  const auto bad_in_process = run_plexus(work_, cni_request("ADD", "local-2", bad_local));
  EXPECT_NE(bad_via_daemon.exit_code, 0);
  EXPECT_EQ(bad_via_daemon.exit_code, bad_in_process.exit_code);
  EXPECT_EQ(bad_via_daemon.out, bad_in_process.out);

  // type plexus-shim + daemonSocketDir names the same socket.
  const auto typed = recorder_meta_config(work_.path(), {{"type", "plexus-shim"}, {"daemonSocketDir", config_.socket_dir.string()}});
  const auto via_type = run_plexus(work_, cni_request("ADD", "shim-3", typed));
  EXPECT_EQ(via_type.exit_code, 0) << via_type.out << via_type.err;
  EXPECT_EQ(recorded_calls(work_.path()).size(), 3U);
}

TEST_F(InProcessDaemon, ShimWithTheDaemonDownRetriesAddAndStillDeletes) {
  start();
  const auto shim = recorder_meta_config(work_.path(), {{"daemonSocket", socket().string()}});
  ASSERT_EQ(run_plexus(work_, cni_request("ADD", "down-1", shim)).exit_code, 0);
  ASSERT_TRUE(fs::exists(work_.path() / "cache" / "down-1"));
  daemon_->shutdown();
  ASSERT_FALSE(fs::exists(socket()));

  const auto add = run_plexus(work_, cni_request("ADD", "down-2", shim));
  EXPECT_NE(add.exit_code, 0);
  const auto error = cni::Error::from_json(add.out);
  ASSERT_TRUE(error.has_value()) << add.out;
  EXPECT_EQ(error->code(), 11);
  EXPECT_NE(error->msg().find("plexusd) is not available, try again later"), std::string::npos) << error->msg();
  EXPECT_FALSE(fs::exists(work_.path() / "cache" / "down-2"));

  // DEL runs in-process from the delegate cache: the delegate really gets its DEL.
  const auto del = run_plexus(work_, cni_request("DEL", "down-1", shim));
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(del.out, "");
  EXPECT_FALSE(fs::exists(work_.path() / "cache" / "down-1"));
  const auto calls = recorded_calls(work_.path());
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[1].command, "DEL");
  EXPECT_EQ(calls[1].container, "down-1");
}

}  // namespace
}  // namespace plexus::test
