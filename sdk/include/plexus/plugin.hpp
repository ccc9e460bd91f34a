// The C++ face of a plexus plugin. Derive from plexus::Plugin, give the class its identity, and
// end the file with one PLEXUS_PLUGIN(Class) line:
//
//   class Sample final : public plexus::Plugin {
//    public:
//     static constexpr const char* kName = "sample";      // also its CNI type unless kTypes says
//     static constexpr const char* kVersion = "1.0.0";
//     cni::Result add(const plexus::Call& call) override;
//     void del(const plexus::Call& call) override;
//   };
//   PLEXUS_PLUGIN(Sample)
//
// Built by plexus_add_plugin(), the same file becomes a .so exporting only the ABI entry (loaded
// in-process by plexus) and a standalone CNI binary (run_main()). Both go through dispatch(), so
// they answer every request with the same bytes and exit code. Exceptions never cross the ABI:
// a cni::Error becomes its JSON, anything else code 999 with its what().
#pragma once

#include <plexus/abi.h>
#include <plexus/abi.hpp>
#include <plexus/cni/args.hpp>
#include <plexus/cni/config.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/protocol.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/cni/version.hpp>

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexus {

enum class LogLevel { error = PLEXUS_LOG_ERROR, warn = PLEXUS_LOG_WARN, info = PLEXUS_LOG_INFO, debug = PLEXUS_LOG_DEBUG };

// What a plugin may ask of whoever runs it: run another plugin, and log.
class Host {
 public:
  virtual ~Host() = default;
  virtual cni::Reply invoke(std::string_view type, const cni::Request& request) = 0;
  virtual void log(LogLevel level, std::string_view message) = 0;
};

// One CNI call as a plugin sees it: the raw request, the parsed config, the version it speaks.
class Call {
 public:
  Call(const cni::Request& request, const cni::NetConf& conf, Host& host)
      : request_(request), conf_(conf), host_(host), version_(conf.version()) {}

  const cni::Request& request() const { return request_; }
  const cni::NetConf& conf() const { return conf_; }
  const std::string& version() const { return version_; }  // the config's (0.1.0 when absent)
  const std::string& command() const { return request_.command; }
  const std::string& container_id() const { return request_.container_id; }
  const std::string& netns() const { return request_.netns; }
  const std::string& ifname() const { return request_.ifname; }
  cni::CniArgs args() const { return cni::CniArgs::parse(request_.args); }
  Host& host() const { return host_; }
  void log(LogLevel level, std::string_view message) const { host_.log(level, message); }

  // Delegation with invoke.Delegate* semantics: plugin `type` runs with this call's environment,
  // CNI_COMMAND replaced, and `config` on stdin (this call's stdin when empty). An error reply is
  // rethrown unchanged as a cni::Error, so an IPAM plugin's code reaches the runtime as it was.
  cni::Result delegate_add(std::string_view type, std::string_view config = {}) const;
  void delegate(std::string_view command, std::string_view type, std::string_view config = {}) const;

 private:
  cni::Reply run_delegate(std::string_view command, std::string_view type, std::string_view config) const;

  const cni::Request& request_;
  const cni::NetConf& conf_;
  Host& host_;
  std::string version_;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual cni::Result add(const Call& call) = 0;
  virtual void del(const Call& call) = 0;
  virtual void check(const Call& /*call*/) {}
  virtual void status(const Call& /*call*/) {}
  virtual void gc(const Call& /*call*/) {}
};

// A plugin's identity, as the ABI info struct and the about text show it.
struct PluginIdentity {
  std::string_view name;
  std::string_view version;
  std::span<const char* const> types;
  std::span<const std::string_view> spec_versions;
};

// Answers one request the way skel does: env validation, config checks, version negotiation,
// the command, the netns self-check, the reply bytes. Never throws.
cni::Reply dispatch(Plugin& plugin, const PluginIdentity& identity, Host& host, const cni::Request& request);

// A standalone CNI binary's main: reads the CNI_* environment and stdin, prints the reply, returns
// the exit code. Without CNI_COMMAND it prints the about text to stderr and returns 0. Delegation
// execs the delegate from CNI_PATH, as libcni would.
int run_main(Plugin& plugin, const PluginIdentity& identity);

namespace detail {

// Host over the ABI's plexus_host_v1 (the in-process case).
class AbiHost final : public Host {
 public:
  explicit AbiHost(const plexus_host_v1* host) : host_(host) {}
  cni::Reply invoke(std::string_view type, const cni::Request& request) override;
  void log(LogLevel level, std::string_view message) override;

 private:
  const plexus_host_v1* host_;
};

template <typename T>
concept HasTypes = requires { T::kTypes; };
template <typename T>
concept HasSpecVersions = requires { T::kSpecVersions; };

template <typename PluginClass>
PluginIdentity identity_of() {
  static constexpr std::array<const char*, 1> kOwnType = {PluginClass::kName};
  PluginIdentity identity{PluginClass::kName, PluginClass::kVersion, kOwnType, cni::all_versions()};
  if constexpr (HasTypes<PluginClass>) identity.types = PluginClass::kTypes;
  if constexpr (HasSpecVersions<PluginClass>) identity.spec_versions = PluginClass::kSpecVersions;
  return identity;
}

template <typename PluginClass>
int invoke_entry(const plexus_host_v1* host, const plexus_request_v1* request, plexus_reply_v1* reply) noexcept {
  try {
    PluginClass plugin;
    AbiHost abi_host(host);
    const auto answer = dispatch(plugin, identity_of<PluginClass>(), abi_host, abi::from_abi(*request));
    return abi::fill(reply, answer) ? 0 : 1;
  } catch (...) {
    return abi::fill(reply, cni::Reply{1, cni::Error(cni::ErrorCode::Internal, "plugin failed to answer").to_json(), {}}) ? 0 : 1;
  }
}

template <typename PluginClass>
const plexus_plugin_v1* plugin_info() noexcept {
  static const auto identity = identity_of<PluginClass>();
  static const std::vector<const char*> spec_versions = [] {
    std::vector<const char*> out;
    for (const auto& v : identity_of<PluginClass>().spec_versions) out.push_back(v.data());
    return out;
  }();
  static const plexus_plugin_v1 info = {
      sizeof(plexus_plugin_v1), PLEXUS_ABI_MAJOR, PLEXUS_ABI_MINOR, PluginClass::kName, PluginClass::kVersion,
      identity.types.data(), identity.types.size(), spec_versions.data(), spec_versions.size(),
      &invoke_entry<PluginClass>};
  return &info;
}

}  // namespace detail
}  // namespace plexus

#ifdef PLEXUS_PLUGIN_STANDALONE
#define PLEXUS_PLUGIN_MAIN(PluginClass)                                          \
  int main() {                                                                   \
    PluginClass plugin;                                                          \
    return ::plexus::run_main(plugin, ::plexus::detail::identity_of<PluginClass>()); \
  }
#else
#include <vector>  // Boost 1.74's library_info.hpp and alias.hpp miss it
#include <boost/dll/alias.hpp>
#define PLEXUS_PLUGIN_MAIN(PluginClass)                                              \
  namespace {                                                                        \
  const plexus_plugin_v1* plexus_plugin_entry_impl() {                               \
    return ::plexus::detail::plugin_info<PluginClass>();                             \
  }                                                                                  \
  }                                                                                  \
  BOOST_DLL_ALIAS(plexus_plugin_entry_impl, plexus_plugin_entry)
#endif

// The one line at the end of a plugin file: the ABI entry in a .so, main() in a standalone build.
#define PLEXUS_PLUGIN(PluginClass) PLEXUS_PLUGIN_MAIN(PluginClass)
