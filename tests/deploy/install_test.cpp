// `plexus install` into temporary directories: atomic replacement under concurrent readers and
// exec'ers, the kubeconfig, the generated config, --watch, and that nothing is ever deleted.
#include "deploy_support.hpp"
#include "install.hpp"
#include "shim.hpp"

#include <plexus/cni/json.hpp>
#include <plexus/k8s/config.hpp>
#include <plexus/meta/config.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <sstream>
#include <thread>

#include <spawn.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

namespace plexus::cli {
namespace {
namespace fs = std::filesystem;
using deploy_test::read_text;
using deploy_test::TempDir;
using deploy_test::wait_until;
using deploy_test::write_text;
using namespace std::chrono_literals;

constexpr const char* kBridgeConflist = R"({
  "cniVersion": "1.0.0",
  "name": "cbr0",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipam": {"type": "host-local", "subnet": "10.244.1.0/24"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "bandwidth", "capabilities": {"bandwidth": true}}
  ]
})";

// A host under <tmp>/host, as the DaemonSet mounts it under /host.
struct FakeNode {
  TempDir tmp;
  fs::path host = tmp.path() / "host";
  fs::path conf_dir = host / "etc/cni/net.d";
  fs::path account = tmp.path() / "serviceaccount";
  InstallOptions options;

  FakeNode() {
    fs::create_directories(conf_dir);
    fs::create_directories(host / "opt/cni/bin");
    deploy_test::write_service_account(account, "token-1\n", deploy_test::kSampleCa);
    options.source_dir = PLEXUS_BUILD_DIR;
    options.cni_bin_dir = host / "opt/cni/bin";
    options.plugin_dir = host / "opt/cni/lib/plexus/plugins";
    options.cni_conf_dir = conf_dir;
    options.host_prefix = host;
    options.service_account_dir = account;
    options.api_host = "10.96.0.1";
    options.api_port = "443";
    options.poll_interval = 100ms;
    options.master_timeout = 0ms;
  }
  cni::ordered_json generated(const std::string& name) const { return cni::parse_json(read_text(conf_dir / name)); }
};

std::string mode_of(const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return "missing";
  char text[8];
  std::snprintf(text, sizeof text, "%04o", info.st_mode & 07777U);
  return text;
}

// --- atomic replacement -------------------------------------------------------------------------

TEST(AtomicWrite, ReaderSeesOnlyWholeVersions) {
  TempDir tmp;
  const auto target = tmp.path() / "plexus";
  const std::string first(1 << 20, 'a');
  const std::string second((1 << 20) + 4096, 'b');
  write_file_atomically(target, first, fs::perms(0755));

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!stop) {
      const auto seen = read_text(target);  // throws if the name were ever missing
      if (seen != first && seen != second) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 10000 && reads < 50; ++i) write_file_atomically(target, i % 2 == 0 ? second : first, fs::perms(0755));
  stop = true;
  reader.join();
  EXPECT_EQ(torn, 0);
  EXPECT_GE(reads, 50);
  EXPECT_EQ(mode_of(target), "0755");
  // No temporary is left beside the target.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

// kubelet execs the binary while the installer replaces it: with a rewrite in place this fails
// with ETXTBSY (the writer holds it open) or runs a truncated file; with the rename it never does.
// The exec'ing side is another process, as kubelet is (a thread of this process would inherit
// the writer's descriptors across its fork).
TEST(AtomicWrite, ExecDuringReplacementNeverFails) {
  TempDir tmp;
  const auto target = tmp.path() / "tool";
  const auto stop_file = tmp.path() / "stop";
  copy_file_atomically("/bin/true", target, fs::perms(0755));

  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t execer = ::fork();
  ASSERT_GE(execer, 0);
  if (execer == 0) {
    ::close(report[0]);
    std::string path = target.string();
    char* argv[] = {path.data(), nullptr};
    char* envp[] = {nullptr};
    int counts[2] = {0, 0};  // runs, failures
    while (::access(stop_file.c_str(), F_OK) != 0 && counts[0] < 100000) {
      pid_t pid = 0;
      if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv, envp) != 0) {
        ++counts[1];
        continue;
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      // /bin/true exits 0, /bin/false 1; anything else is a broken exec.
      if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) ++counts[1];
      ++counts[0];
    }
    (void)!::write(report[1], counts, sizeof counts);
    ::_exit(0);
  }
  ::close(report[1]);
  std::string install_error;
  try {
    for (int i = 0; i < 300; ++i) copy_file_atomically(i % 2 == 0 ? "/bin/false" : "/bin/true", target, fs::perms(0755));
  } catch (const std::exception& e) {
    install_error = e.what();  // e.g. "text file busy": still stop and reap the exec'er below
  }
  write_text(stop_file, "");
  int counts[2] = {0, 0};
  EXPECT_EQ(::read(report[0], counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
  ::close(report[0]);
  int status = 0;
  ::waitpid(execer, &status, 0);
  EXPECT_EQ(install_error, "");
  EXPECT_EQ(counts[1], 0) << "of " << counts[0] << " execs";
  EXPECT_GT(counts[0], 20);
}

TEST(AtomicWrite, FailureLeavesTargetAndNoTemporary) {
  TempDir tmp;
  const auto target = tmp.path() / "file";
  write_file_atomically(target, "old", fs::perms(0644));
  EXPECT_THROW(copy_file_atomically(tmp.path() / "does-not-exist", target, fs::perms(0755)), std::exception);
  EXPECT_EQ(read_text(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

// --- binaries -----------------------------------------------------------------------------------

TEST(InstallBinaries, CopiesPlexusPluginsAndFreeNamedBinaries) {
  FakeNode node;
  // A reference plugin of the cluster's own network already on the node.
  write_text(node.options.cni_bin_dir / "bridge", "#!/bin/sh\n# the node's own bridge\n");
  install_binaries(node.options);

  EXPECT_EQ(read_text(node.options.cni_bin_dir / "plexus"), read_text(fs::path(PLEXUS_BUILD_DIR) / "bin/plexus"));
  EXPECT_EQ(mode_of(node.options.cni_bin_dir / "plexus"), "0755");
  // Thin mode: kubelet runs plexus itself, so the shim stays off the node.
  EXPECT_EQ(mode_of(node.options.cni_bin_dir / "plexus-shim"), "missing");
  std::size_t plugins = 0;
  for (const auto& so : fs::directory_iterator(fs::path(PLEXUS_BUILD_DIR) / "lib/plexus/plugins")) {
    if (so.path().extension() != ".so") continue;
    ++plugins;
    const auto installed = node.options.plugin_dir / so.path().filename();
    EXPECT_TRUE(fs::exists(installed)) << installed;
    EXPECT_EQ(mode_of(installed), "0755");
  }
  EXPECT_GT(plugins, 0U);
  // plexus loads its Kubernetes client (libcurl) from <its dir>/../lib/plexus/ on its first API request.
  const auto k8s_module = (node.options.cni_bin_dir / "../lib/plexus/libplexus-k8s.so").lexically_normal();
  EXPECT_EQ(read_text(k8s_module), read_text(fs::path(PLEXUS_BUILD_DIR) / "lib/plexus/libplexus-k8s.so"));
  EXPECT_EQ(mode_of(k8s_module), "0755");
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "bridge"), "#!/bin/sh\n# the node's own bridge\n");
  for (const auto& binary : fs::directory_iterator(fs::path(PLEXUS_BUILD_DIR) / "cni-bin")) {
    if (binary.path().filename() == "bridge") continue;
    EXPECT_EQ(read_text(node.options.cni_bin_dir / binary.path().filename()), read_text(binary.path())) << binary.path();
  }
}

TEST(InstallBinaries, MissingPolicyUpdatesOnlyWhatPlexusInstalled) {
  FakeNode node;
  const auto source = node.tmp.path() / "image";
  write_text(source / "bin/plexus", "plexus v1");
  write_text(source / "cni-bin/macvlan", "macvlan v1");
  write_text(source / "cni-bin/bridge", "bridge v1");
  write_text(node.options.cni_bin_dir / "bridge", "the node's bridge");
  node.options.source_dir = source;
  install_binaries(node.options);
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "macvlan"), "macvlan v1");

  write_text(source / "cni-bin/macvlan", "macvlan v2");
  write_text(source / "bin/plexus", "plexus v2");
  install_binaries(node.options);
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "macvlan"), "macvlan v2");  // plexus's own: updated
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "plexus"), "plexus v2");
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "bridge"), "the node's bridge");  // never replaced

  node.options.cni_binaries = CniBinaryPolicy::All;
  install_binaries(node.options);
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "bridge"), "bridge v1");
}

// Thick mode: plexus-shim is what kubelet runs, and plexus next to it is where it hands a DEL
// with plexusd down, so both land in the CNI bin dir.
TEST(InstallBinaries, ThickModeInstallsPlexusShimNextToPlexus) {
  FakeNode node;
  node.options.daemon_socket = "/run/plexus/plexus.sock";
  node.options.cni_binaries = CniBinaryPolicy::None;
  const auto written = install_binaries(node.options);

  const auto shim = node.options.cni_bin_dir / "plexus-shim";
  const auto plexus = node.options.cni_bin_dir / "plexus";
  EXPECT_EQ(read_text(shim), read_text(fs::path(PLEXUS_BUILD_DIR) / "bin/plexus-shim"));
  EXPECT_EQ(read_text(plexus), read_text(fs::path(PLEXUS_BUILD_DIR) / "bin/plexus"));
  EXPECT_EQ(mode_of(shim), "0755");
  EXPECT_EQ(mode_of(plexus), "0755");
  EXPECT_EQ(shim.parent_path(), plexus.parent_path());
  // plexus goes first, so there is never a shim without its fallback.
  const auto at_shim = std::find(written.begin(), written.end(), shim);
  const auto at_plexus = std::find(written.begin(), written.end(), plexus);
  ASSERT_NE(at_shim, written.end());
  ASSERT_NE(at_plexus, written.end());
  EXPECT_LT(at_plexus, at_shim);
  // Replaced by rename like plexus: no temporary left beside them.
  for (const auto& entry : fs::directory_iterator(node.options.cni_bin_dir)) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << entry.path();
  }

  // An update replaces the installed shim too.
  const auto source = node.tmp.path() / "image";
  write_text(source / "bin/plexus", "plexus v2");
  write_text(source / "bin/plexus-shim", "plexus-shim v2");
  node.options.source_dir = source;
  install_binaries(node.options);
  EXPECT_EQ(read_text(shim), "plexus-shim v2");
  EXPECT_EQ(read_text(plexus), "plexus v2");
}

// A thick config names plexus-shim: a source without it fails the install, clearly, before a
// single file is copied or any config is written that kubelet could not run.
TEST(InstallBinaries, ThickModeWithoutPlexusShimFailsBeforeWritingAnything) {
  FakeNode node;
  const auto source = node.tmp.path() / "image";
  write_text(source / "bin/plexus", "plexus v1");
  write_text(node.conf_dir / "10-bridge.conflist", kBridgeConflist);
  node.options.source_dir = source;
  node.options.daemon_socket = "/run/plexus/plexus.sock";
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_install(node.options, out, err, [](std::chrono::milliseconds) { return true; }), 1);
  EXPECT_NE(err.str().find((source / "bin/plexus-shim").string() + " does not exist"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("--daemon-socket"), std::string::npos) << err.str();
  EXPECT_EQ(mode_of(node.options.cni_bin_dir / "plexus"), "missing");
  EXPECT_FALSE(fs::exists(node.conf_dir / "00-plexus.conflist"));
  EXPECT_FALSE(fs::exists(node.conf_dir / "00-plexus.conf"));

  // Thin mode never needs it.
  node.options.daemon_socket.clear();
  EXPECT_EQ(run_install(node.options, out, err, [](std::chrono::milliseconds) { return true; }), 0) << err.str();
  EXPECT_EQ(read_text(node.options.cni_bin_dir / "plexus"), "plexus v1");
}

// --- kubeconfig ---------------------------------------------------------------------------------

TEST(Kubeconfig, FromServiceAccountPrivateAndReadableByPlexus) {
  FakeNode node;
  EXPECT_TRUE(write_kubeconfig(node.options));
  const auto path = node.options.kubeconfig_path();
  EXPECT_EQ(path, node.conf_dir / "plexus.d/plexus.kubeconfig");
  EXPECT_EQ(mode_of(path), "0600");

  const auto yaml = YAML::LoadFile(path.string());
  EXPECT_EQ(yaml["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(yaml["kind"].as<std::string>(), "Config");
  EXPECT_EQ(yaml["clusters"][0]["cluster"]["server"].as<std::string>(), "https://10.96.0.1:443");
  EXPECT_EQ(yaml["users"][0]["user"]["token"].as<std::string>(), "token-1");

  // plexus's own loader (what the plugin runs on the node) reads back every field.
  const auto loaded = k8s::load_kubeconfig(path);
  EXPECT_EQ(loaded.server, "https://10.96.0.1:443");
  EXPECT_EQ(loaded.token, "token-1");
  EXPECT_EQ(loaded.ca_pem, deploy_test::kSampleCa);
  EXPECT_EQ(loaded.default_namespace, "kube-system");

  EXPECT_FALSE(write_kubeconfig(node.options)) << "unchanged credentials must not rewrite the file";
}

TEST(Kubeconfig, Ipv6ServiceAddressIsBracketed) {
  FakeNode node;
  node.options.api_host = "fd00:10:96::1";
  write_kubeconfig(node.options);
  EXPECT_EQ(k8s::load_kubeconfig(node.options.kubeconfig_path()).server, "https://[fd00:10:96::1]:443");
}

TEST(Kubeconfig, MissingServiceEnvIsAnError) {
  FakeNode node;
  node.options.api_host.clear();
  EXPECT_THROW(write_kubeconfig(node.options), std::runtime_error);
  EXPECT_FALSE(fs::exists(node.options.kubeconfig_path()));
}

// --- generated config ---------------------------------------------------------------------------

TEST(GeneratedConfig, FromBridgeConflist) {
  FakeNode node;
  write_text(node.conf_dir / "10-bridge.conflist", kBridgeConflist);
  write_text(node.conf_dir / "99-other.conf", R"({"cniVersion":"0.4.0","name":"other","type":"ptp"})");
  EXPECT_TRUE(write_plexus_config(node.options));

  const auto file = node.conf_dir / "00-plexus.conflist";  // cniVersion 1.0.0: a conflist
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(mode_of(file), "0644");
  const auto config = node.generated("00-plexus.conflist");
  EXPECT_EQ(config["cniVersion"], "1.0.0");
  EXPECT_EQ(config["name"], "plexus-cni-network");
  ASSERT_EQ(config["plugins"].size(), 1U);
  const auto& plexus = config["plugins"][0];
  EXPECT_EQ(plexus["type"], "plexus");
  // Host paths: the node runs plexus, not this container.
  EXPECT_EQ(plexus["clusterNetwork"], "/etc/cni/net.d/10-bridge.conflist");
  EXPECT_EQ(plexus["kubeconfig"], "/etc/cni/net.d/plexus.d/plexus.kubeconfig");
  EXPECT_EQ(plexus["capabilities"], cni::parse_json(R"({"portMappings":true,"bandwidth":true})"));
  EXPECT_FALSE(plexus.contains("pluginDirs")) << "the plugin dir is the one plexus finds by itself";
  EXPECT_FALSE(plexus.contains("daemonSocket"));
  EXPECT_FALSE(daemon_socket_of(plexus.dump()).has_value()) << "thin mode runs in-process, no daemon";

  // It is what kubelet picks: the first config file in lexical order.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(node.conf_dir)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names.front(), "00-plexus.conflist");

  // And the meta-plugin accepts it, as libcni hands it over (name and cniVersion injected).
  auto as_called = plexus;
  as_called["cniVersion"] = config["cniVersion"];
  as_called["name"] = config["name"];
  const auto parsed = meta::parse_meta_config(as_called.dump());
  EXPECT_EQ(parsed.cluster_network, "/etc/cni/net.d/10-bridge.conflist");
  EXPECT_EQ(parsed.capabilities.at("portMappings"), true);
}

TEST(GeneratedConfig, PreOneZeroIsAConfAndSkipsItsOwnFileAndJunk) {
  FakeNode node;
  write_text(node.conf_dir / "00-plexus.conf", R"({"cniVersion":"0.3.1","name":"stale","type":"plexus"})");
  write_text(node.conf_dir / "05-broken.conf", "{not json");
  write_text(node.conf_dir / "07-notes.txt", R"({"cniVersion":"0.3.1","name":"x","type":"x"})");
  write_text(node.conf_dir / "10-flannel.conf", R"({"cniVersion":"0.3.1","name":"cbr0","type":"flannel","capabilities":{"portMappings":true}})");
  node.options.override_network_name = true;
  node.options.namespace_isolation = true;
  node.options.global_namespaces = "default,infra";
  node.options.readiness_indicator_file = "/run/flannel/subnet.env";
  node.options.daemon_socket = "/run/plexus/plexus.sock";
  write_plexus_config(node.options);

  const auto config = node.generated("00-plexus.conf");
  EXPECT_EQ(config["cniVersion"], "0.3.1");
  EXPECT_EQ(config["name"], "cbr0");
  // Thick mode: kubelet execs the small shim, as multus's thick config names multus-shim.
  EXPECT_EQ(config["type"], "plexus-shim");
  EXPECT_EQ(config["clusterNetwork"], "/etc/cni/net.d/10-flannel.conf");
  EXPECT_EQ(config["capabilities"]["portMappings"], true);
  EXPECT_EQ(config["namespaceIsolation"], true);
  EXPECT_EQ(config["globalNamespaces"], "default,infra");
  EXPECT_EQ(config["readinessindicatorfile"], "/run/flannel/subnet.env");
  EXPECT_EQ(config["daemonSocket"], "/run/plexus/plexus.sock");
  // plexus-shim and plexus (they share daemon_socket_of) both forward it to that socket.
  EXPECT_EQ(daemon_socket_of(config.dump()), fs::path("/run/plexus/plexus.sock"));
  // And it is a meta config once plexusd (or the shim's DEL fallback) reads the type as plexus.
  auto as_run = config;
  as_run["type"] = "plexus";
  EXPECT_NO_THROW(meta::parse_meta_config(as_run.dump()));
}

TEST(GeneratedConfig, MasterFileNameAndVersionRules) {
  FakeNode node;
  write_text(node.conf_dir / "10-bridge.conflist", kBridgeConflist);
  write_text(node.conf_dir / "20-calico.conflist", R"({"cniVersion":"0.4.0","name":"k8s-pod-network","plugins":[{"type":"calico"}]})");
  node.options.master_cni_file_name = "20-calico.conflist";
  auto generated = generate_plexus_config(node.options);
  EXPECT_EQ(generated.master, node.conf_dir / "20-calico.conflist");
  EXPECT_EQ(generated.file.filename(), "00-plexus.conf");

  node.options.cni_version = "1.0.0";
  EXPECT_THROW(generate_plexus_config(node.options), std::runtime_error) << "versions differ without --force-cni-version";
  node.options.force_cni_version = true;
  generated = generate_plexus_config(node.options);
  EXPECT_EQ(cni::parse_json(generated.bytes)["cniVersion"], "1.0.0");
  EXPECT_EQ(generated.file.filename(), "00-plexus.conflist");

  node.options.master_cni_file_name.clear();
  fs::remove(node.conf_dir / "10-bridge.conflist");
  fs::remove(node.conf_dir / "20-calico.conflist");
  EXPECT_THROW(generate_plexus_config(node.options), std::runtime_error) << "no default network yet";
}

// --- --watch --------------------------------------------------------------------------------------

TEST(Watch, FollowsDefaultNetworkAndTokenAndDeletesNothing) {
  FakeNode node;
  node.options.skip_binaries = true;
  node.options.watch = true;
  write_text(node.conf_dir / "10-bridge.conflist", kBridgeConflist);

  std::atomic<bool> stop{false};
  std::ostringstream out;
  std::ostringstream err;
  int status = -1;
  std::thread watcher([&] {
    status = run_install(node.options, out, err, [&](std::chrono::milliseconds interval) {
      const auto until = std::chrono::steady_clock::now() + interval;
      while (!stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
      return stop.load();
    });
  });
  const auto conflist = node.conf_dir / "00-plexus.conflist";
  const auto conf = node.conf_dir / "00-plexus.conf";
  const auto kubeconfig = node.options.kubeconfig_path();
  ASSERT_TRUE(wait_until([&] { return fs::exists(conflist) && fs::exists(kubeconfig); }, 5s));

  // The default network changes its capabilities: the config follows within a few polls.
  std::string changed = kBridgeConflist;
  changed.replace(changed.find("\"bandwidth\": true"), 17, "\"bandwidth\": false");
  write_text(node.conf_dir / "10-bridge.conflist", changed);
  EXPECT_TRUE(wait_until([&] {
    return node.generated("00-plexus.conflist")["plugins"][0]["capabilities"]["bandwidth"] == false;
  }, 3s));

  // Another network now sorts first, with an older version: a .conf replaces the .conflist.
  write_text(node.conf_dir / "05-cilium.conf", R"({"cniVersion":"0.3.1","name":"cilium","type":"cilium-cni"})");
  EXPECT_TRUE(wait_until([&] { return fs::exists(conf) && !fs::exists(conflist); }, 3s));
  EXPECT_EQ(node.generated("00-plexus.conf")["clusterNetwork"], "/etc/cni/net.d/05-cilium.conf");

  // The token rotates: the kubeconfig is rewritten with the new one, still 0600.
  deploy_test::write_service_account(node.account, "token-2", deploy_test::kSampleCa);
  EXPECT_TRUE(wait_until([&] { return k8s::load_kubeconfig(kubeconfig).token == "token-2"; }, 3s));
  EXPECT_EQ(mode_of(kubeconfig), "0600");

  // The default network disappears: an error is reported, the config stays.
  fs::remove(node.conf_dir / "05-cilium.conf");
  fs::remove(node.conf_dir / "10-bridge.conflist");
  EXPECT_TRUE(wait_until([&] { return err.str().find("no default network") != std::string::npos; }, 3s)) << err.str();

  stop = true;
  watcher.join();
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(fs::exists(conf));
  EXPECT_TRUE(fs::exists(kubeconfig));
}

// The real binary as the DaemonSet runs it: SIGTERM ends --watch with 0 and removes nothing.
TEST(Watch, SigtermStopsTheBinaryAndKeepsTheFiles) {
  FakeNode node;
  write_text(node.conf_dir / "10-bridge.conflist", kBridgeConflist);
  const auto log = node.tmp.path() / "install.log";
  deploy_test::Child child({PLEXUS_BINARY, "install", "--skip-binaries", "--watch", "--poll-interval-ms=100",
                            "--cni-conf-dir=" + node.conf_dir.string(), "--host-prefix=" + node.host.string(),
                            "--cni-bin-dir=" + node.options.cni_bin_dir.string(),
                            "--plugin-dir=" + node.options.plugin_dir.string(),
                            "--service-account-dir=" + node.account.string()},
                           {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}, log);
  const auto conflist = node.conf_dir / "00-plexus.conflist";
  const auto kubeconfig = node.conf_dir / "plexus.d/plexus.kubeconfig";
  ASSERT_TRUE(wait_until([&] { return fs::exists(conflist) && fs::exists(kubeconfig); }, 10s)) << read_text(log);
  const auto before = read_text(conflist);
  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.wait(), 0) << read_text(log);
  EXPECT_EQ(read_text(conflist), before);
  EXPECT_EQ(k8s::load_kubeconfig(kubeconfig).server, "https://10.96.0.1:6443");
  EXPECT_NE(read_text(log).find("stay in place"), std::string::npos) << read_text(log);
}

TEST(InstallCommand, WithoutWatchWaitsBoundedForTheDefaultNetwork) {
  FakeNode node;
  std::string output;
  const auto started = std::chrono::steady_clock::now();
  const int code = deploy_test::run({PLEXUS_BINARY, "install", "--skip-binaries", "--master-timeout=1", "--poll-interval-ms=100",
                                     "--cni-conf-dir=" + node.conf_dir.string(), "--host-prefix=" + node.host.string(),
                                     "--service-account-dir=" + node.account.string()},
                                    {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_NE(output.find("no default network"), std::string::npos) << output;
}

}  // namespace
}  // namespace plexus::cli
