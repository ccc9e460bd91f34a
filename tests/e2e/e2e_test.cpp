// plexus end to end, driven as kubelet drives a CNI plugin: CNI_* in the environment and the meta
// config on stdin, inside a test "host" namespace (whose eth0 is one end of a veth pair, the
// macvlan master, and where the cluster network's bridge lives), for a pod namespace the test
// makes. Pods and NetworkAttachmentDefinitions come from the fake kube-apiserver (real TLS on
// loopback, bearer token) through a kubeconfig the test writes.
//
// Every scenario runs four ways: {the built `plexus` binary exec'd with `ip netns exec`, the
// engine constructed in-process on a thread in the host namespace} x {delegates in-process from
// plexus's .so files, every delegate type pinned to exec of Debian's reference plugins}.
#include "fake_apiserver.hpp"
#include "netns.hpp"
#include "privileged.hpp"

#include <plexus/cni/protocol.hpp>
#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/registry.hpp>
#include <plexus/invoke/router.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/k8s/config.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/events.hpp>
#include <plexus/meta/k8s_source.hpp>
#include <plexus/net/netns.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cni = plexus::cni;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;
using plexus::test::MacvlanTopology;
using plexus::test::TestNetns;

constexpr const char* kToken = "e2e-node-token";
constexpr const char* kNetworkStatus = "k8s.v1.cni.cncf.io/network-status";
// Debian's reference plugins stop at 1.0.0, so every config here is 1.0.0 (plexus's serve it too).
constexpr const char* kCniVersion = "1.0.0";

enum class Driver { Binary, Engine };
enum class Delegates { PlexusInProcess, DebianExec };

struct Mode {
  Driver driver;
  Delegates delegates;
};

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  return std::string(info.param.driver == Driver::Binary ? "Binary" : "Engine") +
         (info.param.delegates == Delegates::PlexusInProcess ? "_PlexusSo" : "_DebianExec");
}

int next_serial() {
  static std::atomic<int> serial{0};
  return serial++;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Runs `command` under sh; stdout is the reply, stderr goes to a file kept for failure messages.
cni::Reply run_capturing(const std::string& command, const fs::path& stderr_file) {
  cni::Reply reply;
  FILE* pipe = ::popen((command + " 2>" + plexus::test::shell_quote(stderr_file.string())).c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) reply.stdout_data.append(buffer, n);
  const int status = ::pclose(pipe);
  reply.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  reply.stderr_data = read_file(stderr_file);
  return reply;
}


// The pod's view of the kernel, for "nothing attached" and "unchanged" checks.
struct NetnsSnapshot {
  json links;
  json addresses;
  json routes;
  friend bool operator==(const NetnsSnapshot&, const NetnsSnapshot&) = default;
  friend std::ostream& operator<<(std::ostream& out, const NetnsSnapshot& s) {
    return out << "links " << s.links.dump() << "\naddresses " << s.addresses.dump() << "\nroutes " << s.routes.dump();
  }
  // What changed from `before`, as a JSON patch per part, for failure messages.
  std::string changes_since(const NetnsSnapshot& before) const {
    return "links " + json::diff(before.links, links).dump() + "\naddresses " + json::diff(before.addresses, addresses).dump() +
           "\nroutes " + json::diff(before.routes, routes).dump();
  }
};

NetnsSnapshot snapshot(const TestNetns& netns) {
  // IPv4 only for addresses and routes: the kernel's own IPv6 link-local addresses finish DAD
  // and gain their routes on their own schedule, and no network here uses IPv6.
  return {netns.exec_json("ip -j link show"), netns.exec_json("ip -4 -j addr show"),
          netns.exec_json("ip -4 -j route show table all")};
}

// The bridge's carrier follows its last port away asynchronously (linkwatch): give the kernel up
// to two seconds to settle before comparing, so only a real leftover fails.
NetnsSnapshot settled_snapshot(const TestNetns& netns, const NetnsSnapshot& expected) {
  auto now = snapshot(netns);
  for (int i = 0; i < 40 && !(now == expected); ++i) {
    ::usleep(50000);
    now = snapshot(netns);
  }
  return now;
}

std::vector<std::string> link_names(const TestNetns& netns) {
  std::vector<std::string> names;
  for (const auto& link : netns.exec_json("ip -j link show")) names.push_back(link.at("ifname").get<std::string>());
  return names;
}

// host-local's allocations (one file per reserved IP) with their contents; the round-robin
// cursor (last_reserved_ip.*) and the lock file are left out: the reference advances the cursor
// on every allocation, released or not, and that is no leak.
std::map<std::string, std::string> host_local_allocations(const fs::path& data_dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(data_dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(data_dir)) {
    if (!entry.is_regular_file()) continue;
    const auto name = entry.path().filename().string();
    if (name.rfind("last_reserved_ip", 0) == 0 || name == "lock") continue;
    files[fs::relative(entry.path(), data_dir).string()] = read_file(entry.path());
  }
  return files;
}

// One node with one pod sandbox: namespaces, the fake API server, the on-disk config, and the
// two ways to call plexus.
class Node {
 public:
  explicit Node(Mode mode) : mode_(mode) {
    serial_ = next_serial();
    work_ = fs::temp_directory_path() / ("plexus-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(serial_));
    fs::remove_all(work_);
    fs::create_directories(work_ / "net.d");
    fs::create_directories(work_ / "cache");
    fs::create_directories(work_ / "ipam");
    topology_.host.exec("ip link set lo up");
    // The node's bridge, made ahead with a set MAC so the kernel never re-derives it from its
    // ports: then a rolled-back attachment leaves the host namespace byte-for-byte as it was.
    topology_.host.exec("ip link add cbr0 address 02:00:00:00:cb:00 type bridge && ip link set cbr0 up");

    // The API server listens on the host namespace's loopback, where plexus runs.
    api_ = plexus::net::in_netns(fs::path(topology_.host.path()),
                                 [] { return std::make_unique<plexus::test::FakeApiServer>(); });
    api_->accept_token(kToken, "system:serviceaccount:kube-system:plexus");
    write_file(kubeconfig(), "apiVersion: v1\nkind: Config\n"
                             "clusters:\n- name: fake\n  cluster:\n    server: " + api_->url() +
                                 "\n    certificate-authority: " + api_->ca_file().string() +
                                 "\nusers:\n- name: plexus\n  user:\n    token: " + kToken +
                                 "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: plexus\n"
                                 "current-context: fake\n");
    // The cluster network, found by name in confDir as multus finds clusterNetwork: a bridge in
    // the host namespace with host-local IPAM and the default route.
    write_file(work_ / "net.d" / "10-cbr0.conf",
               json{{"cniVersion", kCniVersion}, {"name", "cbr0"}, {"type", "bridge"}, {"bridge", "cbr0"},
                    {"isDefaultGateway", true},
                    {"ipam", {{"type", "host-local"}, {"subnet", "10.244.1.0/24"}, {"dataDir", ipam_dir().string()}}}}
                   .dump());
  }
  ~Node() {
    api_->stop();
    std::error_code ignored;
    fs::remove_all(work_, ignored);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  TestNetns& host() { return topology_.host; }
  TestNetns& pod() { return topology_.pod; }
  plexus::test::FakeApiServer& api() { return *api_; }
  fs::path kubeconfig() const { return work_ / "kubeconfig"; }
  fs::path ipam_dir() const { return work_ / "ipam"; }
  fs::path cache_dir() const { return work_ / "cache"; }
  fs::path work() const { return work_; }
  std::string container_id() const { return "e2e-" + std::to_string(::getpid()) + "-" + std::to_string(serial_); }
  const Mode& mode() const { return mode_; }

  // The meta config kubelet would find in /etc/cni/net.d, with `extra` keys on top.
  json meta_config(const json& extra = json::object()) const {
    json config{{"cniVersion", kCniVersion},
                {"name", "plexus-e2e"},
                {"type", "plexus"},
                {"kubeconfig", kubeconfig().string()},
                {"clusterNetwork", "cbr0"},
                {"confDir", (work_ / "net.d").string()},
                {"cniDir", cache_dir().string()},
                {"pluginDirs", json::array({PLEXUS_PLUGIN_DIR})},
                // The test's admin lets NADs keep host-local's state in the test's own dir.
                {"allowedDataRoots", json::array({ipam_dir().string()})}};
    if (mode_.delegates == Delegates::DebianExec) {
      config["binDir"] = PLEXUS_REFERENCE_CNI_DIR;
      config["delegateMode"] = {{"macvlan", "exec"}, {"static", "exec"},   {"host-local", "exec"},
                                {"bridge", "exec"},  {"loopback", "exec"}, {"tuning", "exec"}};
    } else {
      config["binDir"] = PLEXUS_CNI_BIN_DIR;
    }
    for (const auto& [key, value] : extra.items()) config[key] = value;
    return config;
  }

  // A pod in the fake API server; returns its uid.
  std::string add_pod(const std::string& ns, const std::string& name, const std::map<std::string, std::string>& annotations) {
    json pod{{"apiVersion", "v1"},
             {"kind", "Pod"},
             {"metadata", {{"name", name}, {"namespace", ns}, {"annotations", annotations}}},
             {"spec", {{"nodeName", "node-1"}, {"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}}}};
    const auto stored = api_->put_pod(pod);
    pod_uids_[ns + "/" + name] = stored.at("metadata").at("uid").get<std::string>();
    return pod_uids_[ns + "/" + name];
  }

  void add_nad(const std::string& ns, const std::string& name, const json& config) {
    api_->put_network_attachment_definition(json{{"apiVersion", "k8s.cni.cncf.io/v1"},
                                                {"kind", "NetworkAttachmentDefinition"},
                                                {"metadata", {{"name", name}, {"namespace", ns}}},
                                                {"spec", {{"config", config.dump()}}}});
  }

  // A macvlan on the host's eth0 with static IPAM: fixed `addresses`, or from the pod's "ips".
  static json macvlan_static(const std::string& name, const std::vector<std::string>& addresses = {},
                             const std::string& master = "eth0") {
    json ipam{{"type", "static"}};
    if (!addresses.empty()) {
      ipam["addresses"] = json::array();
      for (const auto& address : addresses) ipam["addresses"].push_back({{"address", address}});
    }
    return json{{"cniVersion", kCniVersion}, {"name", name}, {"type", "macvlan"}, {"master", master},
                {"mode", "bridge"}, {"capabilities", {{"ips", true}}}, {"ipam", ipam}};
  }

  // The CNI call, the way this Node's mode says.
  cni::Reply call(const std::string& command, const std::string& pod_ns, const std::string& pod_name,
                  const json& config, std::string container = {}) {
    if (container.empty()) container = container_id();
    cni::Request request;
    request.command = command;
    request.container_id = container;
    request.netns = pod().path();
    request.ifname = "eth0";
    const auto uid = pod_uids_.count(pod_ns + "/" + pod_name) ? pod_uids_[pod_ns + "/" + pod_name] : std::string();
    request.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod_ns + ";K8S_POD_NAME=" + pod_name +
                   ";K8S_POD_INFRA_CONTAINER_ID=" + container + (uid.empty() ? "" : ";K8S_POD_UID=" + uid);
    request.path = mode_.delegates == Delegates::DebianExec ? PLEXUS_REFERENCE_CNI_DIR
                                                             : std::string(PLEXUS_CNI_BIN_DIR) + ":" + PLEXUS_REFERENCE_CNI_DIR;
    request.stdin_data = config.dump();
    return mode_.driver == Driver::Binary ? call_binary(request) : call_engine(request);
  }

  // A call whose CNI_CONTAINERID is empty (call() fills in the node's own when given none).
  cni::Reply call_with_empty_container_id(const std::string& command, const json& config) {
    cni::Request request;
    request.command = command;
    request.netns = pod().path();
    request.ifname = "eth0";
    request.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=app";
    request.path = PLEXUS_REFERENCE_CNI_DIR;
    request.stdin_data = config.dump();
    return mode_.driver == Driver::Binary ? call_binary(request) : call_engine(request);
  }

  cni::Reply add(const std::string& ns, const std::string& name, const json& config) { return call("ADD", ns, name, config); }
  cni::Reply del(const std::string& ns, const std::string& name, const json& config) { return call("DEL", ns, name, config); }

  // readinessindicatorfile wait of the in-process engine (the binary's is multus's 45 s).
  std::chrono::milliseconds engine_readiness_timeout{300};

  // Hot-plug of one network into (attach) or out of the pod's sandbox, through the engine plexusd
  // runs for POST /attach and /detach.
  cni::Reply hotplug(bool attach, const std::string& pod_ns, const std::string& pod_name, const json& config,
                     const std::string& network) {
    cni::Request request;
    request.command = attach ? "ADD" : "DEL";
    request.container_id = container_id();
    request.netns = pod().path();
    request.ifname = "eth0";
    request.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod_ns + ";K8S_POD_NAME=" + pod_name;
    request.path = mode_.delegates == Delegates::DebianExec ? PLEXUS_REFERENCE_CNI_DIR
                                                             : std::string(PLEXUS_CNI_BIN_DIR) + ":" + PLEXUS_REFERENCE_CNI_DIR;
    request.stdin_data = config.dump();
    return run_engine(request, [&](plexus::meta::MetaPlugin& engine) { return engine.handle_hotplug(request, network, attach); });
  }

 private:
  // kubelet's way: exec the binary with CNI_* set and the config on stdin, in the host namespace.
  cni::Reply call_binary(const cni::Request& request) {
    const auto stdin_file = work_ / "stdin.json";
    write_file(stdin_file, request.stdin_data);
    using plexus::test::shell_quote;
    const std::string command =
        "ip netns exec " + shell_quote(host().name()) + " env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin" +
        " CNI_COMMAND=" + shell_quote(request.command) + " CNI_CONTAINERID=" + shell_quote(request.container_id) +
        " CNI_NETNS=" + shell_quote(request.netns) + " CNI_IFNAME=" + shell_quote(request.ifname) +
        " CNI_ARGS=" + shell_quote(request.args) + " CNI_PATH=" + shell_quote(request.path) + " " +
        shell_quote(std::string(PLEXUS_BUILD_DIR) + "/bin/plexus") + " < " + shell_quote(stdin_file.string());
    return run_capturing(command, work_ / "stderr.txt");
  }

  // A runtime's or daemon's way: the engine over a Router on a PluginRegistry, in-process, its
  // calls made from a thread inside the host namespace.
  cni::Reply call_engine(const cni::Request& request) {
    return run_engine(request, [&](plexus::meta::MetaPlugin& engine) { return engine.handle(request); });
  }

  cni::Reply run_engine(const cni::Request& request, const std::function<cni::Reply(plexus::meta::MetaPlugin&)>& run) {
    const auto config = plexus::meta::parse_meta_config(request.stdin_data);
    plexus::invoke::PluginRegistry registry;
    std::vector<fs::path> dirs(config.plugin_dirs.begin(), config.plugin_dirs.end());
    registry.scan(dirs);
    plexus::invoke::ExecInvoker exec({config.bin_dir});
    plexus::invoke::Router router(registry, exec);
    for (const auto& [type, mode] : config.delegate_modes) {
      router.set_mode(type, mode == plexus::meta::DelegateMode::Exec ? plexus::invoke::DelegateMode::Exec
                            : mode == plexus::meta::DelegateMode::InProcess ? plexus::invoke::DelegateMode::InProcess
                                                                              : plexus::invoke::DelegateMode::Auto);
    }
    plexus::k8s::ApiClient client(plexus::k8s::load_kubeconfig(config.kubeconfig));
    plexus::meta::KubernetesSource source(client);
    plexus::meta::EngineOptions options;
    options.readiness_timeout = engine_readiness_timeout;
    options.readiness_poll = std::chrono::milliseconds(50);
    // Events as thin plexus sends them: after the reply, each POST bounded by a second.
    plexus::meta::BufferedEvents events;
    options.events = &events;
    plexus::meta::MetaPlugin engine(router, &source, options);
    return plexus::net::in_netns(fs::path(host().path()), [&] {
      auto reply = run(engine);
      events.send_all(plexus::meta::kubernetes_event_sender(client, "node-1", std::chrono::milliseconds(1000)),
                      [&reply](std::string_view message) { reply.stderr_data += std::string(message) + "\n"; });
      return reply;
    });
  }

  Mode mode_;
  int serial_ = 0;
  fs::path work_;
  MacvlanTopology topology_;
  std::unique_ptr<plexus::test::FakeApiServer> api_;
  std::map<std::string, std::string> pod_uids_;
};

std::string describe(const cni::Reply& reply) {
  return "exit " + std::to_string(reply.exit_code) + "\nstdout: " + reply.stdout_data + "\nstderr: " + reply.stderr_data;
}

json error_of(const cni::Reply& reply) {
  EXPECT_NE(reply.exit_code, 0) << describe(reply);
  return json::parse(reply.stdout_data);
}

json link_json(const TestNetns& netns, const std::string& ifname) {
  const auto addresses = netns.exec_json("ip -j addr show dev " + ifname);
  return addresses.empty() ? json() : addresses.front();
}

std::vector<std::string> inet_addresses(const json& link, const std::string& family = "inet") {
  std::vector<std::string> out;
  for (const auto& info : link.at("addr_info")) {
    if (info.at("family") == family) out.push_back(info.at("local").get<std::string>() + "/" + std::to_string(info.at("prefixlen").get<int>()));
  }
  return out;
}

class E2e : public ::testing::TestWithParam<Mode> {};

// Only lo, as a fresh sandbox: nothing attached, nothing left behind.
void expect_pod_empty(const TestNetns& pod) { EXPECT_THAT(link_names(pod), ::testing::ElementsAre("lo")); }

// ---------------------------------------------------------------------------------------------
// The motivating example, with every API call checked from the fake's request log.
TEST_P(E2e, MotivatingExampleWithApiLogAndNetworkStatus) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "licensed-app",
               {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}])"}});
  const auto config = node.meta_config();

  const auto reply = node.add("default", "licensed-app", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);

  // Inside the pod: net1 with the licensed MAC and IP; eth0 on the cluster network.
  const auto net1 = link_json(node.pod(), "net1");
  ASSERT_FALSE(net1.is_null());
  EXPECT_EQ(net1.at("address"), "20:01:02:03:04:05");
  EXPECT_THAT(inet_addresses(net1), ::testing::ElementsAre("192.168.111.10/24"));
  const auto eth0 = link_json(node.pod(), "eth0");
  ASSERT_FALSE(eth0.is_null());
  const auto eth0_ips = inet_addresses(eth0);
  ASSERT_EQ(eth0_ips.size(), 1U);
  EXPECT_THAT(eth0_ips.front(), ::testing::StartsWith("10.244.1."));

  // The printed result is the cluster network's.
  const auto result = json::parse(reply.stdout_data);
  EXPECT_EQ(result.at("cniVersion"), kCniVersion);
  EXPECT_EQ(result.at("ips").at(0).at("address"), eth0_ips.front());

  // The API calls of ADD: the pod, the NAD, then the network-status write.
  const auto requests = node.api().requests();
  auto has = [&](const std::string& method, const std::string& path) {
    for (const auto& r : requests) {
      if (r.method == method && r.path == path) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("GET", "/api/v1/namespaces/default/pods/licensed-app"));
  EXPECT_TRUE(has("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/ip-192"));
  for (const auto& r : requests) EXPECT_EQ(r.authorization, std::string("Bearer ") + kToken) << r.method << " " << r.path;
  const plexus::test::RecordedRequest* status_write = nullptr;
  for (const auto& r : requests) {
    if ((r.method == "PUT" || r.method == "PATCH") && r.path == "/api/v1/namespaces/default/pods/licensed-app/status") status_write = &r;
  }
  ASSERT_NE(status_write, nullptr) << "no network-status write";
  const auto body = json::parse(status_write->body);
  const auto annotation = body.at("metadata").at("annotations").at(kNetworkStatus).get<std::string>();
  const json expected = json::array({
      {{"name", "cbr0"}, {"interface", "eth0"}, {"ips", {eth0_ips.front().substr(0, eth0_ips.front().find('/'))}},
       {"mac", eth0.at("address")}, {"default", true}, {"dns", json::object()}, {"gateway", {"10.244.1.1"}}},
      {{"name", "default/ip-192"}, {"interface", "net1"}, {"ips", {"192.168.111.10"}}, {"mac", "20:01:02:03:04:05"},
       {"dns", json::object()}},
  });
  EXPECT_EQ(json::parse(annotation), expected) << annotation;
  // multus's text form: each entry MarshalIndent'ed with 4 spaces.
  EXPECT_THAT(annotation, ::testing::StartsWith("[{\n    \"name\": \"cbr0\",\n"));
  // And the fake stored it on the pod.
  EXPECT_EQ(node.api().pod("default", "licensed-app")->at("metadata").at("annotations").at(kNetworkStatus), annotation);

  // DEL from the delegate cache: no NAD lookups, only network-status cleared (GET, PUT "[]"), and
  // everything is gone.
  node.api().clear_requests();
  const auto deleted = node.del("default", "licensed-app", config);
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  std::vector<std::string> del_calls;
  for (const auto& r : node.api().requests()) del_calls.push_back(r.method + " " + r.path);
  EXPECT_THAT(del_calls, ::testing::ElementsAre("GET /api/v1/namespaces/default/pods/licensed-app",
                                                "PUT /api/v1/namespaces/default/pods/licensed-app/status"));
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

// Three networks, two namespaces, custom interface names in the comma form; the unnamed one
// gets net<index>, its index counting the cluster network and the named ones.
TEST_P(E2e, ThreeNetworksWithCustomInterfaceNames) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "net-a", Node::macvlan_static("net-a", {"192.168.101.10/24"}));
  node.add_nad("other", "net-b", Node::macvlan_static("net-b", {"192.168.102.10/24"}));
  node.add_nad("default", "net-c", Node::macvlan_static("net-c", {"192.168.103.10/24"}));
  node.add_pod("default", "three", {{"k8s.v1.cni.cncf.io/networks", "net-a@lan0, other/net-b@lan1,net-c"}});
  const auto config = node.meta_config();

  const auto reply = node.add("default", "three", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "lan0")), ::testing::ElementsAre("192.168.101.10/24"));
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "lan1")), ::testing::ElementsAre("192.168.102.10/24"));
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "net3")), ::testing::ElementsAre("192.168.103.10/24"));

  const auto status = json::parse(node.api().pod("default", "three")->at("metadata").at("annotations").at(kNetworkStatus).get<std::string>());
  ASSERT_EQ(status.size(), 4U) << status.dump();
  EXPECT_EQ(status[1].at("name"), "default/net-a");
  EXPECT_EQ(status[1].at("interface"), "lan0");
  EXPECT_EQ(status[2].at("name"), "other/net-b");
  EXPECT_EQ(status[2].at("interface"), "lan1");
  EXPECT_EQ(status[3].at("name"), "default/net-c");
  EXPECT_EQ(status[3].at("interface"), "net3");

  ASSERT_EQ(node.del("default", "three", config).exit_code, 0);
  expect_pod_empty(node.pod());
}

// A NAD holding a conflist: macvlan, then tuning as a chained plugin (Debian's, exec'd in both
// modes: a chain can mix in-process and exec'd members).
TEST_P(E2e, ConflistNetworkRunsTheWholeChain) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  auto macvlan = Node::macvlan_static("chain", {"192.168.104.10/24"});
  macvlan.erase("cniVersion");
  macvlan.erase("name");
  node.add_nad("default", "chain",
               json{{"cniVersion", kCniVersion}, {"name", "chain"},
                    {"plugins", json::array({macvlan, {{"type", "tuning"}, {"mtu", 1400}}})}});
  node.add_pod("default", "chained", {{"k8s.v1.cni.cncf.io/networks", "chain"}});
  const auto config = node.meta_config();

  const auto reply = node.add("default", "chained", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  const auto net1 = link_json(node.pod(), "net1");
  ASSERT_FALSE(net1.is_null());
  EXPECT_EQ(net1.at("mtu"), 1400);  // tuning ran after macvlan, on its result
  EXPECT_THAT(inet_addresses(net1), ::testing::ElementsAre("192.168.104.10/24"));

  ASSERT_EQ(node.del("default", "chained", config).exit_code, 0) << "DEL";
  expect_pod_empty(node.pod());
}

TEST_P(E2e, NamespaceIsolationAllowsGlobalNamespaces) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("shared", "net-g", Node::macvlan_static("net-g", {"192.168.105.10/24"}));
  node.add_pod("tenant-a", "app", {{"k8s.v1.cni.cncf.io/networks", "shared/net-g"}});
  const auto config = node.meta_config({{"namespaceIsolation", true}, {"globalNamespaces", "default,shared"}});

  const auto reply = node.add("tenant-a", "app", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "net1")), ::testing::ElementsAre("192.168.105.10/24"));
  ASSERT_EQ(node.del("tenant-a", "app", config).exit_code, 0);
}

TEST_P(E2e, NamespaceIsolationRefusesOtherNamespaces) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("tenant-b", "net-x", Node::macvlan_static("net-x", {"192.168.106.10/24"}));
  node.add_pod("tenant-a", "app", {{"k8s.v1.cni.cncf.io/networks", "tenant-b/net-x"}});
  const auto config = node.meta_config({{"namespaceIsolation", true}});
  const auto before_host = snapshot(node.host());

  const auto reply = node.add("tenant-a", "app", config);
  const auto error = error_of(reply);
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("tenant-b"));
  expect_pod_empty(node.pod());
  const auto after_host = settled_snapshot(node.host(), before_host);
  EXPECT_TRUE(after_host == before_host) << after_host.changes_since(before_host);
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

// ---------------------------------------------------------------------------------------------
// Kubernetes Events, as multus records them.

std::vector<json> events_with_reason(plexus::test::FakeApiServer& api, const std::string& reason) {
  std::vector<json> out;
  for (const auto& event : api.kube_events()) {
    if (event.at("reason") == reason) out.push_back(event);
  }
  return out;
}

std::string network_status_of(plexus::test::FakeApiServer& api, const std::string& ns, const std::string& name) {
  const auto pod = api.pod(ns, name);
  if (!pod) return "<no pod>";
  const auto annotations = pod->at("metadata").value("annotations", json::object());
  return annotations.value(kNetworkStatus, "<none>");
}

// ADD: one Normal AddedInterface per attachment, in multus's words, on the pod object; DEL clears
// network-status to "[]" and sends nothing.
TEST_P(E2e, AddedInterfaceEventsAndDelClearsNetworkStatus) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  const auto uid = node.add_pod(
      "default", "licensed-app",
      {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}])"}});
  const auto config = node.meta_config();

  const auto added = node.add("default", "licensed-app", config);
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  const auto eth0 = inet_addresses(link_json(node.pod(), "eth0"));
  ASSERT_EQ(eth0.size(), 1U);
  const auto events = node.api().kube_events();
  ASSERT_EQ(events.size(), 2U) << json(events).dump(2);
  EXPECT_EQ(events[0].at("message"), "Add eth0 [" + eth0.front() + "] from cbr0");
  EXPECT_EQ(events[1].at("message"), "Add net1 [192.168.111.10/24] from default/ip-192");
  for (const auto& event : events) {
    EXPECT_EQ(event.at("reason"), "AddedInterface");
    EXPECT_EQ(event.at("type"), "Normal");
    EXPECT_EQ(event.at("involvedObject"),
              (json{{"kind", "Pod"}, {"namespace", "default"}, {"name", "licensed-app"}, {"apiVersion", "v1"}, {"uid", uid}}));
    EXPECT_EQ(event.at("source").at("component"), "plexus");
    EXPECT_EQ(event.at("metadata").at("namespace"), "default");
    EXPECT_THAT(event.at("metadata").at("name").get<std::string>(), ::testing::StartsWith("licensed-app."));
  }
  EXPECT_THAT(network_status_of(node.api(), "default", "licensed-app"), HasSubstr("192.168.111.10"));

  const auto deleted = node.del("default", "licensed-app", config);
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_EQ(network_status_of(node.api(), "default", "licensed-app"), "[]");
  EXPECT_EQ(node.api().kube_events().size(), 2U) << "DEL sends no event";
  expect_pod_empty(node.pod());
}

TEST_P(E2e, SendEventsFalseSendsNone) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  node.add_pod("default", "broken", {{"k8s.v1.cni.cncf.io/networks", "no-such-net"}});
  const auto config = node.meta_config({{"sendEvents", false}});

  const auto added = node.add("default", "app", config);
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
  EXPECT_NE(node.call("ADD", "default", "broken", config, "broken").exit_code, 0);
  EXPECT_TRUE(node.api().kube_events().empty()) << json(node.api().kube_events()).dump(2);
  for (const auto& r : node.api().requests()) EXPECT_NE(r.path, "/api/v1/namespaces/default/events");
}

// A failing ADD is a Warning on the pod: multus's NoNetworkFound for a missing NAD, and
// ErrorAddingInterface with the CNI error for a delegate that failed (and was rolled back); no
// AddedInterface for the attachment that was undone.
TEST_P(E2e, FailingAddIsAWarningOnThePod) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "good", Node::macvlan_static("good", {"192.168.107.10/24"}));
  node.add_nad("default", "bad", Node::macvlan_static("bad", {"192.168.108.10/24"}, "no-such-master"));
  node.add_pod("default", "missing", {{"k8s.v1.cni.cncf.io/networks", "no-such-net"}});
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", "good,bad"}});
  const auto config = node.meta_config();

  EXPECT_NE(node.call("ADD", "default", "missing", config, "missing").exit_code, 0);
  const auto not_found = events_with_reason(node.api(), "NoNetworkFound");
  ASSERT_EQ(not_found.size(), 1U) << json(node.api().kube_events()).dump(2);
  EXPECT_EQ(not_found[0].at("type"), "Warning");
  EXPECT_EQ(not_found[0].at("involvedObject").at("name"), "missing");
  EXPECT_EQ(not_found[0].at("message"),
            "cannot find a network-attachment-definition (no-such-net) in namespace (default): "
            "network-attachment-definitions.k8s.cni.cncf.io \"no-such-net\" not found");

  const auto error = error_of(node.add("default", "app", config));
  const auto failed = events_with_reason(node.api(), "ErrorAddingInterface");
  ASSERT_EQ(failed.size(), 1U) << json(node.api().kube_events()).dump(2);
  EXPECT_EQ(failed[0].at("type"), "Warning");
  EXPECT_EQ(failed[0].at("involvedObject").at("name"), "app");
  EXPECT_EQ(failed[0].at("message"), error.at("msg"));
  EXPECT_THAT(failed[0].at("message").get<std::string>(), HasSubstr("\"default/bad\""));
  EXPECT_TRUE(events_with_reason(node.api(), "AddedInterface").empty()) << "nothing stayed attached";
  expect_pod_empty(node.pod());
}

// Every delegate succeeded but the network-status write fails (500 on the PUT): the pod keeps its
// networks and the ADD succeeds (multus PR 1407); the failure is logged and a Warning.
TEST_P(E2e, NetworkStatusWriteFailureLeavesThePodAttached) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config({{"logLevel", "error"}});
  node.api().fail_next_matching("PUT", "/pods/app/status", 1, 500, "etcdserver: request timed out");

  const auto added = node.add("default", "app", config);
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  EXPECT_EQ(json::parse(added.stdout_data).at("cniVersion"), kCniVersion);
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "net1")), ::testing::ElementsAre("192.168.111.10/24"));
  EXPECT_EQ(network_status_of(node.api(), "default", "app"), "<none>");
  EXPECT_TRUE(fs::exists(node.cache_dir() / node.container_id())) << "DEL still finds what to tear down";
  const auto warnings = events_with_reason(node.api(), "ErrorSettingNetworkStatus");
  ASSERT_EQ(warnings.size(), 1U) << json(node.api().kube_events()).dump(2);
  EXPECT_EQ(warnings[0].at("type"), "Warning");
  EXPECT_THAT(warnings[0].at("message").get<std::string>(),
              ::testing::AllOf(HasSubstr("default/app"), HasSubstr("stay attached"), HasSubstr("etcdserver: request timed out")));
  EXPECT_EQ(events_with_reason(node.api(), "AddedInterface").size(), 2U);
  if (node.mode().driver == Driver::Binary) {
    EXPECT_THAT(added.stderr_data, HasSubstr("[error] [" + node.container_id() + "] cannot set network-status on pod default/app"));
  }

  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

// An events endpoint that does not answer costs a thin ADD one bounded POST (1 s), never its
// result: the reply is complete and successful, and the events left are dropped with a log line.
TEST_P(E2e, SlowEventsEndpointNeverFailsTheAdd) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config({{"logLevel", "error"}});
  node.api().delay_next_matching("POST", "/events", 2, std::chrono::milliseconds(4000));

  const auto start = std::chrono::steady_clock::now();
  const auto added = node.add("default", "app", config);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  EXPECT_EQ(json::parse(added.stdout_data).at("cniVersion"), kCniVersion);
  EXPECT_FALSE(link_json(node.pod(), "net1").is_null());
  EXPECT_LT(took, std::chrono::milliseconds(3500)) << "one 1 s POST, then no more";
  EXPECT_THAT(added.stderr_data, HasSubstr("(1 more not sent)"));
  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
  expect_pod_empty(node.pod());
}

// ---------------------------------------------------------------------------------------------
// Hot-plug in real namespaces (the engine of plexusd's POST /attach, /detach): a network added to
// and removed from a running pod, its other interfaces untouched; an invalid one refused with a
// Warning and the pod as it was; DEL after a hot-plug tears the new interface down too.

json link_identity(const TestNetns& netns, const std::string& ifname) {
  auto link = link_json(netns, ifname);
  if (link.is_null()) return link;
  return json{{"ifindex", link.at("ifindex")}, {"address", link.at("address")}, {"addresses", inet_addresses(link)}};
}

TEST_P(E2e, HotplugAttachesAndDetachesOneNetworkLeavingTheOthersAlone) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_nad("default", "ip-193", Node::macvlan_static("ip-193", {"192.168.113.20/24"}));
  node.add_pod("default", "licensed-app",
               {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}])"}});
  const auto config = node.meta_config();
  ASSERT_EQ(node.add("default", "licensed-app", config).exit_code, 0);
  const auto eth0 = link_identity(node.pod(), "eth0");
  const auto net1 = link_identity(node.pod(), "net1");
  ASSERT_FALSE(net1.is_null());

  const auto attached = node.hotplug(true, "default", "licensed-app", config, "ip-193");
  ASSERT_EQ(attached.exit_code, 0) << describe(attached);
  EXPECT_EQ(json::parse(attached.stdout_data).at("ips").at(0).at("address"), "192.168.113.20/24");
  EXPECT_THAT(inet_addresses(link_json(node.pod(), "net2")), ::testing::ElementsAre("192.168.113.20/24"));
  EXPECT_EQ(link_identity(node.pod(), "eth0"), eth0) << "eth0 untouched";
  EXPECT_EQ(link_identity(node.pod(), "net1"), net1) << "net1 untouched (same link, MAC and IP)";
  auto status = json::parse(network_status_of(node.api(), "default", "licensed-app"));
  ASSERT_EQ(status.size(), 3U) << status.dump();
  EXPECT_EQ(status[2].at("name"), "default/ip-193");
  EXPECT_EQ(status[2].at("interface"), "net2");
  EXPECT_EQ(node.api().kube_events().back().at("message"), "Add net2 [192.168.113.20/24] from default/ip-193");

  // Invalid: a NAD that does not exist, an interface name in use. The pod stays as it is.
  const auto before = snapshot(node.pod());
  EXPECT_EQ(error_of(node.hotplug(true, "default", "licensed-app", config, "no-such-net")).at("code"), 7);
  EXPECT_EQ(node.api().kube_events().back().at("reason"), "NoNetworkFound");
  EXPECT_THAT(error_of(node.hotplug(true, "default", "licensed-app", config, "ip-193@net1")).at("msg").get<std::string>(),
              HasSubstr("already has an interface net1"));
  const auto after = settled_snapshot(node.pod(), before);
  EXPECT_TRUE(after == before) << after.changes_since(before);

  const auto detached = node.hotplug(false, "default", "licensed-app", config, "ip-193");
  ASSERT_EQ(detached.exit_code, 0) << describe(detached);
  EXPECT_THAT(link_names(node.pod()), ::testing::ElementsAre("lo", "eth0", "net1"));
  EXPECT_EQ(link_identity(node.pod(), "eth0"), eth0);
  EXPECT_EQ(link_identity(node.pod(), "net1"), net1);
  status = json::parse(network_status_of(node.api(), "default", "licensed-app"));
  EXPECT_EQ(status.size(), 2U) << status.dump();

  // Attach again, then the pod's DEL: every interface goes, the hot-plugged one included.
  ASSERT_EQ(node.hotplug(true, "default", "licensed-app", config, "ip-193").exit_code, 0);
  ASSERT_THAT(link_names(node.pod()), ::testing::Contains("net2"));
  ASSERT_EQ(node.del("default", "licensed-app", config).exit_code, 0);
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
  // A hot-plug after the DEL finds no pod: code 3, nothing attached.
  EXPECT_EQ(error_of(node.hotplug(true, "default", "licensed-app", config, "ip-193")).at("code"), 3);
  expect_pod_empty(node.pod());
}

TEST_P(E2e, MissingNadIsNamedAndNothingIsAttached) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", "no-such-net"}});
  const auto config = node.meta_config();

  const auto error = error_of(node.add("default", "app", config));
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("no-such-net"));
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

TEST_P(E2e, BadAnnotationsAreCode7AndNothingIsAttached) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  const auto config = node.meta_config();
  const std::map<std::string, std::string> bad{
      {"bad-json", R"([{"name":"ip-192",)"},
      {"bad-mac", R"([{"name":"ip-192","mac":"20:01:02:03:04"}])"},
      {"bad-cidr", R"([{"name":"ip-192","ips":["192.168.111.300/24"]}])"},
  };
  for (const auto& [pod, annotation] : bad) {
    SCOPED_TRACE(pod);
    node.add_pod("default", pod, {{"k8s.v1.cni.cncf.io/networks", annotation}});
    const auto error = error_of(node.add("default", pod, config));
    EXPECT_EQ(error.at("code"), 7) << error.dump();
    expect_pod_empty(node.pod());
    EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
  }
}

TEST_P(E2e, ApiServerDownOnAddFailsAndAttachesNothing) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config();
  node.api().stop();

  const auto reply = node.add("default", "app", config);
  EXPECT_NE(reply.exit_code, 0) << describe(reply);
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

TEST_P(E2e, ApiServerDownOnDelTearsDownFromTheCache) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config();
  const auto added = node.add("default", "app", config);
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  ASSERT_FALSE(host_local_allocations(node.ipam_dir()).empty());
  node.api().stop();

  const auto deleted = node.del("default", "app", config);
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
  EXPECT_THAT(node.host().exec_json("ip -j addr show dev cbr0").at(0).at("addr_info").size(), ::testing::Ge(1U));
}

// The second network's delegate fails (its master does not exist): the first is rolled back and
// both namespaces, host-local's allocations and the delegate cache are as before.
TEST_P(E2e, SecondDelegateFailingRollsBackTheFirst) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "good", Node::macvlan_static("good", {"192.168.107.10/24"}));
  node.add_nad("default", "bad", Node::macvlan_static("bad", {"192.168.108.10/24"}, "no-such-master"));
  node.add_pod("default", "warmup", {});
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", "good,bad"}});
  const auto config = node.meta_config();
  // A first pod on the node makes the bridge and its gateway address, which outlive any pod.
  ASSERT_EQ(node.call("ADD", "default", "warmup", config, "warmup").exit_code, 0);
  ASSERT_EQ(node.call("DEL", "default", "warmup", config, "warmup").exit_code, 0);
  // The warm-up's port is gone; let the bridge's carrier follow before the "before" picture.
  for (int i = 0; i < 40 && node.host().exec("ip -br link show cbr0").find("NO-CARRIER") == std::string::npos; ++i) ::usleep(50000);
  const auto pod_before = snapshot(node.pod());
  const auto host_before = snapshot(node.host());
  const auto ipam_before = host_local_allocations(node.ipam_dir());

  const auto error = error_of(node.add("default", "app", config));
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("bad"));

  const auto pod_after = settled_snapshot(node.pod(), pod_before);
  EXPECT_TRUE(pod_after == pod_before) << pod_after.changes_since(pod_before);
  const auto host_after = settled_snapshot(node.host(), host_before);
  EXPECT_TRUE(host_after == host_before) << host_after.changes_since(host_before);
  EXPECT_EQ(host_local_allocations(node.ipam_dir()), ipam_before);
  EXPECT_FALSE(fs::exists(node.cache_dir() / node.container_id()));
}

// v1.multus-cni.io/default-network replaces the cluster network (resolved in multusNamespace).
TEST_P(E2e, DefaultNetworkAnnotationReplacesTheClusterNetwork) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("kube-system", "alt-net",
               json{{"cniVersion", kCniVersion}, {"name", "alt-net"}, {"type", "bridge"}, {"bridge", "altbr"},
                    {"isDefaultGateway", true},
                    {"ipam", {{"type", "host-local"}, {"subnet", "10.77.0.0/24"}, {"dataDir", node.ipam_dir().string()}}}});
  node.add_pod("default", "app", {{"v1.multus-cni.io/default-network", "alt-net"}});
  const auto config = node.meta_config();

  const auto reply = node.add("default", "app", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  const auto eth0 = inet_addresses(link_json(node.pod(), "eth0"));
  ASSERT_EQ(eth0.size(), 1U);
  EXPECT_THAT(eth0.front(), ::testing::StartsWith("10.77.0."));
  const auto status = json::parse(node.api().pod("default", "app")->at("metadata").at("annotations").at(kNetworkStatus).get<std::string>());
  ASSERT_EQ(status.size(), 1U);
  // The network-status name is the NAD's network name, as for the configured cluster network.
  EXPECT_EQ(status[0].at("name"), "alt-net");
  EXPECT_EQ(status[0].at("default"), true);
  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
  expect_pod_empty(node.pod());
}

// readinessindicatorfile: absent, ADD is code 11 after the bounded wait and attaches nothing (the
// binary waits multus's 45 s, so that half runs on the in-process engine only); present, ADD works.
TEST_P(E2e, ReadinessIndicatorFileGatesAdd) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_pod("default", "app", {});
  const auto indicator = node.work() / "ready";
  const auto config = node.meta_config({{"readinessindicatorfile", indicator.string()}});

  if (GetParam().driver == Driver::Engine) {
    const auto error = error_of(node.add("default", "app", config));
    EXPECT_EQ(error.at("code"), 11) << error.dump();
    EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr(indicator.string()));
    expect_pod_empty(node.pod());
    EXPECT_TRUE(node.api().requests().empty()) << "the wait comes before any API call";
  }
  write_file(indicator, "");
  const auto reply = node.add("default", "app", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  EXPECT_FALSE(link_json(node.pod(), "eth0").is_null());
  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
}

// default-route on the macvlan network: the pod's only default route is then via net1's gateway;
// eth0's is gone, and network-status says so.
TEST_P(E2e, DefaultRouteSelectsTheMacvlanGateway) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "gw-net", Node::macvlan_static("gw-net", {"192.168.50.10/24"}));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"gw-net","default-route":["192.168.50.1"]}])"}});
  const auto config = node.meta_config();

  const auto reply = node.add("default", "app", config);
  ASSERT_EQ(reply.exit_code, 0) << describe(reply);
  const auto defaults = node.pod().exec_json("ip -j -4 route show default");
  ASSERT_EQ(defaults.size(), 1U) << defaults.dump();
  EXPECT_EQ(defaults[0].at("gateway"), "192.168.50.1");
  EXPECT_EQ(defaults[0].at("dev"), "net1");

  const auto status = json::parse(node.api().pod("default", "app")->at("metadata").at("annotations").at(kNetworkStatus).get<std::string>());
  ASSERT_EQ(status.size(), 2U);
  EXPECT_FALSE(status[0].contains("gateway")) << status.dump();
  EXPECT_EQ(status[0].at("default"), true);
  EXPECT_EQ(status[1].at("gateway"), json::array({"192.168.50.1"}));

  ASSERT_EQ(node.del("default", "app", config).exit_code, 0);
  expect_pod_empty(node.pod());
}

// Two IPv4 default-route gateways over the pod's networks are refused before anything runs.
TEST_P(E2e, DefaultRouteRefusesTwoIpv4Gateways) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "gw-a", Node::macvlan_static("gw-a", {"192.168.51.10/24"}));
  node.add_nad("default", "gw-b", Node::macvlan_static("gw-b", {"192.168.52.10/24"}));
  node.add_pod("default", "app",
               {{"k8s.v1.cni.cncf.io/networks",
                 R"([{"name":"gw-a","default-route":["192.168.51.1"]},{"name":"gw-b","default-route":["192.168.52.1"]}])"}});
  const auto error = error_of(node.add("default", "app", node.meta_config()));
  EXPECT_EQ(error.at("code"), 7) << error.dump();
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("ECMP"));
  expect_pod_empty(node.pod());
  EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
}

// A tenant's NAD that nests the meta-plugin (with its own cniDir, binDir and delegates), points
// host-local outside allowedDataRoots, or names its plugin by a path: ADD is code 7 naming the
// NAD, the key and the value, and leaves the host, the pod, host-local's state and the caches as
// they were, with no file created outside; DEL of the pod is success and changes nothing either.
TEST_P(E2e, TenantPolicyRefusesNadsThatReachOutsideAndNothingChanges) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  const auto evil = fs::temp_directory_path() / ("plexus-evil-" + node.container_id());
  fs::remove_all(evil);
  struct Case {
    std::string nad;
    json config;
    std::vector<std::string> named;
  };
  const std::vector<Case> cases = {
      {"nest-multus",
       {{"cniVersion", kCniVersion}, {"name", "nest-multus"}, {"type", "multus"}, {"cniDir", (evil / "cache").string()},
        {"binDir", (evil / "bin").string()}, {"kubeconfig", node.kubeconfig().string()},
        {"delegates", json::array({Node::macvlan_static("inner", {"192.168.120.10/24"})})}},
       {"\"type\" is \"multus\"", "meta-plugin"}},
      {"nest-plexus",
       {{"cniVersion", kCniVersion}, {"name", "nest-plexus"}, {"type", "plexus"}, {"cniDir", (evil / "cache").string()},
        {"clusterNetwork", "cbr0"}},
       {"\"type\" is \"plexus\""}},
      {"evil-ipam",
       {{"cniVersion", kCniVersion}, {"name", "evil-ipam"}, {"type", "macvlan"}, {"master", "eth0"},
        {"ipam", {{"type", "host-local"}, {"subnet", "192.168.121.0/24"}, {"dataDir", (evil / "data").string()},
                  {"resolvConf", "/etc/shadow"}}}},
       {"\"ipam.dataDir\" is \"" + (evil / "data").string() + "\"", "outside allowedDataRoots"}},
      {"evil-resolv",
       {{"cniVersion", kCniVersion}, {"name", "evil-resolv"}, {"type", "macvlan"}, {"master", "eth0"},
        {"ipam", {{"type", "host-local"}, {"subnet", "192.168.122.0/24"}, {"dataDir", node.ipam_dir().string()},
                  {"resolvConf", "/etc/shadow"}}}},
       {"\"ipam.resolvConf\" is \"/etc/shadow\""}},
      {"evil-type", {{"cniVersion", kCniVersion}, {"name", "evil-type"}, {"type", "../../bin/sh"}},
       {"\"type\" is \"../../bin/sh\"", "plain file name"}},
  };
  const auto config = node.meta_config();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.nad);
    node.add_nad("default", c.nad, c.config);
    node.add_pod("default", c.nad, {{"k8s.v1.cni.cncf.io/networks", c.nad}});
    const auto pod_before = snapshot(node.pod());
    const auto host_before = snapshot(node.host());
    const auto ipam_before = host_local_allocations(node.ipam_dir());

    const auto error = error_of(node.add("default", c.nad, config));
    EXPECT_EQ(error.at("code"), 7) << error.dump();
    const auto msg = error.at("msg").get<std::string>();
    EXPECT_THAT(msg, HasSubstr("network-attachment-definition default/" + c.nad));
    for (const auto& name : c.named) EXPECT_THAT(msg, HasSubstr(name));

    const auto check_unchanged = [&](const char* when) {
      SCOPED_TRACE(when);
      const auto pod_after = settled_snapshot(node.pod(), pod_before);
      EXPECT_TRUE(pod_after == pod_before) << pod_after.changes_since(pod_before);
      const auto host_after = settled_snapshot(node.host(), host_before);
      EXPECT_TRUE(host_after == host_before) << host_after.changes_since(host_before);
      EXPECT_EQ(host_local_allocations(node.ipam_dir()), ipam_before);
      EXPECT_FALSE(fs::exists(evil)) << "created outside: " << evil;
      EXPECT_FALSE(fs::exists(node.cache_dir() / node.container_id()));
    };
    check_unchanged("after ADD");
    const auto deleted = node.del("default", c.nad, config);
    EXPECT_EQ(deleted.exit_code, 0) << describe(deleted);
    check_unchanged("after DEL");
  }
  fs::remove_all(evil);
}

// forceAddress on a shared bridge: another network's gateway address stays unless the node's
// config opts in with allowGatewayTakeover, and then it is replaced as the reference bridge does.
TEST_P(E2e, TenantPolicyGatewayTakeoverNeedsTheAdminsOptIn) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  const auto bridge_nad = [&](const std::string& name, const std::string& subnet, bool force) {
    return json{{"cniVersion", kCniVersion}, {"name", name}, {"type", "bridge"}, {"bridge", "shared0"},
                {"isGateway", true}, {"forceAddress", force},
                {"ipam", {{"type", "host-local"}, {"subnet", subnet}, {"dataDir", node.ipam_dir().string()}}}};
  };
  node.add_nad("default", "owner", bridge_nad("owner", "10.66.0.0/24", false));
  node.add_nad("default", "taker", bridge_nad("taker", "10.67.0.0/24", true));
  node.add_pod("default", "first", {{"k8s.v1.cni.cncf.io/networks", "owner"}});
  node.add_pod("default", "second", {{"k8s.v1.cni.cncf.io/networks", "taker"}});
  const auto config = node.meta_config();
  ASSERT_EQ(node.call("ADD", "default", "first", config, "first").exit_code, 0);
  const auto shared_addresses = [&] { return inet_addresses(link_json(node.host(), "shared0")); };
  ASSERT_THAT(shared_addresses(), ::testing::ElementsAre("10.66.0.1/24"));
  ASSERT_EQ(node.call("DEL", "default", "first", config, "first").exit_code, 0);  // the pod's gone; its gateway stays
  // The bridges' carrier follows their last port away; let it settle before the "before" picture.
  for (const auto* bridge : {"cbr0", "shared0"}) {
    for (int i = 0; i < 40 && node.host().exec(std::string("ip -br link show ") + bridge).find("NO-CARRIER") == std::string::npos; ++i) {
      ::usleep(50000);
    }
  }

  const auto host_before = snapshot(node.host());
  const auto refused = node.add("default", "second", config);
  const auto error = error_of(refused);
  EXPECT_EQ(error.at("code"), 7) << error.dump();
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("\"forceAddress\" is true"));
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("allowGatewayTakeover"));
  const auto host_after = settled_snapshot(node.host(), host_before);
  EXPECT_TRUE(host_after == host_before) << host_after.changes_since(host_before);
  EXPECT_THAT(shared_addresses(), ::testing::ElementsAre("10.66.0.1/24"));
  expect_pod_empty(node.pod());
  EXPECT_EQ(node.del("default", "second", config).exit_code, 0);

  auto opted_in = node.meta_config({{"allowGatewayTakeover", true}});
  const auto taken = node.add("default", "second", opted_in);
  ASSERT_EQ(taken.exit_code, 0) << describe(taken);
  EXPECT_THAT(shared_addresses(), ::testing::ElementsAre("10.67.0.1/24"));
  EXPECT_EQ(node.del("default", "second", opted_in).exit_code, 0);
}

// Every file under `dir` with its contents: the delegate cache and libcni's result cache.
std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_file(entry.path());
  }
  return files;
}

// A failed ADD anywhere leaves the host, the pod, host-local's state and the caches exactly as
// they were: a macvlan on a missing master, an IPAM failure after the macvlan exists, a bridge NAD
// naming the node's uplink or lo (plexus's bridge refuses it untouched; Debian's sets promisc on
// it first, so those run on plexus's delegates only), and a second network failing after the
// first attached. The cluster network (attached first every time) is rolled back as well. DEL of
// the pod afterwards is success even where a delegate's own DEL fails on the same config.
TEST_P(E2e, FailedAddsLeaveHostPodAndCachesAsTheyWere) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  const bool plexus_delegates = GetParam().delegates == Delegates::PlexusInProcess;
  node.add_nad("default", "good", Node::macvlan_static("good", {"192.168.130.10/24"}));
  node.add_nad("default", "no-master", Node::macvlan_static("no-master", {"192.168.131.10/24"}, "no-such-master"));
  node.add_nad("default", "ipam-fails",
               json{{"cniVersion", kCniVersion}, {"name", "ipam-fails"}, {"type", "macvlan"}, {"master", "eth0"},
                    {"ipam", {{"type", "host-local"}, {"subnet", "192.168.132.0/33"}, {"dataDir", node.ipam_dir().string()}}}});
  for (const std::string uplink : {"eth0", "lo"}) {
    node.add_nad("default", "bridge-on-" + uplink,
                 json{{"cniVersion", kCniVersion}, {"name", "bridge-on-" + uplink}, {"type", "bridge"}, {"bridge", uplink},
                      {"promiscMode", true}, {"mtu", 1400},
                      {"ipam", {{"type", "host-local"}, {"subnet", "192.168.133.0/24"}, {"dataDir", node.ipam_dir().string()}}}});
  }
  node.add_pod("default", "warmup", {});
  const auto config = node.meta_config();
  // A first pod on the node makes the cluster bridge's gateway address, which outlives any pod.
  ASSERT_EQ(node.call("ADD", "default", "warmup", config, "warmup").exit_code, 0);
  ASSERT_EQ(node.call("DEL", "default", "warmup", config, "warmup").exit_code, 0);
  for (int i = 0; i < 40 && node.host().exec("ip -br link show cbr0").find("NO-CARRIER") == std::string::npos; ++i) ::usleep(50000);

  // Debian's macvlan leaves its link behind when its IPAM fails (its DEL runs the IPAM first and
  // stops there): those cases are plexus's delegates' only too.
  std::vector<std::string> selections = {"no-master", "good,no-master"};
  if (plexus_delegates) {
    for (const auto* more : {"ipam-fails", "good,ipam-fails", "bridge-on-eth0", "bridge-on-lo", "good,bridge-on-eth0"}) {
      selections.emplace_back(more);
    }
  }
  for (const auto& selection : selections) {
    SCOPED_TRACE(selection);
    const auto pod_name = "app-" + std::to_string(&selection - selections.data());
    node.add_pod("default", pod_name, {{"k8s.v1.cni.cncf.io/networks", selection}});
    const auto pod_before = snapshot(node.pod());
    const auto host_before = snapshot(node.host());
    const auto ipam_before = host_local_allocations(node.ipam_dir());
    const auto caches_before = files_under(node.cache_dir());

    const auto failed = node.add("default", pod_name, config);
    const auto error = error_of(failed);
    const auto last = selection.substr(selection.rfind(',') + 1);
    EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("default/" + last)) << error.dump();

    const auto pod_after = settled_snapshot(node.pod(), pod_before);
    EXPECT_TRUE(pod_after == pod_before) << pod_after.changes_since(pod_before);
    const auto host_after = settled_snapshot(node.host(), host_before);
    EXPECT_TRUE(host_after == host_before) << host_after.changes_since(host_before);
    EXPECT_EQ(host_local_allocations(node.ipam_dir()), ipam_before);
    EXPECT_EQ(files_under(node.cache_dir()), caches_before);

    // DEL of the pod that never got its networks: success, and still nothing changed.
    const auto deleted = node.del("default", pod_name, config);
    EXPECT_EQ(deleted.exit_code, 0) << describe(deleted);
    const auto host_after_del = settled_snapshot(node.host(), host_before);
    EXPECT_TRUE(host_after_del == host_before) << host_after_del.changes_since(host_before);
    EXPECT_EQ(files_under(node.cache_dir()), caches_before);
  }
}

// logFile as multus documents it, on the real `plexus` binary with plexus's in-process macvlan:
// timestamped lines of the ADD and DEL, the plugin's own line among them, the file created 0600,
// nothing on stderr with logToStderr false; a logFile that cannot be opened leaves the ADD working
// and says so on stderr.
TEST(E2eLogFile, AddAndDelLinesIncludeThePluginsOwn) {
  PLEXUS_REQUIRE_ROOT();
  Node node(Mode{Driver::Binary, Delegates::PlexusInProcess});
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "licensed-app",
               {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"],"mac":"20:01:02:03:04:05"}])"}});
  const auto log_file = node.work() / "plexus.log";
  const auto config = node.meta_config({{"logFile", log_file.string()}, {"logLevel", "verbose"}, {"logToStderr", false}});

  const auto added = node.add("default", "licensed-app", config);
  ASSERT_EQ(added.exit_code, 0) << describe(added);
  EXPECT_EQ(added.stderr_data, "") << "logToStderr false";
  const auto deleted = node.del("default", "licensed-app", config);
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);

  std::vector<std::string> lines;
  {
    std::istringstream in(read_file(log_file));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  const std::string id = "\\[" + node.container_id() + "\\] ";
  const std::string stamp = R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[verbose\] )";
  const auto has_line = [&](const std::string& pattern) {
    const std::regex re(stamp + id + pattern);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return std::regex_search(line, re); });
  };
  const auto all = read_file(log_file);
  EXPECT_TRUE(has_line(R"(plugin: macvlan net1 on eth0 \(mode bridge, mac 20:01:02:03:04:05\))")) << all;
  EXPECT_TRUE(has_line(R"(Add net1 \[192\.168\.111\.10/24\] from default/ip-192$)")) << all;
  EXPECT_TRUE(has_line(R"(Add eth0 \[10\.244\.1\.\d+/24\] from cbr0$)")) << all;
  EXPECT_TRUE(has_line(R"(Del net1 from default/ip-192$)")) << all;
  struct stat info {};
  ASSERT_EQ(::stat(log_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777U, 0600U);

  const auto unopenable = node.work() / "no-such-dir" / "plexus.log";
  const auto bad = node.meta_config({{"logFile", unopenable.string()}, {"logLevel", "verbose"}, {"logToStderr", false}});
  const auto again = node.add("default", "licensed-app", bad);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_THAT(again.stderr_data, HasSubstr("cannot open logFile " + unopenable.string()));
  EXPECT_FALSE(link_json(node.pod(), "net1").is_null()) << "attached all the same";
  ASSERT_EQ(node.del("default", "licensed-app", bad).exit_code, 0);
  expect_pod_empty(node.pod());
}

// ---------------------------------------------------------------------------------------------
// Hostile input (issue 9): nothing outside plexus's dirs, the pod's netns or its memory bound.

// Every file under `dir` (the node's work dir: cniDir, its result cache, confDir, the IPAM dir and
// the sentinels) with a hash of its contents, and every directory; the call's own stdin and
// stderr capture files are left out.
std::map<std::string, std::string> tree_snapshot(const fs::path& dir) {
  std::map<std::string, std::string> tree;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto relative = fs::relative(entry.path(), dir).string();
    if (relative == "stdin.json" || relative == "stderr.txt") continue;
    tree[relative] = entry.is_directory() ? "dir" : std::to_string(std::hash<std::string>{}(read_file(entry.path())));
  }
  return tree;
}

// ADD and DEL with container IDs that would name paths outside cniDir (or no file): code 4, exit
// 1, and not one file created, changed or removed, inside cniDir or out. The sentinels sit
// exactly where each ID would land.
TEST_P(E2e, HostileContainerIdsAreCode4AndTouchNoFile) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config();
  write_file(node.work() / "x", "sentinel for ../x");
  fs::create_directories(node.cache_dir() / "a");
  write_file(node.cache_dir() / "a" / "b", "sentinel for a/b");
  fs::create_directories(node.cache_dir() / "results");
  write_file(node.cache_dir() / "results" / "sentinel", "a result cache entry");
  fs::create_directories(node.work() / "outside");
  write_file(node.work() / "outside" / "x", "sentinel for an absolute ID");
  const auto absolute = (node.work() / "outside" / "x").string();
  const auto before = tree_snapshot(node.work());
  const auto before_host = snapshot(node.host());

  for (const std::string command : {"ADD", "DEL"}) {
    for (const std::string& id : std::vector<std::string>{"../x", "a/b", "/tmp/x", absolute, "..", ""}) {
      SCOPED_TRACE(command + " with CNI_CONTAINERID \"" + id + "\"");
      // An empty ID must not fall back to the node's default one.
      const auto reply = id.empty() ? node.call(command, "default", "app", config, " ") : node.call(command, "default", "app", config, id);
      EXPECT_EQ(reply.exit_code, 1) << describe(reply);
      const auto error = error_of(reply);
      EXPECT_EQ(error.at("code"), 4) << error.dump();
      const auto msg = error.at("msg").get<std::string>();
      if (id.empty()) {
        EXPECT_THAT(msg, HasSubstr("invalid CNI_CONTAINERID \" \"")) << "a blank ID is no ID";
      } else {
        EXPECT_THAT(msg, HasSubstr("CNI_CONTAINERID \"" + id + "\"")) << msg;
      }
      EXPECT_EQ(tree_snapshot(node.work()), before);
      expect_pod_empty(node.pod());
    }
  }
  const auto after_host = settled_snapshot(node.host(), before_host);
  EXPECT_TRUE(after_host == before_host) << after_host.changes_since(before_host);
}

TEST_P(E2e, MissingContainerIdIsCode4ContainerIdMissing) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  const auto config = node.meta_config();
  const auto before = tree_snapshot(node.work());
  for (const std::string command : {"ADD", "DEL"}) {
    SCOPED_TRACE(command);
    const auto error = error_of(node.call_with_empty_container_id(command, config));
    EXPECT_EQ(error.at("code"), 4) << error.dump();
    EXPECT_EQ(error.at("msg"), "CNI_CONTAINERID missing");
    EXPECT_EQ(tree_snapshot(node.work()), before);
  }
  expect_pod_empty(node.pod());
}

// A name the pod's namespace already has is refused before any delegate runs, and survives.
TEST_P(E2e, RequestedInterfaceThatExistsIsRefusedAndTheLinkSurvives) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192"));
  node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", R"([{"name":"ip-192","interface":"net1","ips":["192.168.111.10/24"]}])"}});
  const auto config = node.meta_config();
  node.pod().exec("ip link add net1 address 02:00:00:00:0e:01 type veth peer name other0");
  const auto before_pod = snapshot(node.pod());
  const auto before_host = snapshot(node.host());
  const auto before_files = tree_snapshot(node.work());

  const auto error = error_of(node.add("default", "app", config));
  EXPECT_EQ(error.at("code"), 7) << error.dump();
  EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("network \"default/ip-192\": interface \"net1\" already exists"));
  const auto net1 = link_json(node.pod(), "net1");
  ASSERT_FALSE(net1.is_null()) << "the pod's own link was removed";
  EXPECT_EQ(net1.at("address"), "02:00:00:00:0e:01");
  const auto after_pod = snapshot(node.pod());
  EXPECT_TRUE(after_pod == before_pod) << after_pod.changes_since(before_pod);
  const auto after_host = settled_snapshot(node.host(), before_host);
  EXPECT_TRUE(after_host == before_host) << after_host.changes_since(before_host);
  EXPECT_EQ(tree_snapshot(node.work()), before_files) << "no delegate cache entry, no IPAM file";
}

TEST_P(E2e, InterfaceNamesThatAreNoLinuxNamesOrTakenTwiceAreCode7) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192", {"192.168.111.10/24"}));
  node.add_nad("default", "ip-193", Node::macvlan_static("ip-193", {"192.168.112.10/24"}));
  const auto config = node.meta_config();
  const std::vector<std::pair<std::string, std::string>> bad{
      {R"([{"name":"ip-192","interface":"a b"}])", R"(interface name "a b")"},
      {R"([{"name":"ip-192","interface":"lan\u0001"}])", R"(interface name "lan\u0001")"},
      {R"([{"name":"ip-192","interface":"a/b"}])", R"(interface name "a/b")"},
      {R"([{"name":"ip-192","interface":"a:b"}])", R"(interface name "a:b")"},
      {R"([{"name":"ip-192","interface":".."}])", R"(interface name "..")"},
      {R"([{"name":"ip-192","interface":"0123456789abcdef"}])", R"(interface name "0123456789abcdef")"},
      {"ip-192@", R"(network "ip-192" asks for an empty interface name)"},
      {"ip-192@lan0,ip-193@lan0", R"(network "default/ip-193" asks for interface "lan0", which network "default/ip-192")"},
      {"ip-192@eth0", R"(asks for interface "eth0")"},
  };
  int serial = 0;
  for (const auto& [annotation, expected] : bad) {
    SCOPED_TRACE(annotation);
    const auto pod = "bad-" + std::to_string(serial++);
    node.add_pod("default", pod, {{"k8s.v1.cni.cncf.io/networks", annotation}});
    const auto error = error_of(node.add("default", pod, config));
    EXPECT_EQ(error.at("code"), 7) << error.dump();
    EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr(expected));
    if (expected.rfind("interface name", 0) == 0) {
      EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("network \"ip-192\""));
    }
    expect_pod_empty(node.pod());
    EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
    EXPECT_FALSE(fs::exists(node.cache_dir() / node.container_id()));
  }
}

// Per-pod bounds: a 64 KiB annotation and 64 networks; beyond them code 7 naming the limit.
TEST_P(E2e, OversizedAnnotationAndTooManyNetworksAreCode7NamingTheLimit) {
  PLEXUS_REQUIRE_ROOT();
  Node node(GetParam());
  node.add_nad("default", "ip-192", Node::macvlan_static("ip-192", {"192.168.111.10/24"}));
  const auto config = node.meta_config();
  std::string many = "ip-192";
  for (int i = 1; i < 65; ++i) many += ",ip-192";
  const std::string huge = R"([{"name":"ip-192","cni-args":{"pad":")" + std::string(65 * 1024, 'x') + R"("}}])";
  for (const auto& [annotation, expected] : std::vector<std::pair<std::string, std::string>>{
           {many, "it names 65 networks, more than the limit of 64 per pod"},
           {huge, "more than the limit of 65536 bytes per pod"}}) {
    SCOPED_TRACE(expected);
    node.add_pod("default", "big", {{"k8s.v1.cni.cncf.io/networks", annotation}});
    const auto error = error_of(node.add("default", "big", config));
    EXPECT_EQ(error.at("code"), 7) << error.dump();
    EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr(expected));
    expect_pod_empty(node.pod());
    EXPECT_FALSE(fs::exists(node.cache_dir() / node.container_id()));
  }
}

// A delegate's resolvConf that is /dev/zero or a FIFO: refused at once, code 7 naming the file,
// nothing attached (plexus's host-local, under the exec'd plexus and the in-process engine; the
// default allowedDataRoots would refuse these paths earlier, so the test widens them).
TEST(E2eHostile, DevZeroAndFifoResolvConfAreCode7AndAttachNothing) {
  PLEXUS_REQUIRE_ROOT();
  for (const auto driver : {Driver::Binary, Driver::Engine}) {
    Node node(Mode{driver, Delegates::PlexusInProcess});
    const auto fifo = node.work() / "resolv.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // A first pod makes the bridge's gateway address, which outlives every pod.
    node.add_pod("default", "warmup", {});
    ASSERT_EQ(node.call("ADD", "default", "warmup", node.meta_config(), "warmup").exit_code, 0);
    ASSERT_EQ(node.call("DEL", "default", "warmup", node.meta_config(), "warmup").exit_code, 0);
    // The warm-up's port is gone; let the bridge's carrier follow before the "before" picture.
    for (int i = 0; i < 40 && node.host().exec("ip -br link show cbr0").find("NO-CARRIER") == std::string::npos; ++i) ::usleep(50000);
    for (const fs::path& resolv : {fs::path("/dev/zero"), fifo}) {
      SCOPED_TRACE(resolv.string());
      auto nad = Node::macvlan_static("dns");
      nad["ipam"] = {{"type", "host-local"}, {"subnet", "192.168.120.0/24"}, {"dataDir", node.ipam_dir().string()},
                     {"resolvConf", resolv.string()}};
      node.add_nad("default", "dns", nad);
      node.add_pod("default", "app", {{"k8s.v1.cni.cncf.io/networks", "dns"}});
      const auto before_host = snapshot(node.host());
      const auto start = std::chrono::steady_clock::now();
      // The admin lets resolvConf reach /dev and the work dir, so host-local itself must refuse it.
      const auto roots = json{{"allowedDataRoots", json::array({node.ipam_dir().string(), "/dev", node.work().string()})}};
      const auto error = error_of(node.add("default", "app", node.meta_config(roots)));
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
      EXPECT_EQ(error.at("code"), 7) << error.dump();
      EXPECT_THAT(error.at("msg").get<std::string>(), HasSubstr("resolvConf " + resolv.string() + " is not a regular file"));
      expect_pod_empty(node.pod());
      EXPECT_TRUE(host_local_allocations(node.ipam_dir()).empty());
      EXPECT_FALSE(fs::exists(node.cache_dir() / node.container_id()));
      const auto after_host = settled_snapshot(node.host(), before_host);
      EXPECT_TRUE(after_host == before_host) << after_host.changes_since(before_host);
    }
  }
}

// 100 MiB on stdin to the exec'd `plexus` (and `plexus-shim`): exit 1, code 7 naming the limit,
// and the process never holds much more than the 16 MiB cap (max RSS from wait4).
TEST(E2eHostile, HundredMebibytesOfStdinAreCode7WithinBoundedMemory) {
  for (const std::string binary : {"plexus", "plexus-shim"}) {
    SCOPED_TRACE(binary);
    int to_child[2];
    int from_child[2];
    ASSERT_EQ(::pipe(to_child), 0);
    ASSERT_EQ(::pipe(from_child), 0);
    const auto program = std::string(PLEXUS_BUILD_DIR) + "/bin/" + binary;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      for (const int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
      const char* env[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=stdin-bomb", "CNI_NETNS=/run/netns/none", "CNI_IFNAME=eth0",
                           "CNI_PATH=/usr/lib/cni", "PATH=/usr/bin:/bin", nullptr};
      ::execle(program.c_str(), program.c_str(), static_cast<char*>(nullptr), env);
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    std::string output;
    std::thread reader([&] {
      char buffer[4096];
      ssize_t n = 0;
      while ((n = ::read(from_child[0], buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(n));
    });
    ::signal(SIGPIPE, SIG_IGN);  // the child stops reading at the cap and exits
    const std::string chunk(1024 * 1024, '{');
    std::size_t written = 0;
    for (int i = 0; i < 100; ++i) {
      const auto n = ::write(to_child[1], chunk.data(), chunk.size());
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    ::close(to_child[1]);
    int status = 0;
    struct rusage usage {};
    ASSERT_EQ(::wait4(pid, &status, 0, &usage), pid);
    reader.join();
    ::close(from_child[0]);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1) << output;
    EXPECT_LT(written, 100U * 1024U * 1024U) << "the whole input was read";
    const auto error = json::parse(output);
    EXPECT_EQ(error.at("code"), 7) << output;
    EXPECT_EQ(error.at("msg"), "the network configuration on stdin (PLEXUS_MAX_STDIN_BYTES) is larger than the limit of 16777216 bytes");
    const long max_rss_kib = usage.ru_maxrss;
    std::cout << binary << " max RSS: " << max_rss_kib << " KiB\n";
    EXPECT_LT(max_rss_kib, 64L * 1024L) << "KiB";
  }
}

INSTANTIATE_TEST_SUITE_P(AllWays, E2e,
                         ::testing::Values(Mode{Driver::Binary, Delegates::PlexusInProcess},
                                           Mode{Driver::Binary, Delegates::DebianExec},
                                           Mode{Driver::Engine, Delegates::PlexusInProcess},
                                           Mode{Driver::Engine, Delegates::DebianExec}),
                         mode_name);

}  // namespace
