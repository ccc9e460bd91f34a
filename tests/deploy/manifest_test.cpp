// deploy/ against the build and the installer: every manifest parses, the CRD is the NPWG one,
// RBAC grants what the code calls, the DaemonSets run binaries the build makes at paths the image
// has, mount what `plexus install` writes, and the Dockerfile ships that layout.
#include "deploy_support.hpp"
#include "shim.hpp"

#include <plexus/cni/json.hpp>
#include <plexus/daemon/config.hpp>
#include <plexus/meta/config.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

namespace plexus::deploy_test {
namespace {
namespace fs = std::filesystem;

const fs::path kDeploy = fs::path(PLEXUS_SOURCE_DIR) / "deploy";
const fs::path kBuild = PLEXUS_BUILD_DIR;
constexpr std::string_view kImagePrefix = "/opt/plexus";

std::vector<fs::path> manifest_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kDeploy)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<YAML::Node> documents(const fs::path& file) {
  std::vector<YAML::Node> docs;
  for (const auto& doc : YAML::LoadAllFromFile(file.string())) {
    if (doc.IsDefined() && !doc.IsNull()) docs.push_back(doc);
  }
  return docs;
}

YAML::Node only(const fs::path& file, const std::string& kind) {
  YAML::Node found;
  int count = 0;
  for (const auto& doc : documents(file)) {
    if (doc["kind"].as<std::string>() == kind) {
      found.reset(doc);
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << kind << " in " << file;
  return found;
}

std::set<std::string> strings(const YAML::Node& seq) {
  std::set<std::string> out;
  for (const auto& item : seq) out.insert(item.as<std::string>());
  return out;
}

std::string mode_of_file(const fs::path& file) {
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::is_regular_file(status)) return "missing";
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(status.permissions() & fs::perms::mask));
  return text;
}

std::set<std::string> built_files(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) names.insert(it->path().filename().string());
  }
  return names;
}

TEST(Manifests, EveryFileIsYamlWithApiVersionAndKind) {
  const auto files = manifest_files();
  ASSERT_GE(files.size(), 6U);  // crd, rbac, two DaemonSets, two examples
  for (const auto& file : files) {
    const auto docs = documents(file);
    EXPECT_FALSE(docs.empty()) << file;
    for (const auto& doc : docs) {
      EXPECT_TRUE(doc["apiVersion"] && !doc["apiVersion"].as<std::string>().empty()) << file;
      EXPECT_TRUE(doc["kind"] && !doc["kind"].as<std::string>().empty()) << file;
      EXPECT_TRUE(doc["metadata"]["name"]) << file;
    }
  }
}

// The CRD of that name in `file` (exactly one).
YAML::Node crd_named(const fs::path& file, const std::string& name) {
  YAML::Node found;
  int count = 0;
  for (const auto& doc : documents(file)) {
    if (doc["kind"].as<std::string>() == "CustomResourceDefinition" && doc["metadata"]["name"].as<std::string>() == name) {
      found.reset(doc);
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << name << " in " << file;
  return found;
}

TEST(Manifests, CrdIsTheNetworkPlumbingOne) {
  const auto crd = crd_named(kDeploy / "crd.yaml", "network-attachment-definitions.k8s.cni.cncf.io");
  EXPECT_EQ(crd["apiVersion"].as<std::string>(), "apiextensions.k8s.io/v1");
  EXPECT_EQ(crd["metadata"]["name"].as<std::string>(), "network-attachment-definitions.k8s.cni.cncf.io");
  const auto spec = crd["spec"];
  EXPECT_EQ(spec["group"].as<std::string>(), "k8s.cni.cncf.io");
  EXPECT_EQ(spec["scope"].as<std::string>(), "Namespaced");
  EXPECT_EQ(spec["names"]["kind"].as<std::string>(), "NetworkAttachmentDefinition");
  EXPECT_EQ(spec["names"]["plural"].as<std::string>(), "network-attachment-definitions");
  EXPECT_EQ(spec["names"]["singular"].as<std::string>(), "network-attachment-definition");
  EXPECT_TRUE(strings(spec["names"]["shortNames"]).contains("net-attach-def"));
  ASSERT_EQ(spec["versions"].size(), 1U);
  const auto v1 = spec["versions"][0];
  EXPECT_EQ(v1["name"].as<std::string>(), "v1");
  EXPECT_TRUE(v1["served"].as<bool>());
  EXPECT_TRUE(v1["storage"].as<bool>());
  const auto schema = v1["schema"]["openAPIV3Schema"];
  EXPECT_EQ(schema["type"].as<std::string>(), "object");
  EXPECT_EQ(schema["properties"]["spec"]["type"].as<std::string>(), "object");
  EXPECT_EQ(schema["properties"]["spec"]["properties"]["config"]["type"].as<std::string>(), "string");

  // The example NAD is an object of this CRD.
  const auto nad = only(kDeploy / "examples/ip-192-nad.yaml", "NetworkAttachmentDefinition");
  EXPECT_EQ(nad["apiVersion"].as<std::string>(), spec["group"].as<std::string>() + "/v1");
  EXPECT_TRUE(nad["spec"]["config"].IsScalar());
}

// The sticky IPAM's claims: what core/k8s sends (group, version, kind, plural) and what the claim
// store writes in spec, cluster-scoped so claims of one pool + address collide across namespaces.
TEST(Manifests, StickyClaimCrdMatchesWhatTheClaimStoreWrites) {
  const auto crd = crd_named(kDeploy / "crd.yaml", "stickyclaims.k8s.plexus.dev");
  const auto spec = crd["spec"];
  EXPECT_EQ(spec["group"].as<std::string>() + "/" + spec["versions"][0]["name"].as<std::string>(), "k8s.plexus.dev/v1alpha1");
  EXPECT_EQ(spec["scope"].as<std::string>(), "Cluster");
  EXPECT_EQ(spec["names"]["kind"].as<std::string>(), "StickyClaim");
  EXPECT_EQ(spec["names"]["plural"].as<std::string>(), "stickyclaims");
  ASSERT_EQ(spec["versions"].size(), 1U);
  EXPECT_TRUE(spec["versions"][0]["served"].as<bool>());
  EXPECT_TRUE(spec["versions"][0]["storage"].as<bool>());
  const auto claim_spec = spec["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
  std::set<std::string> declared;
  for (const auto& field : claim_spec) declared.insert(field.first.as<std::string>());
  EXPECT_EQ(declared, (std::set<std::string>{"pool", "address", "mac", "slot", "node", "holder"}));
  std::set<std::string> holder_fields;
  for (const auto& field : claim_spec["holder"]["properties"]) holder_fields.insert(field.first.as<std::string>());
  EXPECT_EQ(holder_fields, (std::set<std::string>{"kind", "namespace", "name", "uid", "ordinal"}));
}

TEST(Manifests, RbacGrantsExactlyWhatPlexusCalls) {
  const auto file = kDeploy / "rbac.yaml";
  const auto role = only(file, "ClusterRole");
  // (apiGroup, resource, verb) triples: the GETs, the node pod cache's LIST/WATCH, the status PUT,
  // the pods' Events, the sticky claims (POST/GET/PUT/DELETE/LIST) and the StatefulSet GET behind them.
  std::set<std::tuple<std::string, std::string, std::string>> granted;
  for (const auto& rule : role["rules"]) {
    EXPECT_FALSE(rule["resourceNames"]) << "not needed";
    for (const auto& group : rule["apiGroups"]) {
      for (const auto& resource : rule["resources"]) {
        for (const auto& verb : rule["verbs"]) {
          granted.emplace(group.as<std::string>(), resource.as<std::string>(), verb.as<std::string>());
        }
      }
    }
  }
  const std::set<std::tuple<std::string, std::string, std::string>> expected = {
      {"", "pods", "get"},        {"", "pods", "list"}, {"", "pods", "watch"}, {"", "pods/status", "update"},
      {"k8s.cni.cncf.io", "network-attachment-definitions", "get"}, {"", "events", "create"},
      {"k8s.plexus.dev", "stickyclaims", "get"},    {"k8s.plexus.dev", "stickyclaims", "list"},
      {"k8s.plexus.dev", "stickyclaims", "create"}, {"k8s.plexus.dev", "stickyclaims", "update"},
      {"k8s.plexus.dev", "stickyclaims", "delete"}, {"apps", "statefulsets", "get"}};
  EXPECT_EQ(granted, expected);

  const auto account = only(file, "ServiceAccount");
  const auto binding = only(file, "ClusterRoleBinding");
  EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(), "ClusterRole");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(), role["metadata"]["name"].as<std::string>());
  ASSERT_EQ(binding["subjects"].size(), 1U);
  EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), account["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), account["metadata"]["namespace"].as<std::string>());
  for (const auto* ds_file : {"daemonset-thin.yaml", "daemonset-thick.yaml"}) {
    const auto ds = only(kDeploy / ds_file, "DaemonSet");
    EXPECT_EQ(ds["spec"]["template"]["spec"]["serviceAccountName"].as<std::string>(), account["metadata"]["name"].as<std::string>());
    EXPECT_EQ(ds["metadata"]["namespace"].as<std::string>(), account["metadata"]["namespace"].as<std::string>());
  }
  // Nothing else in deploy/ grants anything.
  for (const auto& other : manifest_files()) {
    if (other == file) continue;
    for (const auto& doc : documents(other)) {
      const auto kind = doc["kind"].as<std::string>();
      EXPECT_TRUE(kind != "ClusterRole" && kind != "Role" && kind != "ClusterRoleBinding" && kind != "RoleBinding") << other;
    }
  }
}

// ---- DaemonSets ---------------------------------------------------------------------------------

struct Mount {
  std::string mount_path;
  std::string host_path;  // empty: not a hostPath volume
  std::string propagation;
  bool read_only = false;
};

std::vector<Mount> mounts_of(const YAML::Node& pod_spec, const YAML::Node& container) {
  std::map<std::string, YAML::Node> volumes;
  for (const auto& volume : pod_spec["volumes"]) volumes.emplace(volume["name"].as<std::string>(), static_cast<const YAML::Node&>(volume));
  std::vector<Mount> out;
  for (const auto& mount : container["volumeMounts"]) {
    const auto name = mount["name"].as<std::string>();
    EXPECT_TRUE(volumes.contains(name)) << "volumeMount " << name << " has no volume";
    Mount m{mount["mountPath"].as<std::string>(), {}, {}, false};
    if (volumes.contains(name) && volumes[name]["hostPath"]) m.host_path = volumes[name]["hostPath"]["path"].as<std::string>();
    if (mount["mountPropagation"]) m.propagation = mount["mountPropagation"].as<std::string>();
    if (mount["readOnly"]) m.read_only = mount["readOnly"].as<bool>();
    out.push_back(m);
  }
  return out;
}

// The host path behind `path` inside the container, or "" when no hostPath mount covers it.
std::string host_path_of(const std::vector<Mount>& mounts, const std::string& path) {
  std::string best_mount;
  std::string host;
  for (const auto& m : mounts) {
    if (m.host_path.empty()) continue;
    const bool covers = path == m.mount_path || path.starts_with(m.mount_path + "/");
    if (covers && m.mount_path.size() > best_mount.size()) {
      best_mount = m.mount_path;
      host = m.host_path + path.substr(m.mount_path.size());
    }
  }
  return host;
}

std::vector<std::string> command_line(const YAML::Node& container) {
  std::vector<std::string> argv;
  for (const auto& part : container["command"]) argv.push_back(part.as<std::string>());
  for (const auto& part : container["args"]) argv.push_back(part.as<std::string>());
  return argv;
}

std::map<std::string, std::string> flags_of(const std::vector<std::string>& argv) {
  std::map<std::string, std::string> flags;
  for (const auto& arg : argv) {
    if (!arg.starts_with("--")) continue;
    const auto eq = arg.find('=');
    flags[arg.substr(0, eq)] = eq == std::string::npos ? "" : arg.substr(eq + 1);
  }
  return flags;
}

YAML::Node container_named(const YAML::Node& list, const std::string& name) {
  for (const auto& c : list) {
    if (c["name"].as<std::string>() == name) return c;
  }
  ADD_FAILURE() << "no container " << name;
  return YAML::Node();
}

class DaemonSetTest : public ::testing::TestWithParam<std::string> {
 protected:
  YAML::Node ds = only(kDeploy / GetParam(), "DaemonSet");
  YAML::Node pod = ds["spec"]["template"]["spec"];
  bool thick = GetParam() == "daemonset-thick.yaml";
};

TEST_P(DaemonSetTest, PodShape) {
  EXPECT_TRUE(pod["hostNetwork"].as<bool>());
  EXPECT_GE(pod["tolerations"].size(), 1U);
  const auto selector = ds["spec"]["selector"]["matchLabels"];
  for (auto label = selector.begin(); label != selector.end(); ++label) {
    EXPECT_EQ(ds["spec"]["template"]["metadata"]["labels"][label->first.as<std::string>()].as<std::string>(),
              label->second.as<std::string>());
  }
  std::set<std::string> images;
  for (const auto* list : {"initContainers", "containers"}) {
    for (const auto& c : pod[list]) {
      images.insert(c["image"].as<std::string>());
      for (const auto* kind : {"requests", "limits"}) {
        EXPECT_TRUE(c["resources"][kind]["cpu"] && c["resources"][kind]["memory"]) << c["name"] << " " << kind;
      }
    }
  }
  ASSERT_EQ(images.size(), 1U) << "one image for every container";
  EXPECT_TRUE(images.begin()->ends_with(std::string(":v") + PLEXUS_VERSION)) << *images.begin();
}

// Every command is a binary the build makes, at the image's path for it.
TEST_P(DaemonSetTest, CommandsAreBuiltBinaries) {
  const auto built = built_files(kBuild / "bin");
  std::vector<std::vector<std::string>> commands;
  for (const auto* list : {"initContainers", "containers"}) {
    for (const auto& c : pod[list]) {
      commands.push_back(command_line(c));
      for (const auto* probe : {"readinessProbe", "livenessProbe"}) {
        if (c[probe]) commands.push_back(command_line(c[probe]["exec"]));
      }
    }
  }
  for (const auto& argv : commands) {
    ASSERT_FALSE(argv.empty());
    const fs::path binary = argv[0];
    EXPECT_EQ(binary.parent_path(), fs::path(kImagePrefix) / "bin") << binary;
    EXPECT_TRUE(built.contains(binary.filename().string())) << binary << " is not built in " << kBuild / "bin";
    if (binary.filename() == "plexus" && argv.size() > 1) {
      // The subcommand and its flags exist: --help on the built binary succeeds.
      std::vector<std::string> probe = {(kBuild / "bin/plexus").string(), argv[1]};
      for (const auto& [flag, value] : flags_of(argv)) probe.push_back(value.empty() ? flag : flag + "=" + value);
      if (argv[1] == "healthcheck") {
        probe.push_back("--help");
      } else {
        probe = {(kBuild / "bin/plexus").string(), argv[1], "--help"};
      }
      std::string output;
      EXPECT_EQ(run(probe, {}, output), 0) << output;
      for (const auto& [flag, value] : flags_of(argv)) EXPECT_NE(output.find(flag), std::string::npos) << flag << "\n" << output;
    }
  }
}

// Run the init container's `plexus install` into a temp root standing in for /host, then check
// that what it wrote is where the DaemonSet's host mounts put it and the other containers read it.
TEST_P(DaemonSetTest, InstallerWritesWhereTheMountsAre) {
  TempDir tmp;
  const auto root = tmp.path();
  const auto init = container_named(pod["initContainers"], "install-plexus");
  const auto argv = command_line(init);
  const auto init_mounts = mounts_of(pod, init);
  const auto flags = flags_of(argv);
  ASSERT_TRUE(flags.contains("--host-prefix"));
  const std::string prefix = flags.at("--host-prefix");

  // The node: a default network, the service account, /host/... directories as mounted.
  std::vector<std::string> local = {(kBuild / "bin/plexus").string(), "install", "--source-dir=" + kBuild.string(),
                                    "--service-account-dir=" + (root / "sa").string(), "--master-timeout=2"};
  for (const auto& [flag, value] : flags) {
    if (value.starts_with(prefix)) {
      local.push_back(flag + "=" + (root.string() + value));
    } else {
      local.push_back(value.empty() ? flag : flag + "=" + value);
    }
  }
  write_service_account(root / "sa", "token", kSampleCa);
  const auto conf_dir_in_pod = flags.at("--cni-conf-dir");
  const auto conf_dir_on_host = host_path_of(init_mounts, conf_dir_in_pod);
  ASSERT_FALSE(conf_dir_on_host.empty()) << conf_dir_in_pod << " is not mounted";
  write_text(root.string() + conf_dir_in_pod + "/10-bridge.conflist",
             R"({"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"bridge"}]})");
  std::string output;
  ASSERT_EQ(run(local, {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, output), 0) << output;

  // Every file the installer wrote lies under one of its hostPath mounts, at the host path that
  // the written config and kubelet use (the container path minus --host-prefix).
  std::size_t written = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root / prefix.substr(1))) {
    if (!entry.is_regular_file()) continue;
    const auto in_pod = entry.path().string().substr(root.string().size());
    if (in_pod.ends_with("10-bridge.conflist")) continue;
    ++written;
    const auto on_host = host_path_of(init_mounts, in_pod);
    EXPECT_FALSE(on_host.empty()) << in_pod << " is written outside the init container's host mounts";
    EXPECT_EQ(on_host, in_pod.substr(prefix.size())) << "mount for " << in_pod << " is not the host path under " << prefix;
  }
  const fs::path host = root / prefix.substr(1);
  EXPECT_TRUE(fs::exists(host / "opt/cni/bin/plexus")) << "kubelet's CNI bin dir";
  for (const auto& so : built_files(kBuild / "lib/plexus/plugins")) {
    // The installed plexus finds its plugins at <its dir>/../lib/plexus/plugins without any config.
    EXPECT_TRUE(fs::exists(host / "opt/cni/lib/plexus/plugins" / so)) << so;
  }
  EXPECT_GT(written, 3U);

  const auto config = cni::parse_json(read_text(host / "etc/cni/net.d/00-plexus.conflist"));
  const auto& plexus = config["plugins"][0];
  EXPECT_EQ(plexus["clusterNetwork"], "/etc/cni/net.d/10-bridge.conflist");
  EXPECT_TRUE(fs::exists(host / plexus["kubeconfig"].get<std::string>().substr(1)));
  EXPECT_FALSE(plexus.contains("pluginDirs"));

  // The watcher container runs the same install with the same config flags, plus --watch.
  const auto watcher = container_named(pod["containers"], thick ? "config-watcher" : "kube-plexus");
  auto watch_flags = flags_of(command_line(watcher));
  EXPECT_TRUE(watch_flags.contains("--watch"));
  EXPECT_TRUE(watch_flags.contains("--skip-binaries"));
  watch_flags.erase("--watch");
  watch_flags.erase("--skip-binaries");
  EXPECT_EQ(watch_flags, flags);
  EXPECT_EQ(host_path_of(mounts_of(pod, watcher), conf_dir_in_pod), conf_dir_on_host);

  // kubelet execs <CNI bin dir>/<type>: it must be a file the installer put there.
  const auto entry = plexus["type"].get<std::string>();
  EXPECT_EQ(mode_of_file(host / "opt/cni/bin" / entry), "0755") << entry;
  if (!thick) {
    EXPECT_EQ(entry, "plexus");
    EXPECT_FALSE(plexus.contains("daemonSocket"));
    EXPECT_FALSE(fs::exists(host / "opt/cni/bin/plexus-shim")) << "thin mode installs no shim";
    return;
  }
  // Thick: kubelet runs the small plexus-shim, and the full plexus it falls back to (DEL with
  // plexusd down) lies next to it.
  EXPECT_EQ(entry, "plexus-shim");
  EXPECT_EQ(read_text(host / "opt/cni/bin/plexus-shim"), read_text(kBuild / "bin/plexus-shim"));
  EXPECT_EQ(read_text(host / "opt/cni/bin/plexus"), read_text(kBuild / "bin/plexus"));
  // The shim's socket, read the way plexus-shim and plexus read it, is plexusd's (daemon config
  // socketDir + plexus.sock), on a hostPath mounted at the same path, so the shim on the host
  // reaches it.
  auto as_called = plexus;
  as_called["cniVersion"] = config["cniVersion"];
  as_called["name"] = config["name"];
  const auto shim_socket = cli::daemon_socket_of(as_called.dump());
  ASSERT_TRUE(shim_socket.has_value());
  const auto socket = shim_socket->string();
  EXPECT_EQ(plexus["daemonSocket"].get<std::string>(), socket);
  const auto daemon = container_named(pod["containers"], "plexusd");
  const auto daemon_mounts = mounts_of(pod, daemon);
  const auto daemon_argv = command_line(daemon);
  const auto config_flag = std::find(daemon_argv.begin(), daemon_argv.end(), "--config");
  ASSERT_NE(config_flag, daemon_argv.end());
  const fs::path daemon_config_path = *(config_flag + 1);
  const auto configmap = only(kDeploy / "daemonset-thick.yaml", "ConfigMap");
  const auto daemon_config = daemon::parse_daemon_config(configmap["data"][daemon_config_path.filename().string()].as<std::string>());
  EXPECT_EQ(daemon_config.socket_path().string(), socket);
  EXPECT_EQ(host_path_of(daemon_mounts, socket), socket);
  bool config_mounted = false;
  for (const auto& m : daemon_mounts) config_mounted |= m.mount_path == daemon_config_path.parent_path().string();
  EXPECT_TRUE(config_mounted) << daemon_config_path;
  bool node_env = false;
  for (const auto& env : daemon["env"]) node_env |= env["name"].as<std::string>() == "NODE_NAME";
  EXPECT_TRUE(node_env);

  // plexusd resolves what the config names at the host's own paths.
  EXPECT_EQ(host_path_of(daemon_mounts, plexus["clusterNetwork"].get<std::string>()), plexus["clusterNetwork"].get<std::string>());
  const meta::MetaConfig defaults = meta::parse_meta_config(R"({"type":"plexus","clusterNetwork":"x"})");
  for (const auto& path : {defaults.bin_dir, defaults.cni_dir, defaults.conf_dir, std::string("/var/lib/cni/networks")}) {
    EXPECT_EQ(host_path_of(daemon_mounts, path), path) << path;
  }
  bool netns = false;
  for (const auto& m : daemon_mounts) {
    if (m.mount_path == "/var/run/netns") {
      netns = true;
      EXPECT_EQ(m.host_path, "/var/run/netns");
      EXPECT_EQ(m.propagation, "HostToContainer");
    }
  }
  EXPECT_TRUE(netns);
  // The probes ask that same socket.
  for (const auto* probe : {"readinessProbe", "livenessProbe"}) {
    const auto probe_flags = flags_of(command_line(daemon[probe]["exec"]));
    ASSERT_TRUE(daemon[probe]) << probe;
    const auto probe_argv = command_line(daemon[probe]["exec"]);
    const auto at = std::find(probe_argv.begin(), probe_argv.end(), "--socket");
    ASSERT_NE(at, probe_argv.end());
    EXPECT_EQ(*(at + 1), socket);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, DaemonSetTest, ::testing::Values("daemonset-thin.yaml", "daemonset-thick.yaml"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param == "daemonset-thin.yaml" ? std::string("Thin") : std::string("Thick");
                         });

// ---- Dockerfile ---------------------------------------------------------------------------------

TEST(Dockerfile, BuildsOnBookwormAndShipsTheInstallLayout) {
  const auto text = read_text(kDeploy / "Dockerfile");
  std::vector<std::string> froms;
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string joined;
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("#")) continue;
      if (line.ends_with("\\")) {
        joined += line.substr(0, line.size() - 1) + " ";
        continue;
      }
      lines.push_back(joined + line);
      joined.clear();
    }
  }
  std::string final_copy;
  bool runs_install_deps = false;
  std::string build_script;
  for (const auto& line : lines) {
    if (line.starts_with("FROM ")) froms.push_back(line);
    if (line.starts_with("RUN ") && line.find("install-deps.sh") != std::string::npos) runs_install_deps = true;
    if (line.starts_with("RUN ")) build_script += line + "\n";
    if (line.starts_with("COPY --from=build")) final_copy = line;
  }
  ASSERT_EQ(froms.size(), 2U);
  EXPECT_EQ(froms[0], "FROM debian:12 AS build");
  EXPECT_EQ(froms[1], "FROM debian:12-slim");
  EXPECT_TRUE(runs_install_deps);
  EXPECT_NE(text.find("COPY scripts/install-deps.sh"), std::string::npos);
  EXPECT_TRUE(fs::exists(fs::path(PLEXUS_SOURCE_DIR) / "scripts/install-deps.sh"));
  EXPECT_NE(build_script.find("cmake -S . -B build/image"), std::string::npos);

  // The runtime stage receives the staged prefix at the path the manifests run from.
  EXPECT_EQ(final_copy, "COPY --from=build /stage/opt/plexus /opt/plexus");
  // Staged from the build dir's own layout, which is what `plexus install` reads (--source-dir).
  for (const auto* built : {"build/image/bin/plexus ", "build/image/bin/plexus-shim", "build/image/bin/plexusd",
                            "build/image/lib/plexus/plugins/*.so", "build/image/lib/plexus/libplexus-k8s.so",
                            "build/image/cni-bin/*"}) {
    EXPECT_NE(build_script.find(built), std::string::npos) << built;
  }
  for (const auto* staged : {"$stage/bin/", "$stage/lib/plexus/plugins/", "$stage/cni-bin/", "$stage/lib/plexus/runtime/"}) {
    EXPECT_NE(build_script.find(staged), std::string::npos) << staged;
  }
  EXPECT_NE(build_script.find("stage=/stage/opt/plexus"), std::string::npos);
  // And the build dir has that layout.
  EXPECT_TRUE(fs::exists(kBuild / "bin/plexus"));
  EXPECT_TRUE(fs::exists(kBuild / "bin/plexusd"));
  EXPECT_TRUE(fs::exists(kBuild / "bin/plexus-shim")) << "thick mode's CNI entry, which `plexus install` copies";
  EXPECT_FALSE(built_files(kBuild / "lib/plexus/plugins").empty());
  EXPECT_FALSE(built_files(kBuild / "cni-bin").empty());
  // Binaries find the bundled libraries wherever install puts them (relative RUNPATH).
  EXPECT_NE(build_script.find("--set-rpath '$ORIGIN/../lib/plexus/runtime'"), std::string::npos);
  EXPECT_NE(build_script.find("--set-rpath '$ORIGIN/../runtime'"), std::string::npos);
}

}  // namespace
}  // namespace plexus::deploy_test
