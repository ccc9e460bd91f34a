// Where the API server is and how to authenticate to it: from a kubeconfig file or from the
// in-cluster service-account mount. Both produce the same ClusterConfig for ApiClient.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace plexus::k8s {

// A kubeconfig or in-cluster setup that cannot be used. what() names the file and the field.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string server;  // "https://host:port", no trailing slash
  // PEM bytes kept in memory (files are read once at load); empty ca_pem = the system trust store.
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  // Bearer auth: a token_file wins over a fixed token and is re-read on every request, because
  // bound service-account tokens are rotated by the kubelet while the process lives.
  std::string token;
  std::filesystem::path token_file;
  std::string proxy_url;          // kubeconfig proxy-url; empty = no proxy, whatever the env says
  std::string tls_server_name;    // kubeconfig tls-server-name; empty = host from `server`
  std::string default_namespace;  // context namespace or the service account's namespace
  std::string source;             // the file or "in-cluster", for error messages
};

// Loads `path` and resolves `context` (empty = current-context). Relative file paths in the
// kubeconfig are resolved against the kubeconfig's own folder, as kubectl does.
// insecure-skip-tls-verify is refused: plexus never talks to an API server it cannot verify.
ClusterConfig load_kubeconfig(const std::filesystem::path& path, const std::string& context = {});

// The pod's service-account mount and the env that kubelet sets. Paths and env are injectable.
struct InClusterSource {
  std::filesystem::path account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::function<std::optional<std::string>(const std::string&)> getenv;  // null = ::getenv
};

// KUBERNETES_SERVICE_HOST/PORT + token (as token_file, so rotation is seen), ca.crt, namespace.
ClusterConfig load_in_cluster_config(const InClusterSource& source = {});

// True when the KUBERNETES_SERVICE_HOST/PORT pair is set (we run inside a pod).
bool in_cluster_available(const InClusterSource& source = {});

}  // namespace plexus::k8s
