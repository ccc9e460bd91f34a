// kubeconfig (the subset kubectl users write by hand and installers generate) and in-cluster.
#include "plexus/k8s/config.hpp"
#include "plexus/k8s/yaml_guard.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string_view>
#include <vector>

namespace plexus::k8s {
namespace {

namespace fs = std::filesystem;

// kubeconfig, CA, client cert and key, token: a few KiB each; bounded like every outside file.
std::string read_text_file(const fs::path& file, const std::string& what_for) {
  try {
    return cni::read_existing_file_bounded(file, cni::kMaxFileBytes, "file");
  } catch (const cni::Error& e) {
    throw ConfigError(what_for + ": cannot read " + file.string() + ": " + e.msg());
  }
}

// RFC 4648 base64 as kubeconfig *-data fields use it; whitespace (line-wrapped PEM) is skipped.
std::string decode_base64(std::string_view text, const std::string& what_for) {
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned int accumulator = 0;
  int bits = 0;
  bool padding_seen = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding_seen = true;
      continue;
    }
    const int value = value_of(c);
    if (value < 0 || padding_seen) throw ConfigError(what_for + ": not valid base64");
    accumulator = (accumulator << 6) | static_cast<unsigned int>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xffU));
    }
  }
  if (bits >= 6) throw ConfigError(what_for + ": truncated base64");
  return out;
}

// Finds `name` in a kubeconfig list such as `clusters: [{name: x, cluster: {...}}]`.
YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* inner_key) {
  if (!list || !list.IsSequence()) return {};
  for (const auto& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry[inner_key];
  }
  return {};
}

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  if (!value || value.IsNull()) return {};
  return value.as<std::string>();
}

// `<key>-data` (base64, inline) wins over `<key>` (a file path relative to the kubeconfig's
// folder), as in client-go.
std::string pem_from(const YAML::Node& node, const std::string& key, const fs::path& base_dir,
                     const std::string& field_prefix) {
  const std::string data_key = key + "-data";
  if (const std::string data = scalar(node, data_key.c_str()); !data.empty()) {
    return decode_base64(data, field_prefix + "." + data_key);
  }
  if (const std::string file = scalar(node, key.c_str()); !file.empty()) {
    const fs::path resolved = fs::path(file).is_absolute() ? fs::path(file) : base_dir / file;
    return read_text_file(resolved, field_prefix + "." + key);
  }
  return {};
}

std::string without_trailing_slash(std::string server) {
  while (!server.empty() && server.back() == '/') server.pop_back();
  return server;
}

}  // namespace

ClusterConfig load_kubeconfig(const fs::path& path, const std::string& context) {
  const std::string where = "kubeconfig " + path.string();
  YAML::Node root;
  try {
    const std::string text = read_text_file(path, where);
    if (const auto refusal = yaml_refusal(text)) throw ConfigError(where + ": " + *refusal);
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError(where + ": not a kubeconfig (top level is no mapping)");

  try {
    const fs::path base_dir = fs::absolute(path).parent_path();
    const std::string context_name = context.empty() ? scalar(root, "current-context") : context;
    if (context_name.empty()) {
      throw ConfigError(where + ": current-context is not set and no context was given");
    }
    const YAML::Node context_node = find_named(root["contexts"], context_name, "context");
    if (!context_node) {
      throw ConfigError(where + ": contexts: no context named \"" + context_name + "\"");
    }

    const std::string cluster_name = scalar(context_node, "cluster");
    const std::string user_name = scalar(context_node, "user");
    const std::string context_field = "contexts[" + context_name + "]";
    if (cluster_name.empty()) throw ConfigError(where + ": " + context_field + ".cluster is empty");
    const YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster) {
      throw ConfigError(where + ": clusters: no cluster named \"" + cluster_name + "\" (used by " +
                        context_field + ")");
    }

    ClusterConfig config;
    config.source = path.string();
    const std::string cluster_field = where + ": clusters[" + cluster_name + "]";
    config.server = without_trailing_slash(scalar(cluster, "server"));
    if (config.server.empty()) throw ConfigError(cluster_field + ".server is empty");
    if (config.server.rfind("https://", 0) != 0) {
      throw ConfigError(cluster_field + ".server must be an https:// URL, got \"" +
                        config.server + "\"");
    }
    if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
      throw ConfigError(cluster_field +
                        ".insecure-skip-tls-verify is set; plexus always verifies the server");
    }
    config.ca_pem = pem_from(cluster, "certificate-authority", base_dir, cluster_field);
    config.proxy_url = scalar(cluster, "proxy-url");
    config.tls_server_name = scalar(cluster, "tls-server-name");

    if (!user_name.empty()) {
      const YAML::Node user = find_named(root["users"], user_name, "user");
      if (!user) {
        throw ConfigError(where + ": users: no user named \"" + user_name + "\" (used by " +
                          context_field + ")");
      }
      const std::string user_field = where + ": users[" + user_name + "]";
      config.client_cert_pem = pem_from(user, "client-certificate", base_dir, user_field);
      config.client_key_pem = pem_from(user, "client-key", base_dir, user_field);
      if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
        throw ConfigError(user_field + ": client-certificate and client-key must come together");
      }
      config.token = scalar(user, "token");
      if (const std::string token_file = scalar(user, "tokenFile"); !token_file.empty()) {
        config.token_file =
            fs::path(token_file).is_absolute() ? fs::path(token_file) : base_dir / token_file;
        // Read once now so a wrong path fails at load, not at the first request.
        (void)read_text_file(config.token_file, user_field + ".tokenFile");
      }
      if (user["exec"] || user["auth-provider"]) {
        throw ConfigError(user_field + ": exec and auth-provider credentials are not supported");
      }
    }
    config.default_namespace = scalar(context_node, "namespace");
    if (config.default_namespace.empty()) config.default_namespace = "default";
    return config;
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": unexpected shape: " + e.what());
  }
}

namespace {

std::optional<std::string> env_of(const InClusterSource& source, const std::string& name) {
  if (source.getenv) return source.getenv(name);
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

bool in_cluster_available(const InClusterSource& source) {
  const auto host = env_of(source, "KUBERNETES_SERVICE_HOST");
  const auto port = env_of(source, "KUBERNETES_SERVICE_PORT");
  return host && !host->empty() && port && !port->empty();
}

ClusterConfig load_in_cluster_config(const InClusterSource& source) {
  const auto host = env_of(source, "KUBERNETES_SERVICE_HOST");
  const auto port = env_of(source, "KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    throw ConfigError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  ClusterConfig config;
  config.source = "in-cluster (" + source.account_dir.string() + ")";
  // An IPv6 service address needs brackets in a URL.
  const bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  config.token_file = source.account_dir / "token";
  if (trimmed(read_text_file(config.token_file, "in-cluster config: token")).empty()) {
    throw ConfigError("in-cluster config: " + config.token_file.string() + " is empty");
  }
  config.ca_pem = read_text_file(source.account_dir / "ca.crt", "in-cluster config: ca.crt");
  const fs::path namespace_file = source.account_dir / "namespace";
  config.default_namespace =
      fs::exists(namespace_file)
          ? trimmed(read_text_file(namespace_file, "in-cluster config: namespace"))
          : "default";
  return config;
}

}  // namespace plexus::k8s
