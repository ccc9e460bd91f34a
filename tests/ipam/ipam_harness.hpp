// Runs one CNI request three ways: plexus's plugin loaded in-process from its .so (the registry,
// the ABI entry, a null host), plexus's standalone binary exec'd, and Debian's reference binary
// exec'd. The IPAM tests feed all three the same bytes and compare the replies.
#pragma once

#include <plexus/abi.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/cni/protocol.hpp>
#include <plexus/exec/exec.hpp>
#include <plexus/invoke/registry.hpp>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::ipam_test {

namespace fs = std::filesystem;

inline const std::vector<std::string> kAllVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

// What Debian's 1.1.1 plugins speak (VERSION stops at 1.0.0).
inline bool reference_speaks(std::string_view version) { return version != "1.1.0"; }

// A plexus plugin .so, loaded the way plexus loads it (the registry: ownership, the boostdll
// entry, the ABI major); invoke() goes through the C ABI only, with a null host.
class LoadedPlugin {
 public:
  LoadedPlugin(const fs::path& path, const std::string& type) {
    const auto outcome = registry_.load(path);
    if (outcome.status != invoke::LoadStatus::Loaded) throw std::runtime_error(outcome.message);
    plugin_ = registry_.find(type);
    if (!plugin_) throw std::runtime_error(path.string() + " does not serve " + type);
  }

  const plexus_plugin_v1& info() const { return plugin_->info(); }

  cni::Reply invoke(const cni::Request& request) const {
    const auto abi_request = abi::to_abi(request);
    plexus_reply_v1 reply{};
    reply.struct_size = sizeof(reply);
    if (info().invoke(nullptr, &abi_request, &reply) != 0) throw std::runtime_error("invoke could not fill the reply");
    return abi::take(reply);
  }

 private:
  invoke::PluginRegistry registry_;
  std::shared_ptr<const invoke::LoadedPlugin> plugin_;
};

// The three ways of running one plugin type.
class PluginTrio {
 public:
  explicit PluginTrio(const std::string& type)
      : so_(fs::path(PLEXUS_PLUGIN_DIR) / (type + ".so"), type),
        binary_(fs::path(PLEXUS_CNI_BIN_DIR) / type),
        reference_(fs::path(PLEXUS_REFERENCE_CNI_DIR) / type) {}

  cni::Reply in_process(const cni::Request& request) const { return so_.invoke(request); }
  cni::Reply standalone(const cni::Request& request) const { return exec::run(binary_, request); }
  cni::Reply reference(const cni::Request& request) const { return exec::run(reference_, request); }
  bool has_reference() const { return fs::exists(reference_); }
  const LoadedPlugin& so() const { return so_; }

 private:
  LoadedPlugin so_;
  fs::path binary_;
  fs::path reference_;
};

inline cni::Request make_request(std::string command, std::string config, std::string args = {},
                                 std::string container_id = "ctr1", std::string ifname = "eth0") {
  cni::Request request;
  request.command = std::move(command);
  request.container_id = std::move(container_id);
  request.netns = "/var/run/netns/plexus-ipam-test-absent";
  request.ifname = std::move(ifname);
  request.args = std::move(args);
  request.path = PLEXUS_REFERENCE_CNI_DIR;
  request.stdin_data = std::move(config);
  return request;
}

// Replaces every "{key}" in text.
inline std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    const std::string marker = "{" + key + "}";
    for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + value.size())) {
      text.replace(at, marker.size(), value);
    }
  }
  return text;
}

// plexus's reply must be what the reference said: the same bytes up to 0.4.0 and for every error;
// for a 1.0.0 result the same JSON once the reference's struct order and empty "dns":{} are set
// aside, and plexus's own bytes in libcni HEAD's form (keys sorted at every level).
inline void expect_same_reply(const cni::Reply& reference, const cni::Reply& plexus, std::string_view version,
                              std::string_view what) {
  SCOPED_TRACE(std::string(what) + " at " + std::string(version));
  EXPECT_EQ(plexus.exit_code, reference.exit_code);
  if (reference.exit_code != 0 || reference.stdout_data.empty() || version != "1.0.0") {
    EXPECT_EQ(plexus.stdout_data, reference.stdout_data);
    return;
  }
  auto expected = cni::json::parse(reference.stdout_data);
  if (expected.contains("dns") && expected["dns"].empty()) expected.erase("dns");
  const auto actual = cni::json::parse(plexus.stdout_data);
  EXPECT_EQ(actual, expected) << "reference: " << reference.stdout_data << "\nplexus: " << plexus.stdout_data;
  EXPECT_EQ(plexus.stdout_data, cni::go_marshal_indent(actual)) << "1.x results print with sorted keys";
}

// A directory under /tmp removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "plexus-ipam-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace plexus::ipam_test
