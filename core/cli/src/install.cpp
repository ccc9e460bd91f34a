#include "install.hpp"

#include <plexus/cni/config.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/daemon/client.hpp>
#include <plexus/daemon/config.hpp>
#include <plexus/cni/version.hpp>
#include <plexus/scope_guard.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace plexus::cli {
namespace fs = std::filesystem;
using cni::ordered_json;

namespace {

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// A file descriptor closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { close(); }
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

void write_all(int fd, std::string_view bytes, const fs::path& where) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + where.string());
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// nullopt when the file does not exist or cannot be read: "differs" for the callers.
std::optional<std::string> read_file_if_any(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

std::string base64(std::string_view bytes) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto chunk = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    for (const int shift : {18, 12, 6, 0}) out += kAlphabet[(chunk >> shift) & 0x3fU];
  }
  if (const auto rest = bytes.size() - i; rest > 0) {
    auto chunk = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) chunk |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(chunk >> 18) & 0x3fU];
    out += kAlphabet[(chunk >> 12) & 0x3fU];
    out += rest == 2 ? kAlphabet[(chunk >> 6) & 0x3fU] : '=';
    out += '=';
  }
  return out;
}

fs::path default_source_dir() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the running plexus (/proc/self/exe): " + ec.message());
  return self.parent_path().parent_path();
}

// Regular files directly in `dir` (none when it does not exist), sorted by name.
std::vector<fs::path> regular_files(const fs::path& dir, std::string_view extension = {}) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const auto name = it->path().filename().string();
    if (name.starts_with('.')) continue;
    if (!extension.empty() && it->path().extension() != extension) continue;
    files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::set<std::string> read_installed_record(const fs::path& record) {
  std::set<std::string> names;
  std::ifstream in(record);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.insert(line);
  }
  return names;
}

constexpr auto kExecutable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec;  // 0755
constexpr auto kPrivate = fs::perms::owner_read | fs::perms::owner_write;      // 0600
constexpr auto kReadable = kPrivate | fs::perms::group_read | fs::perms::others_read;  // 0644

// libcni's ConfFiles extensions, the ones kubelet's runtime loads from the conf dir.
bool is_network_config_file(const fs::path& file) {
  const auto ext = file.extension();
  return ext == ".conf" || ext == ".conflist" || ext == ".json";
}

bool is_generated_config(const fs::path& file) {
  return file.filename().string().starts_with(std::string(kGeneratedConfigStem) + ".conf");
}

// A network config that kubelet's runtime would accept: an object with a type or a plugin list.
std::optional<ordered_json> parse_network_config(const std::string& bytes) {
  try {
    auto config = cni::parse_json(bytes);
    if (!config.is_object()) return std::nullopt;
    if (cni::find_key(config, "type") == nullptr && cni::find_key(config, "plugins") == nullptr) return std::nullopt;
    return config;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// As multus: a conflist's capabilities are the union of its plugins'; a conf's are its own.
ordered_json master_capabilities(const ordered_json& master) {
  ordered_json capabilities = ordered_json::object();
  auto merge = [&](const ordered_json& object) {
    const auto* caps = cni::find_key(object, "capabilities");
    if (caps == nullptr || !caps->is_object()) return;
    for (const auto& [name, enabled] : caps->items()) {
      if (enabled.is_boolean()) capabilities[name] = enabled.get<bool>();
    }
  };
  if (const auto* plugins = cni::find_key(master, "plugins"); plugins != nullptr && plugins->is_array()) {
    for (const auto& plugin : *plugins) merge(plugin);
  } else {
    merge(master);
  }
  return capabilities;
}

// The first .conf/.conflist/.json in lexical order (kubelet's pick), skipping plexus's own file
// and anything kubelet would refuse too; or --multus-master-cni-file-name.
std::pair<fs::path, ordered_json> find_master(const InstallOptions& options) {
  if (!options.master_cni_file_name.empty()) {
    const auto path = options.cni_conf_dir / options.master_cni_file_name;
    auto config = parse_network_config(read_file(path));
    if (!config) throw std::runtime_error(path.string() + " is not a CNI network configuration");
    return {path, std::move(*config)};
  }
  for (const auto& file : regular_files(options.cni_conf_dir)) {
    if (!is_network_config_file(file) || is_generated_config(file)) continue;
    const auto bytes = read_file_if_any(file);
    if (!bytes) continue;
    if (auto config = parse_network_config(*bytes)) return {file, std::move(*config)};
  }
  throw std::runtime_error("no default network configuration in " + options.cni_conf_dir.string() + " yet");
}

ordered_json plexus_delegate_object(const InstallOptions& options, const fs::path& master, const ordered_json& capabilities) {
  ordered_json conf = ordered_json::object();
  // Thick mode: kubelet execs the small plexus-shim (about 1 ms per call instead of the full
  // plexus's ~14 ms start), as multus's thick config names multus-shim. Both binaries read the
  // socket from "daemonSocket"; plexusd and the shim's DEL fallback treat the type as "plexus".
  conf["type"] = options.daemon_socket.empty() ? "plexus" : std::string(kShimBinaryName);
  if (!capabilities.empty()) conf["capabilities"] = capabilities;
  conf["clusterNetwork"] = options.on_host(master).string();
  if (!options.skip_kubeconfig) conf["kubeconfig"] = options.on_host(options.kubeconfig_path()).string();
  if (options.namespace_isolation) conf["namespaceIsolation"] = true;
  if (!options.global_namespaces.empty()) conf["globalNamespaces"] = options.global_namespaces;
  if (!options.readiness_indicator_file.empty()) conf["readinessindicatorfile"] = options.readiness_indicator_file;
  if (!options.log_level.empty()) conf["logLevel"] = options.log_level;
  if (!options.log_file.empty()) conf["logFile"] = options.log_file;
  if (!options.cni_dir.empty()) conf["cniDir"] = options.cni_dir;
  // plexus looks in <its dir>/../lib/plexus/plugins first; name the dir only when it is elsewhere.
  const auto plugin_dir = options.on_host(options.plugin_dir).lexically_normal();
  const auto natural = (options.on_host(options.cni_bin_dir) / ".." / "lib" / "plexus" / "plugins").lexically_normal();
  if (plugin_dir != natural) conf["pluginDirs"] = ordered_json::array({plugin_dir.string()});
  if (!options.daemon_socket.empty()) conf["daemonSocket"] = options.daemon_socket;
  return conf;
}

int install_step(std::ostream& err, const std::string& step, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    err << "plexus install: " << step << ": " << e.what() << '\n';
    return 1;
  }
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::array<char, 32> text{};
  const auto length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text.data(), length);
}

}  // namespace

fs::path InstallOptions::on_host(const fs::path& path) const {
  if (host_prefix.empty() || host_prefix == "/") return path;
  const auto relative = path.lexically_normal().lexically_relative(host_prefix.lexically_normal());
  if (relative.empty() || *relative.begin() == "..") return path;
  if (relative == ".") return "/";
  return fs::path("/") / relative;
}

namespace {

// The temporary-file-and-rename dance; `fill` writes the content to the temporary's descriptor.
void replace_atomically(const fs::path& target, fs::perms mode, const std::function<void(int, const std::string&)>& fill) {
  const auto dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  fs::create_directories(dir);
  std::string temp_name = (dir / ("." + target.filename().string() + ".plexus-XXXXXX")).string();
  // O_CLOEXEC: a child forked meanwhile must not keep the new file open for writing, or exec'ing
  // it after the rename would fail with "text file busy".
  Fd temp(::mkostemp(temp_name.data(), O_CLOEXEC));
  if (temp.get() < 0) throw_errno("create a temporary file next to " + target.string());
  ScopeGuard remove_temp([&] { ::unlink(temp_name.c_str()); });

  fill(temp.get(), temp_name);
  if (::fchmod(temp.get(), static_cast<mode_t>(mode)) != 0) throw_errno("chmod " + temp_name);
  if (::fsync(temp.get()) != 0) throw_errno("fsync " + temp_name);
  temp.close();
  // rename replaces the directory entry in one step; a process that has the old file open or is
  // executing it keeps the old inode.
  if (::rename(temp_name.c_str(), target.c_str()) != 0) throw_errno("rename " + temp_name + " to " + target.string());
  remove_temp.dismiss();

  // The rename itself survives a crash only once the directory is on disk.
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) (void)::fsync(dir_fd.get());
}

}  // namespace

void write_file_atomically(const fs::path& target, std::string_view bytes, fs::perms mode) {
  replace_atomically(target, mode, [&](int fd, const std::string& name) { write_all(fd, bytes, name); });
}

void copy_file_atomically(const fs::path& source, const fs::path& target, fs::perms mode) {
  Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw_errno("open " + source.string());
  replace_atomically(target, mode, [&](int fd, const std::string& name) {
    std::array<char, 1 << 16> buffer{};
    for (;;) {
      const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw_errno("read " + source.string());
      if (got == 0) return;
      write_all(fd, std::string_view(buffer.data(), static_cast<std::size_t>(got)), name);
    }
  });
}

std::vector<fs::path> install_binaries(const InstallOptions& options) {
  const auto source = options.source_dir.empty() ? default_source_dir() : options.source_dir;
  std::vector<fs::path> written;
  auto install = [&](const fs::path& from, const fs::path& to) {
    copy_file_atomically(from, to, kExecutable);
    written.push_back(to);
  };

  const auto plexus = source / "bin" / "plexus";
  if (!fs::is_regular_file(plexus)) throw std::runtime_error(plexus.string() + " does not exist");
  // Thick mode's config names plexus-shim: without it kubelet could run no CNI call at all, so
  // stop before anything is copied (and before any config is written).
  const auto shim = source / "bin" / std::string(kShimBinaryName);
  const bool thick = !options.daemon_socket.empty();
  if (thick && !fs::is_regular_file(shim)) {
    throw std::runtime_error(fmt::format("{} does not exist, and thick mode (--daemon-socket) makes kubelet run it",
                                         shim.string()));
  }
  // The Kubernetes client (libcurl) that plexus loads on its first API request, from
  // <its dir>/../lib/plexus/: in place before the plexus that needs it.
  if (const auto k8s_module = source / "lib" / "plexus" / std::string(kK8sModuleName); fs::is_regular_file(k8s_module)) {
    install(k8s_module, (options.cni_bin_dir / ".." / "lib" / "plexus" / std::string(kK8sModuleName)).lexically_normal());
  }
  // plexus first: plexus-shim execs the plexus next to it for what it cannot serve itself (a DEL
  // with plexusd down), so the shim is never there without it.
  install(plexus, options.cni_bin_dir / "plexus");
  if (thick) install(shim, options.cni_bin_dir / std::string(kShimBinaryName));

  // Runtime libraries (the image carries them; plexus and its plugins find them via RUNPATH).
  const auto runtime_target = options.plugin_dir.parent_path() / "runtime";
  for (const auto& library : regular_files(source / "lib" / "plexus" / "runtime")) {
    install(library, runtime_target / library.filename());
  }
  for (const auto& plugin : regular_files(source / "lib" / "plexus" / "plugins", ".so")) {
    install(plugin, options.plugin_dir / plugin.filename());
  }

  if (options.cni_binaries == CniBinaryPolicy::None) return written;
  const auto record = options.cni_bin_dir / std::string(kInstalledRecordName);
  auto installed_before = read_installed_record(record);
  bool record_changed = false;
  for (const auto& binary : regular_files(source / "cni-bin")) {
    const auto name = binary.filename().string();
    const auto target = options.cni_bin_dir / name;
    // A reference plugin of the same name serves the cluster's own network: leave it alone.
    if (options.cni_binaries == CniBinaryPolicy::Missing && fs::exists(target) && !installed_before.contains(name)) continue;
    install(binary, target);
    record_changed |= installed_before.insert(name).second;
  }
  if (record_changed) {
    std::string text;
    for (const auto& name : installed_before) text += name + '\n';
    write_file_atomically(record, text, kReadable);
  }
  return written;
}

std::string render_kubeconfig(const std::string& server, std::string_view ca_pem, std::string_view token,
                              std::string_view account_namespace) {
  YAML::Emitter yaml;
  yaml << YAML::Comment("kubeconfig for the plexus CNI plugin, written by `plexus install` from its service account");
  yaml << YAML::BeginMap;
  yaml << YAML::Key << "apiVersion" << YAML::Value << "v1";
  yaml << YAML::Key << "kind" << YAML::Value << "Config";
  yaml << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  yaml << YAML::Key << "name" << YAML::Value << "local";
  yaml << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  yaml << YAML::Key << "server" << YAML::Value << server;
  if (!ca_pem.empty()) yaml << YAML::Key << "certificate-authority-data" << YAML::Value << base64(ca_pem);
  yaml << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  yaml << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  yaml << YAML::Key << "name" << YAML::Value << "plexus";
  yaml << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  yaml << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << std::string(token);
  yaml << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  yaml << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  yaml << YAML::Key << "name" << YAML::Value << "plexus-context";
  yaml << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  yaml << YAML::Key << "cluster" << YAML::Value << "local";
  yaml << YAML::Key << "user" << YAML::Value << "plexus";
  if (!account_namespace.empty()) yaml << YAML::Key << "namespace" << YAML::Value << std::string(account_namespace);
  yaml << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  yaml << YAML::Key << "current-context" << YAML::Value << "plexus-context";
  yaml << YAML::EndMap;
  if (!yaml.good()) throw std::runtime_error("cannot emit the kubeconfig: " + yaml.GetLastError());
  return std::string(yaml.c_str()) + "\n";
}

bool write_kubeconfig(const InstallOptions& options) {
  if (options.api_host.empty() || options.api_port.empty()) {
    throw std::runtime_error("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  const auto token = trimmed(read_file(options.service_account_dir / "token"));
  if (token.empty()) throw std::runtime_error((options.service_account_dir / "token").string() + " is empty");
  const auto ca = read_file(options.service_account_dir / "ca.crt");
  const auto account_namespace = trimmed(read_file_if_any(options.service_account_dir / "namespace").value_or(""));
  // An IPv6 service address needs brackets in a URL; an IPv4 one must not have them (curl).
  const bool ipv6 = options.api_host.find(':') != std::string::npos;
  const auto server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", options.api_host, ipv6 ? "]" : "", options.api_port);
  const auto text = render_kubeconfig(server, ca, token, account_namespace);
  const auto path = options.kubeconfig_path();
  if (read_file_if_any(path) == text && (fs::status(path).permissions() & fs::perms::all) == kPrivate) return false;
  write_file_atomically(path, text, kPrivate);
  return true;
}

GeneratedConfig generate_plexus_config(const InstallOptions& options) {
  auto [master, master_config] = find_master(options);
  std::string version = cni::string_field(master_config, "cniVersion");
  if (options.force_cni_version) {
    if (options.cni_version.empty()) throw std::runtime_error("--force-cni-version needs --cni-version");
    version = options.cni_version;
  } else {
    if (version.empty()) throw std::runtime_error(master.string() + " has no cniVersion");
    if (!options.cni_version.empty() && options.cni_version != version) {
      throw std::runtime_error(fmt::format("plexus cni version is \"{}\" while the default network {} is \"{}\"",
                                           options.cni_version, master.string(), version));
    }
  }
  std::string name(kDefaultNetworkName);
  if (options.override_network_name) {
    name = cni::string_field(master_config, "name");
    if (name.empty()) throw std::runtime_error(master.string() + " has no name to use with --override-network-name");
  }

  auto delegate = plexus_delegate_object(options, master, master_capabilities(master_config));
  ordered_json config = ordered_json::object();
  config["cniVersion"] = version;
  config["name"] = name;
  // A 1.0.0+ runtime wants a conflist; before that, a plain .conf is what multus writes too.
  const bool conflist = cni::version_at_least(version, "1.0.0");
  if (conflist) {
    config["plugins"] = ordered_json::array({std::move(delegate)});
  } else {
    for (auto& [key, value] : delegate.items()) config[key] = value;
  }
  const auto file = options.cni_conf_dir / (std::string(kGeneratedConfigStem) + (conflist ? ".conflist" : ".conf"));
  return {master, file, cni::go_marshal_indent(config) + "\n"};
}

bool write_plexus_config(const InstallOptions& options) {
  const auto generated = generate_plexus_config(options);
  bool written = false;
  if (read_file_if_any(generated.file) != generated.bytes) {
    write_file_atomically(generated.file, generated.bytes, kReadable);
    written = true;
  }
  // The other extension's file sorts first ("00-plexus.conf" < "00-plexus.conflist") and would
  // shadow the new one; it is replaced, not left behind (a change of file, never a deletion of config).
  const auto other = generated.file.extension() == ".conf" ? fs::path(generated.file).replace_extension(".conflist")
                                                            : fs::path(generated.file).replace_extension(".conf");
  std::error_code ec;
  if (fs::remove(other, ec)) written = true;
  return written;
}

int run_install(const InstallOptions& options, std::ostream& out, std::ostream& err, const WaitForStop& wait_for_stop) {
  if (!options.skip_binaries) {
    const int failed = install_step(err, "binaries", [&] {
      for (const auto& file : install_binaries(options)) out << "installed " << file.string() << '\n';
    });
    if (failed != 0) return failed;
  }
  auto refresh_kubeconfig = [&] {
    if (!options.skip_kubeconfig && write_kubeconfig(options)) {
      out << timestamp() << " wrote " << options.kubeconfig_path().string() << '\n';
    }
  };
  auto refresh_config = [&] {
    if (!options.skip_config && write_plexus_config(options)) {
      const auto generated = generate_plexus_config(options);
      out << timestamp() << " wrote " << generated.file.string() << " (clusterNetwork " << generated.master.string() << ")\n";
    }
  };

  if (!options.watch) {
    if (install_step(err, "kubeconfig", refresh_kubeconfig) != 0) return 1;
    if (options.skip_config) return 0;
    // The default network's plugin may be installed after plexus: wait for its config, as multus does.
    const auto deadline = std::chrono::steady_clock::now() + options.master_timeout;
    for (;;) {
      std::string error;
      try {
        refresh_config();
        return 0;
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        err << "plexus install: config: " << error << '\n';
        return 1;
      }
      if (wait_for_stop(options.poll_interval)) return 1;
    }
  }

  // --watch: every tick regenerates both and writes only what changed; errors are reported once
  // each and never remove what is already there.
  std::string last_error;
  for (;;) {
    std::string error;
    for (const auto& [step, body] : {std::pair<std::string, std::function<void()>>{"kubeconfig", refresh_kubeconfig},
                                     std::pair<std::string, std::function<void()>>{"config", refresh_config}}) {
      try {
        body();
      } catch (const std::exception& e) {
        error += step + ": " + e.what() + "; ";
      }
    }
    if (!error.empty() && error != last_error) err << timestamp() << " plexus install: " << error << '\n';
    last_error = error;
    out.flush();
    if (wait_for_stop(options.poll_interval)) break;
  }
  out << timestamp() << " stopping; the config and kubeconfig stay in place\n";
  return 0;
}

int healthcheck(const fs::path& socket, const std::string& path, std::ostream& err) {
  try {
    const auto answer = daemon::http_over_unix(socket, "GET", path);
    if (answer.status == 200) return 0;
    err << "plexus healthcheck: " << path << " answered " << answer.status << '\n';
  } catch (const std::exception& e) {
    err << "plexus healthcheck: " << socket.string() << ": " << e.what() << '\n';
  }
  return 1;
}

void add_install_commands(CLI::App& app, int& status, std::ostream& out, std::ostream& err) {
  // Owned by the App's lifetime through the callbacks' shared state.
  auto options = std::make_shared<InstallOptions>();
  auto* install = app.add_subcommand("install", "Install plexus on this node (the DaemonSet's init container) and, "
                                                "with --watch, keep its config and kubeconfig current");
  install->add_option("--source-dir", options->source_dir,
                      "Folder holding bin/plexus (and bin/plexus-shim for thick mode), cni-bin/, lib/plexus/ (default: above this plexus)");
  install->add_option("--cni-bin-dir", options->cni_bin_dir, "The host's CNI binary dir, as mounted")->capture_default_str();
  install->add_option("--plugin-dir", options->plugin_dir, "Where the plugin .so files go, as mounted")->capture_default_str();
  install->add_option("--cni-conf-dir", options->cni_conf_dir, "The host's CNI config dir, as mounted")->capture_default_str();
  install->add_option("--host-prefix", options->host_prefix, "Where the host's / is mounted (stripped from paths written for the host)")
      ->capture_default_str();
  install->add_option("--service-account-dir", options->service_account_dir, "The pod's service-account mount")->capture_default_str();
  install->add_option("--cni-binaries", options->cni_binaries, "Standalone plugin binaries: missing (never replace another's), all, none")
      ->transform(CLI::CheckedTransformer(std::map<std::string, CniBinaryPolicy>{{"missing", CniBinaryPolicy::Missing},
                                                                                 {"all", CniBinaryPolicy::All},
                                                                                 {"none", CniBinaryPolicy::None}}));
  install->add_option("--multus-master-cni-file-name,--master-cni-file-name", options->master_cni_file_name,
                      "Use this file in --cni-conf-dir as the default network (default: the first one, lexically)");
  install->add_option("--cni-version", options->cni_version, "cniVersion of the plexus config (must match the default network's)");
  install->add_flag("--force-cni-version", options->force_cni_version, "Use --cni-version even when the default network differs");
  install->add_flag("--override-network-name", options->override_network_name, "Name the plexus network after the default network");
  install->add_option("--readiness-indicator-file", options->readiness_indicator_file, "readinessindicatorfile for the config");
  install->add_flag("--namespace-isolation", options->namespace_isolation, "namespaceIsolation for the config");
  install->add_option("--global-namespaces", options->global_namespaces, "globalNamespaces (comma-separated)");
  install->add_option("--daemon-socket", options->daemon_socket, "Thick mode: plexusd's socket; the config then names plexus-shim, which forwards to it, "
                                                            "and plexus-shim is installed next to plexus");
  install->add_option("--log-level", options->log_level, "logLevel for the config")->check(CLI::IsMember({"panic", "error", "verbose", "debug"}));
  install->add_option("--log-file", options->log_file, "logFile for the config");
  install->add_option("--cni-dir", options->cni_dir, "cniDir for the config (default: plexus's, /var/lib/cni/multus)");
  install->add_flag("--skip-binaries", options->skip_binaries, "Do not copy binaries or plugins");
  install->add_flag("--skip-kubeconfig", options->skip_kubeconfig, "Do not write the kubeconfig");
  install->add_flag("--skip-config", options->skip_config, "Do not generate the plexus config");
  install->add_flag("--watch", options->watch, "Keep running: regenerate on change; SIGTERM stops and deletes nothing");
  auto poll_ms = std::make_shared<long>(1000);
  auto timeout_s = std::make_shared<long>(120);
  install->add_option("--poll-interval-ms", *poll_ms, "How often --watch looks (100..60000)")->check(CLI::Range(100L, 60000L))->capture_default_str();
  install->add_option("--master-timeout", *timeout_s, "Seconds to wait for a default network without --watch")->capture_default_str();
  install->callback([options, poll_ms, timeout_s, &status, &out, &err] {
    options->poll_interval = std::chrono::milliseconds(*poll_ms);
    options->master_timeout = std::chrono::seconds(*timeout_s);
    if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST")) options->api_host = host;
    if (const char* port = std::getenv("KUBERNETES_SERVICE_PORT")) options->api_port = port;
    // SIGTERM/SIGINT are taken synchronously, so no handler races the loop.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    const WaitForStop wait_for_signal = [stop_signals](std::chrono::milliseconds interval) {
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(interval);
      const timespec timeout{static_cast<time_t>(seconds.count()),
                             static_cast<long>(std::chrono::nanoseconds(interval - seconds).count())};
      for (;;) {
        const int signal = sigtimedwait(&stop_signals, nullptr, &timeout);
        if (signal > 0) return true;
        if (errno != EINTR) return false;  // EAGAIN: the interval passed
      }
    };
    status = run_install(*options, out, err, wait_for_signal);
  });

  auto socket = std::make_shared<std::string>(
      (fs::path(std::string(daemon::kDefaultSocketDir)) / std::string(daemon::kSocketName)).string());
  auto http_path = std::make_shared<std::string>("/readyz");
  auto* check = app.add_subcommand("healthcheck", "Ask plexusd on its socket whether it is ready (exit 0 when it is)");
  check->add_option("--socket", *socket, "plexusd's unix socket")->capture_default_str();
  check->add_option("--path", *http_path, "/readyz or /healthz")->capture_default_str();
  check->callback([socket, http_path, &status, &err] { status = healthcheck(*socket, *http_path, err); });
}

}  // namespace plexus::cli
