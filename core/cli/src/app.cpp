#include "app.hpp"

#include "inspect.hpp"
#include "install.hpp"
#include "plugin_dirs.hpp"
#include "runtime.hpp"
#include "shim.hpp"

#include <plexus/meta/engine.hpp>
#include <plexus/meta/k8s_claim_store.hpp>
#include <plexus/meta/manifest_store.hpp>

#include <plexus/k8s/api_client.hpp>
#include <plexus/k8s/config.hpp>

#include <plexus/abi.h>
#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>
#include <plexus/invoke/router.hpp>
#include <plexus/cni/version.hpp>
#include <plexus/log/logger.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <fstream>
#include <tuple>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>

namespace plexus::cli {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

// kubelet's call: the CNI_* environment and the meta config on stdin.
int cni_main(std::istream& in, std::ostream& out, std::ostream& err) {
  auto request = cni::request_from_environment();
  if (request.command == "VERSION") {
    out << cni::version_reply(cni::all_versions());
    return 0;
  }
  // The IDs first, then at most PLEXUS_MAX_STDIN_BYTES of config: nothing is read, forwarded or
  // touched for a request that could name a path outside cniDir or fill the memory.
  try {
    meta::validate_request(request);
    request.stdin_data = cni::read_stream_bounded(in, cni::max_stdin_bytes(), cni::kStdinDescription);
  } catch (const cni::Error& e) {
    out << e.to_json();
    return 1;
  }
  // Thick mode: the daemon runs the call; with it down, DEL falls through to run here.
  if (const auto socket = daemon_socket_of(request.stdin_data)) {
    if (const auto forwarded = forward_to_daemon(*socket, request, err)) {
      out << forwarded->stdout_data;
      err << forwarded->stderr_data;
      return forwarded->exit_code;
    }
  }
  cni::Reply reply;
  std::unique_ptr<log::Logger> logger;  // outlives the runtime, which logs through it
  std::unique_ptr<MetaRuntime> runtime;
  try {
    const auto config = meta::parse_meta_config(request.stdin_data);
    logger = std::make_unique<log::Logger>(log::settings_of(config), err);
    const auto prefix = fmt::format("[{}] ", request.container_id);
    runtime = std::make_unique<MetaRuntime>(config, std::nullopt, logger->engine_log(prefix), logger->plugin_log(prefix));
    reply = runtime->engine().handle(request);
  } catch (const cni::Error& e) {
    reply = {1, e.to_json(), {}};
  } catch (const std::exception& e) {
    reply = {1, cni::Error(cni::ErrorCode::Internal, e.what()).to_json(), {}};
  }
  out << reply.stdout_data << std::flush;
  err << reply.stderr_data;
  // The result is out; the pod's Events follow, bounded, and never change the reply.
  if (runtime) runtime->send_events();
  // An abandoned in-process call may still run plugin code that points into the runtime.
  if (invoke::abandoned_calls() > 0) {
    (void)runtime.release();
    (void)logger.release();
  }
  return reply.exit_code;
}

// A stable container ID per namespace path, so attach and detach of the same pod meet in the cache
// (cnitool derives its ID from the netns path the same way).
std::string container_id_for(const std::string& netns) {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  for (const char c : netns) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return fmt::format("plexus-{:016x}", hash);
}

struct AttachOptions {
  std::string config_file;
  std::string store;
  std::string pod;  // namespace/name
  std::string netns;
  std::string container_id;
  std::string ifname = "eth0";
  std::string cni_path;
  std::string node;
  std::string network;  // hot-plug: only this network (one element of the networks annotation)
};

// For a person's subcommand: prints the CNI error of the exception being handled; returns 1.
int print_current_error(std::ostream& out) {
  try {
    throw;
  } catch (const cni::Error& e) {
    out << e.to_json() << '\n';
  } catch (const std::exception& e) {
    out << cni::Error(cni::ErrorCode::Internal, e.what()).to_json() << '\n';
  }
  return 1;
}

// `plexus attach` / `plexus detach`: plexus as the kubelet for one pod, like cnitool for one network.
int attach_main(const AttachOptions& options, const std::string& command, std::ostream& out, std::ostream& err) {
  try {
    const auto bytes = cni::read_existing_file_bounded(options.config_file, cni::kMaxFileBytes, "config file");
    const auto config = meta::parse_meta_config(bytes);
    const auto slash = options.pod.find('/');
    const auto pod_ns = slash == std::string::npos ? std::string("default") : options.pod.substr(0, slash);
    const auto pod_name = slash == std::string::npos ? options.pod : options.pod.substr(slash + 1);
    std::optional<std::filesystem::path> store;
    if (!options.store.empty()) store = options.store;
    log::Logger logger(log::settings_of(config), err);
    MetaRuntime runtime(config, store, logger.engine_log(), logger.plugin_log(), options.node);

    cni::Request request;
    request.command = command;
    request.container_id = options.container_id.empty() ? container_id_for(options.netns) : options.container_id;
    request.netns = options.netns;
    request.ifname = options.ifname;
    request.path = options.cni_path.empty() ? env_or("CNI_PATH", config.bin_dir) : options.cni_path;
    request.stdin_data = bytes;
    std::string uid;
    if (auto* source = runtime.source()) {
      if (auto pod = source->get_pod(pod_ns, pod_name, false)) uid = pod->uid;
    }
    request.args = fmt::format("IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={}{}", pod_ns,
                               pod_name, request.container_id, uid.empty() ? "" : ";K8S_POD_UID=" + uid);

    const bool hotplug = !options.network.empty();
    const auto reply = hotplug ? runtime.engine().handle_hotplug(request, options.network, command == "ADD")
                               : runtime.engine().handle(request);
    runtime.send_events();
    if (reply.exit_code != 0) {
      out << reply.stdout_data << '\n';
      return reply.exit_code;
    }
    if (hotplug && command == "DEL") {
      out << fmt::format("detached {} from {}/{}\n", options.network, pod_ns, pod_name);
      if (!runtime.engine().last_network_status().empty()) {
        out << "network-status (k8s.v1.cni.cncf.io/network-status):\n" << runtime.engine().last_network_status() << '\n';
      }
    } else if (command == "ADD") {
      out << reply.stdout_data << '\n';
      out << "network-status (k8s.v1.cni.cncf.io/network-status):\n" << runtime.engine().last_network_status() << '\n';
    } else {
      out << fmt::format("detached {}/{} from {}\n", pod_ns, pod_name, options.netns);
    }
    return 0;
  } catch (...) {
    return print_current_error(out);
  }
}

// `plexus claims --store DIR` / `--kubeconfig FILE`: the sticky IPAM's claims (a manifest store's
// files, or the cluster's StickyClaim objects), after releasing those whose holder is gone.
template <typename Store>
void print_claims(Store& store, std::ostream& out) {
  for (const auto& claim : store.release_orphans()) {
    out << fmt::format("released {} ({} {}): {} is gone\n", claim.name, claim.address, claim.mac, claim.holder.describe());
  }
  out << fmt::format("{:<28} {:<20} {:<18} {:<30} {:<8} {}\n", "CLAIM", "ADDRESS", "MAC", "HOLDER", "REPLICA", "NODE");
  for (const auto& claim : store.list()) {
    out << fmt::format("{:<28} {:<20} {:<18} {:<30} {:<8} {}\n", claim.name, claim.address, claim.mac.empty() ? "-" : claim.mac,
                       fmt::format("{}/{}/{}", claim.holder.kind, claim.holder.namespace_name, claim.holder.name),
                       claim.holder.ordinal ? std::to_string(*claim.holder.ordinal) : "-", claim.node);
  }
}

int claims_main(const std::string& store_dir, const std::string& kubeconfig, std::ostream& out) {
  try {
    if (!kubeconfig.empty()) {
      const k8s::ApiClient client(k8s::load_kubeconfig(kubeconfig));
      meta::KubernetesClaimStore store(client);
      print_claims(store, out);
    } else {
      meta::ManifestStore store(store_dir);
      print_claims(store.claims(), out);
    }
    return 0;
  } catch (...) {
    return print_current_error(out);
  }
}

void print_version(std::ostream& out) {
  out << fmt::format("plexus {}\nplugin ABI {}.{}\nCNI spec versions: {}\n", PLEXUS_VERSION, PLEXUS_ABI_MAJOR,
                     PLEXUS_ABI_MINOR, fmt::join(cni::all_versions(), ", "));
}

}  // namespace

int plexus_main(int argc, char** argv, std::istream& in, std::ostream& out, std::ostream& err) {
  if (std::getenv("CNI_COMMAND") != nullptr) return cni_main(in, out, err);

  CLI::App app{"plexus: a multus-compatible multi-network CNI meta-plugin with in-process delegates.\n"
               "kubelet runs it as a CNI plugin (CNI_COMMAND set); people run its subcommands."};
  app.require_subcommand(1);

  app.add_subcommand("version", "Print plexus's version, plugin ABI and CNI spec versions")->callback([&] { print_version(out); });

  InspectOptions inspect_options;
  std::vector<std::string> plugin_dirs;
  auto* inspect_cmd = app.add_subcommand("inspect", "List plugin dirs, in-process plugins, and the types that will be exec'd");
  inspect_cmd->add_option("--plugin-dir", plugin_dirs, "Directory of plugin .so files (repeatable; default: next to plexus)");
  inspect_cmd->add_option("--cni-path", inspect_options.cni_path, "':'-separated CNI binary dirs (default: $CNI_PATH or /opt/cni/bin)");
  inspect_cmd->add_option("--exec-type", inspect_options.exec_types, "A type pinned to exec (repeatable)");
  inspect_cmd->add_flag("--json", inspect_options.json, "Print JSON");
  int status = 0;
  inspect_cmd->callback([&] {
    for (const auto& dir : plugin_dirs) inspect_options.plugin_dirs.emplace_back(dir);
    if (inspect_options.plugin_dirs.empty()) inspect_options.plugin_dirs = default_plugin_dirs();
    if (inspect_options.cni_path.empty()) inspect_options.cni_path = env_or("CNI_PATH", "/opt/cni/bin");
    status = inspect(inspect_options, out);
  });

  AttachOptions attach_options;
  for (const auto& [name, command, help] : {std::tuple{"attach", "ADD", "Attach a pod's networks to a namespace, as the kubelet would (local mode with --store)"},
                                            std::tuple{"detach", "DEL", "Detach them again"}}) {
    auto* sub = app.add_subcommand(name, help);
    sub->add_option("--config", attach_options.config_file, "The plexus (multus) config file")->required();
    sub->add_option("--pod", attach_options.pod, "The pod, namespace/name")->required();
    sub->add_option("--netns", attach_options.netns, "The pod's network namespace path")->required();
    sub->add_option("--store", attach_options.store, "A directory of NAD and Pod manifests to use instead of an API server");
    sub->add_option("--container-id", attach_options.container_id, "Default: derived from --netns");
    sub->add_option("--ifname", attach_options.ifname, "The cluster network's interface (default eth0)");
    sub->add_option("--cni-path", attach_options.cni_path, "Where exec'd delegates are found (default: $CNI_PATH, else binDir)");
    sub->add_option("--node", attach_options.node, "The node name sticky claims record (default: $NODE_NAME, else the host name)");
    sub->add_option("--network", attach_options.network,
                     "Hot-plug: only this network (\"[ns/]name[@ifname]\" or a JSON element), into or out of the attached pod");
    const std::string cni_command = command;
    sub->callback([&, cni_command] { status = attach_main(attach_options, cni_command, out, err); });
  }

  std::string claims_store;
  std::string claims_kubeconfig;
  auto* claims_cmd = app.add_subcommand("claims", "List the sticky IPAM's claims, releasing those whose holder is gone");
  auto* claims_store_opt = claims_cmd->add_option("--store", claims_store, "A manifest directory (claims live in its claims/)");
  auto* claims_kubeconfig_opt =
      claims_cmd->add_option("--kubeconfig", claims_kubeconfig, "The cluster's StickyClaim objects, through this kubeconfig");
  claims_store_opt->excludes(claims_kubeconfig_opt);
  claims_cmd->callback([&] {
    if (claims_store.empty() && claims_kubeconfig.empty()) throw CLI::RequiredError("--store or --kubeconfig");
    status = claims_main(claims_store, claims_kubeconfig, out);
  });

  add_install_commands(app, status, out, err);  // install, healthcheck: deploy/

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }
  return status;
}

}  // namespace plexus::cli
