// `plexus install`: what the DaemonSet's containers run to put plexus on a node, and
// `plexus healthcheck`, the thick DaemonSet's readiness probe.
//
// install does three things, each of which can be skipped:
//  1. binaries: bin/plexus (and bin/plexus-shim in thick mode), the standalone plugin binaries (cni-bin/*) and the runtime libraries
//     (lib/plexus/runtime/*, present in the image only) to --cni-bin-dir, the plugin .so files
//     (lib/plexus/plugins/*.so) to --plugin-dir. Each file is written to a temporary file in the
//     target directory, fsync'ed, chmod 0755 and renamed over the target, so a kubelet exec'ing it
//     sees the old file or the whole new one, never a half-written one, and never "text file busy"
//     (the running file is never opened for writing, its inode is just unlinked).
//  2. the kubeconfig (<cni-conf-dir>/plexus.d/plexus.kubeconfig, mode 0600) from the pod's service
//     account: https://KUBERNETES_SERVICE_HOST:PORT, the CA inlined, the token inlined.
//  3. the plexus config (00-plexus.conf, or 00-plexus.conflist when cniVersion >= 1.0.0, so it sorts
//     first) pointing clusterNetwork at the first network config kubelet would otherwise use. In
//     thick mode (daemon_socket set) its type is plexus-shim, with "daemonSocket".
// With --watch it then polls every --poll-interval: a changed default network regenerates the
// config, a rotated token or CA rewrites the kubeconfig (multus's default manifest never does).
// SIGTERM/SIGINT end the loop with status 0 and leave every file in place: deleting the config
// would let kubelet start pods without their secondary networks (multus issues 1387/1527).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace plexus::cli {

// Which standalone plugin binaries (bridge, host-local, ...) may land in --cni-bin-dir, where the
// cluster's own reference plugins of the same names usually live already.
enum class CniBinaryPolicy {
  Missing,  // only names that are free, or that plexus installed before (default)
  All,      // replace whatever is there
  None,     // none: plexus runs its plugins in-process from --plugin-dir anyway
};

struct InstallOptions {
  // Where the files to install are: <source>/bin/plexus, <source>/bin/plexus-shim (thick mode),
  // <source>/cni-bin, <source>/lib/plexus/...
  // Default (empty): the folder above the running plexus (the build dir, or /opt/plexus in the image).
  std::filesystem::path source_dir;
  std::filesystem::path cni_bin_dir = "/host/opt/cni/bin";
  // <cni-bin-dir>/../lib/plexus/plugins, where an installed plexus looks first without any config.
  std::filesystem::path plugin_dir = "/host/opt/cni/lib/plexus/plugins";
  std::filesystem::path cni_conf_dir = "/host/etc/cni/net.d";
  // Where the host's / is mounted: stripped from every path written into a file the host reads.
  std::filesystem::path host_prefix = "/host";
  std::filesystem::path service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string api_host;  // KUBERNETES_SERVICE_HOST
  std::string api_port;  // KUBERNETES_SERVICE_PORT
  CniBinaryPolicy cni_binaries = CniBinaryPolicy::Missing;

  // The generated config (multus's thin_entrypoint flags where one exists).
  std::string master_cni_file_name;  // --multus-master-cni-file-name: a file in cni_conf_dir
  std::string cni_version;           // must equal the master's, unless force_cni_version
  bool force_cni_version = false;
  bool override_network_name = false;  // name = the master's name instead of "plexus-cni-network"
  std::string readiness_indicator_file;
  bool namespace_isolation = false;
  std::string global_namespaces;  // comma-separated
  std::string daemon_socket;      // thick mode: kubelet runs plexus-shim, which forwards to plexusd here
  std::string log_level;
  std::string log_file;
  std::string cni_dir;  // the meta config's cniDir; empty = its default (/var/lib/cni/multus)

  bool skip_binaries = false;
  bool skip_kubeconfig = false;
  bool skip_config = false;
  bool watch = false;
  std::chrono::milliseconds poll_interval{1000};
  // Without --watch: how long to wait for a default network config to appear.
  std::chrono::milliseconds master_timeout{120000};

  std::filesystem::path kubeconfig_path() const { return cni_conf_dir / "plexus.d" / "plexus.kubeconfig"; }
  // `path` as the host sees it: host_prefix stripped when path lies under it.
  std::filesystem::path on_host(const std::filesystem::path& path) const;
};

inline constexpr std::string_view kGeneratedConfigStem = "00-plexus";
inline constexpr std::string_view kDefaultNetworkName = "plexus-cni-network";
// Thick mode's CNI entry (core/cli/src/main_shim.cpp); it falls back to `plexus` in the same dir.
inline constexpr std::string_view kShimBinaryName = "plexus-shim";
// lib/plexus/<this>: the Kubernetes client module (core/k8s), loaded by plexus on its first API request.
inline constexpr std::string_view kK8sModuleName = "libplexus-k8s.so";
// Names of the cni-bin files plexus put there, so CniBinaryPolicy::Missing may update them later.
inline constexpr std::string_view kInstalledRecordName = ".plexus-installed-cni-bin";

// Writes `bytes` to `target` through a temporary file in the same directory: fsync, chmod `mode`,
// rename, fsync the directory. On failure the target is untouched and the temporary is removed.
void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, std::filesystem::perms mode);
void copy_file_atomically(const std::filesystem::path& source, const std::filesystem::path& target,
                          std::filesystem::perms mode);

// Step 1. Returns the files written (skipped ones are not listed).
std::vector<std::filesystem::path> install_binaries(const InstallOptions& options);

// Step 2. The kubeconfig text for these credentials (YAML, written with yaml-cpp).
std::string render_kubeconfig(const std::string& server, std::string_view ca_pem, std::string_view token,
                              std::string_view account_namespace);
// Reads the service account and writes the kubeconfig when its bytes differ. True = written.
bool write_kubeconfig(const InstallOptions& options);

// Step 3, without writing: which file would be the default network and what plexus writes.
struct GeneratedConfig {
  std::filesystem::path master;  // the default network's file (as the installer sees it)
  std::filesystem::path file;    // 00-plexus.conf or 00-plexus.conflist in cni_conf_dir
  std::string bytes;
};
// Throws std::runtime_error when no usable default network config exists or versions disagree.
GeneratedConfig generate_plexus_config(const InstallOptions& options);
// Writes the generated config when its bytes differ, and removes a stale 00-plexus file of the
// other extension (it would shadow the new one). True = written.
bool write_plexus_config(const InstallOptions& options);

// The whole command. `wait_for_stop(interval)` sleeps up to `interval` and returns true once the
// loop should end (the CLI wires it to SIGTERM/SIGINT; tests to a flag).
using WaitForStop = std::function<bool(std::chrono::milliseconds)>;
int run_install(const InstallOptions& options, std::ostream& out, std::ostream& err, const WaitForStop& wait_for_stop);

// GET `path` on plexusd's unix socket; 0 when it answers 200, else 1 with the reason on `err`.
int healthcheck(const std::filesystem::path& socket, const std::string& path, std::ostream& err);

// Registers `install` and `healthcheck` on the plexus command line; their exit code goes to `status`.
void add_install_commands(CLI::App& app, int& status, std::ostream& out, std::ostream& err);

}  // namespace plexus::cli
