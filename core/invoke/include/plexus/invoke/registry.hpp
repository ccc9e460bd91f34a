// The in-process plugins: shared objects found in plugin directories, each checked (ownership,
// permissions, the entry symbol, the ABI major) before use, loaded once, and kept loaded while
// anything from it is in use. Either scanned up front (plexusd, `plexus inspect`) or loaded on
// demand, one type at a time (thin plexus: one CNI call should map only the plugins it runs).
#pragma once

#include <plexus/abi.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::invoke {

enum class LoadStatus {
  Loaded,
  NotFound,           // no such file
  UnsafePermissions,  // not owned by root (or by us, when not root), or group/world writable
  NotAPlugin,         // no plexus_plugin_entry in its "boostdll" section, or not a shared object
  LoadFailed,         // dlopen refused it (missing dependency, undefined symbol, ...)
  EntryFailed,        // the entry returned null or a struct too small to be plexus_plugin_v1
  WrongAbiMajor,      // built against another major version of abi.h
  DuplicateType,      // loaded, but every type it serves is already served by another file
};

std::string_view to_string(LoadStatus status);

struct LoadOutcome {
  std::filesystem::path file;
  LoadStatus status = LoadStatus::NotFound;
  std::string message;  // names the file and says what is wrong
};

// One loaded library. The library handle is the first member, so it is unloaded last.
class LoadedPlugin {
 public:
  LoadedPlugin(std::shared_ptr<void> library, const plexus_plugin_v1* info, std::filesystem::path file)
      : library_(std::move(library)), info_(info), file_(std::move(file)) {}

  const plexus_plugin_v1& info() const { return *info_; }
  const std::filesystem::path& file() const { return file_; }
  std::string name() const { return info_->name_cstr != nullptr ? info_->name_cstr : ""; }
  std::string version() const { return info_->version_cstr != nullptr ? info_->version_cstr : ""; }
  std::vector<std::string> types() const;
  std::vector<std::string> spec_versions() const;

 private:
  std::shared_ptr<void> library_;
  const plexus_plugin_v1* info_;
  std::filesystem::path file_;
};

class PluginRegistry {
 public:
  struct Options {
    // Who must own a plugin file. Defaults to our effective uid: root in production, where a
    // file anyone else could have written must never be loaded into a root process.
    unsigned owner_uid;
    Options();
  };

  PluginRegistry() : PluginRegistry(Options()) {}
  explicit PluginRegistry(Options options) : options_(options) {}

  // Loads every *.so in the directories, in lexical order per directory. A type served twice
  // keeps its first plugin.
  std::vector<LoadOutcome> scan(const std::vector<std::filesystem::path>& dirs);
  // Checks and loads one file.
  LoadOutcome load(const std::filesystem::path& file);

  // Loads nothing now; from then on find() of a type not served yet loads it from `dirs`:
  //   1. <dir>/<type>.so for each dir in order, checked and loaded as load() does any file; the
  //      first that serves the type answers;
  //   2. only if no file named after the type serves it, scan(dirs), once for the registry's life.
  // `report` hears every outcome of those loads (failures included, each file once), as scan()'s
  // caller would. Call it before the registry is shared between threads.
  // Cost: a type no file is named after (an exec'd type, e.g. the cluster network's) costs the
  // scan, i.e. loading every plugin; once per registry, so once per exec'd plexus call.
  // The one difference from scanning up front: a file named after the type is preferred over
  // another file that also serves the type, even one that sorts first or sits in an earlier dir
  // (a scan keeps the first file in dir order, then lexical order).
  using Report = std::function<void(const LoadOutcome&)>;
  void load_on_demand(std::vector<std::filesystem::path> dirs, Report report = {});

  // The plugin serving `type`, loading it first when the registry loads on demand (which is why a
  // const lookup may load: it answers what the dirs serve, and fills itself on the first ask).
  std::shared_ptr<const LoadedPlugin> find(std::string_view type) const;
  // What is loaded so far, one entry per file.
  std::vector<std::shared_ptr<const LoadedPlugin>> plugins() const;

 private:
  LoadOutcome load_file(const std::filesystem::path& file) const;
  std::vector<LoadOutcome> scan_dirs(const std::vector<std::filesystem::path>& dirs,
                                     const std::set<std::filesystem::path>& tried) const;
  std::shared_ptr<const LoadedPlugin> loaded(std::string_view type) const;
  void load_type(std::string_view type) const;

  Options options_;
  mutable std::mutex mutex_;  // guards the two maps
  // Mutable: find() fills them when loading on demand.
  mutable std::map<std::string, std::shared_ptr<const LoadedPlugin>, std::less<>> by_type_;
  mutable std::map<std::filesystem::path, std::shared_ptr<const LoadedPlugin>> by_file_;

  // On demand: one load at a time, so two finds of the same type load its file once.
  mutable std::mutex on_demand_mutex_;
  std::vector<std::filesystem::path> on_demand_dirs_;
  Report report_;
  bool on_demand_ = false;
  mutable bool scanned_ = false;
};

}  // namespace plexus::invoke
