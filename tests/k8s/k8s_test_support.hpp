// Helpers shared by the k8s suites: base64, a client against the fake (TempDir: tests/support).
#pragma once

#include "fake_apiserver.hpp"
#include "temp_dir.hpp"
#include "plexus/k8s/api_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace plexus::test {

inline std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned int accumulator = 0;
  int bits = 0;
  for (const char c : bytes) {
    accumulator = (accumulator << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(accumulator >> bits) & 0x3fU]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(accumulator << (6 - bits)) & 0x3fU]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

// Fast retries so the suites stay quick; the bounds are still real.
inline k8s::ClientOptions quick_options() {
  k8s::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.request_timeout = std::chrono::milliseconds(5000);
  options.retry_interval = std::chrono::milliseconds(50);
  options.retry_window = std::chrono::milliseconds(1000);
  return options;
}

inline k8s::ClusterConfig token_config(const FakeApiServer& server, const std::string& token) {
  k8s::ClusterConfig config;
  config.server = server.url();
  config.ca_pem = server.ca().cert_pem();
  config.token = token;
  config.source = "test";
  return config;
}

inline nlohmann::json pod_object(const std::string& ns, const std::string& name,
                                 const std::string& node = "node-a") {
  return {{"metadata",
           {{"name", name},
            {"namespace", ns},
            {"annotations", {{"k8s.v1.cni.cncf.io/networks", "ip-192"}}},
            {"labels", {{"app", name}}}}},
          {"spec", {{"nodeName", node}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}},
          {"status", {{"phase", "Pending"}}}};
}

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds within = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return predicate();
}

}  // namespace plexus::test
