#include <plexus/invoke/registry.hpp>

#include <plexus/exec/exec.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <vector>  // before Boost.DLL: 1.74's library_info.hpp misses it
#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>

namespace plexus::invoke {
namespace {

constexpr std::string_view kEntry = PLEXUS_PLUGIN_ENTRY_NAME;

LoadOutcome outcome(const std::filesystem::path& file, LoadStatus status, std::string message) {
  return {file, status, fmt::format("{}: {}", file.string(), message)};
}

// Reads the "boostdll" section without running any of the file's code, so a file that is no
// plexus plugin is refused before dlopen would run its constructors.
bool exports_entry(const std::filesystem::path& file, std::string& why) {
  try {
    boost::dll::library_info info(boost::dll::fs::path(file.string()), false);
    const auto symbols = info.symbols("boostdll");
    if (std::find(symbols.begin(), symbols.end(), kEntry) != symbols.end()) return true;
    why = fmt::format("not a plexus plugin: no {} entry", kEntry);
  } catch (const std::exception& e) {
    why = fmt::format("not a plexus plugin: not a shared object ({})", e.what());
  }
  return false;
}

std::vector<std::string> strings(const char* const* items, std::size_t count) {
  std::vector<std::string> out;
  for (std::size_t i = 0; items != nullptr && i < count; ++i) {
    if (items[i] != nullptr) out.emplace_back(items[i]);
  }
  return out;
}

}  // namespace

std::string_view to_string(LoadStatus status) {
  switch (status) {
    case LoadStatus::Loaded: return "loaded";
    case LoadStatus::NotFound: return "not found";
    case LoadStatus::UnsafePermissions: return "unsafe permissions";
    case LoadStatus::NotAPlugin: return "not a plugin";
    case LoadStatus::LoadFailed: return "load failed";
    case LoadStatus::EntryFailed: return "entry failed";
    case LoadStatus::WrongAbiMajor: return "wrong ABI major";
    case LoadStatus::DuplicateType: return "duplicate type";
  }
  return "unknown";
}

std::vector<std::string> LoadedPlugin::types() const { return strings(info_->types, info_->types_count); }
std::vector<std::string> LoadedPlugin::spec_versions() const {
  return strings(info_->spec_versions, info_->spec_versions_count);
}

PluginRegistry::Options::Options() : owner_uid(::geteuid()) {}

LoadOutcome PluginRegistry::load(const std::filesystem::path& given) { return load_file(given); }

LoadOutcome PluginRegistry::load_file(const std::filesystem::path& given) const {
  std::error_code ec;
  const auto file = std::filesystem::weakly_canonical(given, ec);
  struct stat info {};
  if (ec || ::stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return outcome(given, LoadStatus::NotFound, "no such plugin file");
  }
  {
    const std::lock_guard lock(mutex_);
    if (by_file_.contains(file)) return outcome(file, LoadStatus::Loaded, "already loaded");
  }
  if (info.st_uid != options_.owner_uid) {
    return outcome(file, LoadStatus::UnsafePermissions,
                   fmt::format("refusing to load: owned by uid {}, not {}", info.st_uid, options_.owner_uid));
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return outcome(file, LoadStatus::UnsafePermissions,
                   fmt::format("refusing to load: writable by group or others (mode {:o})", info.st_mode & 07777));
  }
  std::string why;
  if (!exports_entry(file, why)) return outcome(file, LoadStatus::NotAPlugin, why);

  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(boost::dll::fs::path(file.string()), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return outcome(file, LoadStatus::LoadFailed, fmt::format("dlopen failed: {}", e.what()));
  }
  // BOOST_DLL_ALIAS stores a pointer to the entry function in a variable of that name. (Read as
  // void*, not const void*: clang refuses a cast from a pointer to const to a function pointer.)
  void* entry_address = nullptr;
  try {
    entry_address = library->get<void*>(std::string(kEntry));
  } catch (const std::exception& e) {
    return outcome(file, LoadStatus::NotAPlugin, fmt::format("no {} symbol: {}", kEntry, e.what()));
  }
  const auto entry = reinterpret_cast<plexus_plugin_entry_fn>(entry_address);
  const plexus_plugin_v1* plugin = entry != nullptr ? entry() : nullptr;
  if (plugin == nullptr) return outcome(file, LoadStatus::EntryFailed, "the entry returned no plugin info");
  // The version fields first: another major may have a struct of another size, and must be
  // reported as what it is.
  if (plugin->struct_size < offsetof(plexus_plugin_v1, abi_minor) + sizeof(plugin->abi_minor)) {
    return outcome(file, LoadStatus::EntryFailed,
                   fmt::format("the plugin info is too small (struct_size {}) to carry its ABI version", plugin->struct_size));
  }
  if (plugin->abi_major != PLEXUS_ABI_MAJOR) {
    return outcome(file, LoadStatus::WrongAbiMajor,
                   fmt::format("built for plugin ABI {}.{}, this host speaks {}.x", plugin->abi_major, plugin->abi_minor,
                               PLEXUS_ABI_MAJOR));
  }
  if (plugin->struct_size < offsetof(plexus_plugin_v1, invoke) + sizeof(plugin->invoke) || plugin->invoke == nullptr) {
    return outcome(file, LoadStatus::EntryFailed,
                   fmt::format("the plugin info is too small (struct_size {}) or has no invoke", plugin->struct_size));
  }

  auto loaded = std::make_shared<const LoadedPlugin>(std::static_pointer_cast<void>(library), plugin, file);
  const std::lock_guard lock(mutex_);
  std::vector<std::string> taken;
  bool served_any = false;
  for (const auto& type : loaded->types()) {
    if (by_type_.contains(type)) {
      taken.push_back(type);
    } else {
      by_type_.emplace(type, loaded);
      served_any = true;
    }
  }
  if (!served_any) {
    return outcome(file, LoadStatus::DuplicateType,
                   fmt::format("every type it serves is served already: {}", fmt::join(taken, ", ")));
  }
  by_file_.emplace(file, loaded);
  if (!taken.empty()) {
    return outcome(file, LoadStatus::Loaded, fmt::format("loaded; types served already elsewhere: {}", fmt::join(taken, ", ")));
  }
  return outcome(file, LoadStatus::Loaded, fmt::format("loaded {} {}", loaded->name(), loaded->version()));
}

std::vector<LoadOutcome> PluginRegistry::scan(const std::vector<std::filesystem::path>& dirs) { return scan_dirs(dirs, {}); }

std::vector<LoadOutcome> PluginRegistry::scan_dirs(const std::vector<std::filesystem::path>& dirs,
                                                   const std::set<std::filesystem::path>& tried) const {
  std::vector<LoadOutcome> outcomes;
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    }
    if (ec) {
      outcomes.push_back(outcome(dir, LoadStatus::NotFound, fmt::format("cannot read plugin directory: {}", ec.message())));
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (!tried.contains(file)) outcomes.push_back(load_file(file));
    }
  }
  return outcomes;
}

void PluginRegistry::load_on_demand(std::vector<std::filesystem::path> dirs, Report report) {
  const std::lock_guard lock(on_demand_mutex_);
  on_demand_dirs_ = std::move(dirs);
  report_ = std::move(report);
  on_demand_ = true;
}

std::shared_ptr<const LoadedPlugin> PluginRegistry::loaded(std::string_view type) const {
  const std::lock_guard lock(mutex_);
  const auto it = by_type_.find(type);
  return it != by_type_.end() ? it->second : nullptr;
}

std::shared_ptr<const LoadedPlugin> PluginRegistry::find(std::string_view type) const {
  if (!exec::is_plain_plugin_name(type)) return nullptr;  // no plugin serves a path
  if (auto plugin = loaded(type)) return plugin;
  if (!on_demand_) return nullptr;
  load_type(type);
  return loaded(type);
}

void PluginRegistry::load_type(std::string_view type) const {
  const std::lock_guard lock(on_demand_mutex_);
  if (scanned_ || loaded(type)) return;  // after the scan every file has had its chance
  const auto report = [this](const LoadOutcome& outcome) {
    if (report_) report_(outcome);
  };
  // find() let only a plain file name through: <dir>/<type>.so stays inside the plugin dir.
  std::set<std::filesystem::path> tried;  // reported already: the scan does not load them again
  {
    const auto name = std::string(type) + ".so";
    for (const auto& dir : on_demand_dirs_) {
      const auto file = dir / name;
      std::error_code ec;
      if (!std::filesystem::exists(file, ec)) continue;
      report(load_file(file));
      if (loaded(type)) return;
      tried.insert(file);
    }
  }
  scanned_ = true;
  for (const auto& outcome : scan_dirs(on_demand_dirs_, tried)) report(outcome);
}

std::vector<std::shared_ptr<const LoadedPlugin>> PluginRegistry::plugins() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const LoadedPlugin>> out;
  for (const auto& [file, plugin] : by_file_) out.push_back(plugin);
  return out;
}

}  // namespace plexus::invoke
