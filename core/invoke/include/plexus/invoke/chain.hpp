// Running a network (a conflist, or a .conf as a chain of one) with libcni's semantics
// (libcni/api.go): each plugin gets the list's name and cniVersion injected, the previous
// plugin's result as prevResult in the list's version, and runtimeConfig = the capability args
// its "capabilities" declare; its config is re-serialized with sorted keys. ADD runs in order
// and stops at the first failure; DEL runs in reverse with the cached ADD result; CHECK runs in
// order with it; STATUS and GC are forwarded. The ADD result is cached in libcni's format.
#pragma once

#include <plexus/cni/config.hpp>
#include <plexus/cni/result.hpp>
#include <plexus/invoke/invoker.hpp>
#include <plexus/invoke/result_cache.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::invoke {

// A network as the runtime gave it: the parsed list and the bytes (cached as "config").
struct Network {
  cni::ConfList list;
  std::string bytes;

  // A conflist ("plugins" key) or a single .conf, which becomes a list of one. Throws cni::Error.
  static Network parse(std::string_view bytes);
};

// libcni's RuntimeConf: everything of a call but the network config.
struct RuntimeConf {
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::vector<std::pair<std::string, std::string>> args;           // CNI_ARGS, in order
  cni::ordered_json capability_args = cni::ordered_json::object();  // runtimeConfig candidates
};

// cni.dev/valid-attachments entries for GC.
struct GcAttachment {
  std::string container_id;
  std::string ifname;
};

class ChainRunner {
 public:
  // `cni_path` is handed to every plugin as CNI_PATH (so it can find its own IPAM plugin).
  ChainRunner(Invoker& invoker, const ResultCache& cache, std::string cni_path)
      : invoker_(invoker), cache_(cache), cni_path_(std::move(cni_path)) {}

  // Every method throws cni::Error on failure, with the failing plugin's code and libcni's words.

  // The last plugin's result (also written to the cache). A failure is
  // `plugin type="x" name="y" failed (add): <the plugin's error>`; nothing after it runs.
  cni::Result add(const Network& network, const RuntimeConf& runtime) const;
  // Reverse order, prevResult = the cached result at >=0.4.0; the cache entry is removed after.
  // A failure is `plugin type="x" failed (delete): ...`.
  void del(const Network& network, const RuntimeConf& runtime) const;
  // In order with the cached result; an error below 0.4.0; nothing when disableCheck.
  void check(const Network& network, const RuntimeConf& runtime) const;
  // Forwarded to every plugin at >=1.1.0 (nothing below); stops at the first error.
  void status(const Network& network) const;
  // DELs every cached attachment of this network that `valid` does not list, then (>=1.1.0)
  // sends GC with cni.dev/valid-attachments to every plugin. Errors are collected, one per line.
  void gc(const Network& network, const std::optional<std::vector<GcAttachment>>& valid) const;

  // The bytes plugin `index` of the list receives (libcni's buildOneConfig).
  static std::string plugin_config(const cni::ConfList& list, std::size_t index, const std::optional<cni::Result>& prev,
                                   const RuntimeConf* runtime);

 private:
  cni::Reply run(std::string_view command, const cni::ConfList& list, std::size_t index, const std::string& config,
                 const RuntimeConf& runtime) const;
  std::optional<cni::Result> cached_result(const cni::ConfList& list, const RuntimeConf& runtime) const;

  Invoker& invoker_;
  const ResultCache& cache_;
  std::string cni_path_;
};

// libcni's pluginDescription: type="x" name="y" (name only when the plugin's config has one).
std::string plugin_description(const cni::ordered_json& plugin);

}  // namespace plexus::invoke
