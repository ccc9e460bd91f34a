// kubeconfig and in-cluster loading, each variant proven by a real request to the fake.
#include "k8s_test_support.hpp"
#include "plexus/k8s/config.hpp"

#include <curl/curl.h>

namespace plexus::test {
namespace {

using k8s::ApiClient;
using k8s::ApiError;
using k8s::ConfigError;

std::string kubeconfig_yaml(const std::string& server, const std::string& cluster_extra,
                            const std::string& user_extra,
                            const std::string& current_context = "ctx") {
  std::string yaml = "apiVersion: v1\nkind: Config\n";
  yaml += "clusters:\n- name: c1\n  cluster:\n    server: " + server + "\n" + cluster_extra;
  yaml += "users:\n- name: u1\n  user:\n" + user_extra;
  yaml += "contexts:\n- name: ctx\n  context:\n    cluster: c1\n    user: u1\n    namespace: team-a\n";
  if (!current_context.empty()) yaml += "current-context: " + current_context + "\n";
  return yaml;
}

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override { server.put_pod(pod_object("team-a", "web")); }

  // The pod GET works with this config and the fake saw `user`.
  void expect_authenticated_as(const k8s::ClusterConfig& config, const std::string& user) {
    ApiClient client(config, quick_options());
    EXPECT_EQ(client.get_pod("team-a", "web").name(), "web");
    const auto log = server.requests();
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log.back().user, user);
    EXPECT_EQ(log.back().status, 200);
  }

  FakeApiServer server;
  TempDir dir;
};

TEST_F(KubeconfigTest, TokenAndInlineCaData) {
  server.accept_token("s3cret", "alice");
  const auto file = dir.write(
      "config", kubeconfig_yaml(server.url(),
                                "    certificate-authority-data: " + base64(server.ca().cert_pem()) + "\n",
                                "    token: s3cret\n"));
  const auto config = k8s::load_kubeconfig(file);
  EXPECT_EQ(config.server, server.url());
  EXPECT_EQ(config.token, "s3cret");
  EXPECT_EQ(config.default_namespace, "team-a");
  expect_authenticated_as(config, "alice");
  EXPECT_EQ(server.requests().back().authorization, "Bearer s3cret");
}

TEST_F(KubeconfigTest, TokenFileIsReReadOnEveryRequest) {
  server.accept_token("first-token", "sa-v1");
  dir.write("ca.crt", server.ca().cert_pem());
  dir.write("token", "first-token\n");
  const auto file = dir.write(
      "config", kubeconfig_yaml(server.url(), "    certificate-authority: ca.crt\n",
                                "    tokenFile: token\n"));
  ApiClient client(k8s::load_kubeconfig(file), quick_options());
  EXPECT_EQ(client.get_pod("team-a", "web").name(), "web");

  // The kubelet rotates the bound token; the old one stops working.
  server.accept_token("second-token", "sa-v2");
  server.revoke_token("first-token");
  dir.write("token", "second-token\n");
  EXPECT_EQ(client.get_pod("team-a", "web").name(), "web");

  const auto log = server.requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].authorization, "Bearer first-token");
  EXPECT_EQ(log[1].authorization, "Bearer second-token");
  EXPECT_EQ(log[1].user, "sa-v2");
}

TEST_F(KubeconfigTest, ClientCertificateAndKeyData) {
  const KeyAndCert client_cert = server.ca().issue_client("system:node:node-a", {"system:nodes"});
  const auto file = dir.write(
      "config",
      kubeconfig_yaml(server.url(),
                      "    certificate-authority-data: " + base64(server.ca().cert_pem()) + "\n",
                      "    client-certificate-data: " + base64(client_cert.cert_pem) +
                          "\n    client-key-data: " + base64(client_cert.key_pem) + "\n"));
  const auto config = k8s::load_kubeconfig(file);
  EXPECT_EQ(config.client_cert_pem, client_cert.cert_pem);
  expect_authenticated_as(config, "system:node:node-a");
  EXPECT_EQ(server.requests().back().authorization, "");
}

TEST_F(KubeconfigTest, ClientCertificateFilesRelativeToTheKubeconfigFolder) {
  const KeyAndCert client_cert = server.ca().issue_client("plexus");
  dir.write("etc/pki/ca.crt", server.ca().cert_pem());
  dir.write("etc/pki/client.crt", client_cert.cert_pem);
  dir.write("etc/pki/client.key", client_cert.key_pem);
  const auto file = dir.write(
      "etc/kube/config",
      kubeconfig_yaml(server.url(), "    certificate-authority: ../pki/ca.crt\n",
                      "    client-certificate: ../pki/client.crt\n"
                      "    client-key: " + (dir.path() / "etc/pki/client.key").string() + "\n"));
  expect_authenticated_as(k8s::load_kubeconfig(file), "plexus");
}

TEST_F(KubeconfigTest, NamedContextOverridesCurrentContext) {
  server.accept_token("t", "bob");
  std::string yaml = kubeconfig_yaml(
      server.url(), "    certificate-authority-data: " + base64(server.ca().cert_pem()) + "\n",
      "    token: t\n", "nowhere");
  const auto file = dir.write("config", yaml);
  EXPECT_THROW(k8s::load_kubeconfig(file), ConfigError);  // current-context names no context
  expect_authenticated_as(k8s::load_kubeconfig(file, "ctx"), "bob");
}

TEST_F(KubeconfigTest, MissingCurrentContextNamesFileAndField) {
  const auto file = dir.write("config", kubeconfig_yaml(server.url(), "", "    token: t\n", ""));
  try {
    k8s::load_kubeconfig(file);
    FAIL() << "loaded a kubeconfig without current-context";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("current-context"), std::string::npos) << error.what();
  }
}

TEST_F(KubeconfigTest, ErrorsNameTheField) {
  const auto expect_error_mentions = [&](const std::string& yaml, const std::string& needle) {
    const auto file = dir.write("bad", yaml);
    try {
      k8s::load_kubeconfig(file);
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    }
  };
  expect_error_mentions(kubeconfig_yaml(server.url(), "    certificate-authority-data: '%%%'\n", ""),
                        "certificate-authority-data");
  expect_error_mentions(kubeconfig_yaml(server.url(), "    certificate-authority: nope.crt\n", ""),
                        "nope.crt");
  expect_error_mentions(kubeconfig_yaml(server.url(), "    insecure-skip-tls-verify: true\n", ""),
                        "insecure-skip-tls-verify");
  expect_error_mentions(kubeconfig_yaml("http://127.0.0.1:1", "", ""), "https://");
  expect_error_mentions(kubeconfig_yaml(server.url(), "", "    tokenFile: missing-token\n"),
                        "tokenFile");
  expect_error_mentions(
      kubeconfig_yaml(server.url(), "", "    client-certificate-data: " + base64("x") + "\n"),
      "client-key");
  expect_error_mentions("clusters: [", "YAML");
  // yaml-cpp 0.7 never returns on this one (tests/fuzz/kubeconfig_fuzz): refused before it reads it.
  expect_error_mentions("{\"clusters\": []},", "must be JSON");
}

TEST(InClusterConfigTest, ReadsTheServiceAccountMountAndEnv) {
  FakeApiServer server;
  server.put_pod(pod_object("kube-system", "plexus-abc"));
  server.accept_token("sa-token", "system:serviceaccount:kube-system:plexus");
  TempDir dir;
  dir.write("token", "sa-token");
  dir.write("ca.crt", server.ca().cert_pem());
  dir.write("namespace", "kube-system");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", std::to_string(server.port())}};
  k8s::InClusterSource source;
  source.account_dir = dir.path();
  source.getenv = [&](const std::string& name) -> std::optional<std::string> {
    const auto found = env.find(name);
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
  ASSERT_TRUE(k8s::in_cluster_available(source));
  const auto config = k8s::load_in_cluster_config(source);
  EXPECT_EQ(config.server, server.url());
  EXPECT_EQ(config.default_namespace, "kube-system");
  EXPECT_EQ(config.token_file, dir.path() / "token");

  ApiClient client(config, quick_options());
  EXPECT_EQ(client.get_pod("kube-system", "plexus-abc").name(), "plexus-abc");
  EXPECT_EQ(server.requests().back().user, "system:serviceaccount:kube-system:plexus");

  env.erase("KUBERNETES_SERVICE_PORT");
  EXPECT_FALSE(k8s::in_cluster_available(source));
  EXPECT_THROW(k8s::load_in_cluster_config(source), ConfigError);
}

TEST(InClusterConfigTest, MissingTokenIsAClearError) {
  TempDir dir;
  dir.write("ca.crt", "x");
  k8s::InClusterSource source;
  source.account_dir = dir.path();
  source.getenv = [](const std::string& name) -> std::optional<std::string> {
    return name == "KUBERNETES_SERVICE_HOST" ? "10.96.0.1" : "443";
  };
  try {
    k8s::load_in_cluster_config(source);
    FAIL() << "loaded without a token";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find((dir.path() / "token").string()), std::string::npos)
        << error.what();
  }
}

// --- TLS ---

TEST(TlsTest, AServerCertificateFromAnotherCaIsRefused) {
  FakeApiServer server;
  server.accept_token("t");
  server.put_pod(pod_object("default", "web"));
  const CertificateAuthority other("some-other-ca");
  auto config = token_config(server, "t");
  config.ca_pem = other.cert_pem();
  ApiClient client(config, quick_options());
  try {
    client.get_pod("default", "web");
    FAIL() << "trusted a server certificate from another CA";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 0);
    EXPECT_EQ(error.transport_code(), CURLE_PEER_FAILED_VERIFICATION) << error.what();
    EXPECT_FALSE(error.is_transient());
  }
  EXPECT_TRUE(server.requests().empty());  // no request crossed the failed handshake
}

TEST(TlsTest, TheHostNameIsVerified) {
  FakeApiServer server;
  server.accept_token("t");
  server.put_pod(pod_object("default", "web"));
  auto config = token_config(server, "t");
  // Same CA, but the certificate has no SAN for this name.
  config.tls_server_name = "not-the-apiserver.example";
  ApiClient client(config, quick_options());
  EXPECT_THROW(client.get_pod("default", "web"), ApiError);
  config.tls_server_name = "localhost";  // in the SAN: accepted, through CONNECT_TO
  EXPECT_EQ(ApiClient(config, quick_options()).get_pod("default", "web").name(), "web");
}

TEST(TlsTest, ClientCertificateFromAnotherCaGetsUnauthorized) {
  FakeApiServer server;
  server.put_pod(pod_object("default", "web"));
  const CertificateAuthority other("some-other-ca");
  const KeyAndCert stranger = other.issue_client("mallory");
  k8s::ClusterConfig config = token_config(server, "");
  config.client_cert_pem = stranger.cert_pem;
  config.client_key_pem = stranger.key_pem;
  try {
    ApiClient(config, quick_options()).get_pod("default", "web");
    FAIL() << "an untrusted client certificate was accepted";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 401);
    EXPECT_EQ(error.reason(), "Unauthorized");
  }
  EXPECT_EQ(server.requests().back().user, "");
}

TEST(TlsTest, RequestsReuseAConnectionOnlyWithTheSameCredentials) {
  FakeApiServer server;
  server.put_pod(pod_object("default", "web"));
  const KeyAndCert alice = server.ca().issue_client("alice");
  k8s::ClusterConfig config = token_config(server, "");
  config.client_cert_pem = alice.cert_pem;
  config.client_key_pem = alice.key_pem;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ApiClient(config, quick_options()).get_pod("default", "web").name(), "web");
  EXPECT_EQ(server.accepted_connections(), 1) << "five requests, one TLS connection";
  EXPECT_EQ(server.requests().back().user, "alice");

  // Another client certificate must never ride on alice's authenticated connection.
  const CertificateAuthority other("some-other-ca");
  const KeyAndCert stranger = other.issue_client("mallory");
  config.client_cert_pem = stranger.cert_pem;
  config.client_key_pem = stranger.key_pem;
  EXPECT_THROW(ApiClient(config, quick_options()).get_pod("default", "web"), ApiError);
  EXPECT_EQ(server.accepted_connections(), 2);
  EXPECT_EQ(server.requests().back().user, "");
}

TEST(TlsTest, NoCredentialsGetsUnauthorizedWithoutRetry) {
  FakeApiServer server;
  server.put_pod(pod_object("default", "web"));
  ApiClient client(token_config(server, "unknown-token"), quick_options());
  try {
    client.get_pod("default", "web");
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_EQ(error.http_status(), 401);
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace plexus::test
