// The log of one plexus or plexusd process, as multus's logging package writes it: lines of
// "<UTC RFC 3339 time> [<level>] <message>" to logFile and/or stderr, for every message at or
// under logLevel (panic < error < verbose < debug).
//
// logFile is opened append-only, created 0600 when missing (an existing file keeps the mode its
// admin gave it); each line is one write(2), so thin plexus processes running side by side never
// tear each other's lines. Nothing is opened before the first message that passes the threshold, so
// a call that logs nothing costs nothing. A logFile that cannot be opened never fails the call (as
// with multus): it is reported once on stderr, whatever logToStderr says, and left out.
// Rotation (multus's logOptions) is left to logrotate: see README.
#pragma once

#include <plexus/abi.h>
#include <plexus/invoke/router.hpp>
#include <plexus/meta/config.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

namespace plexus::log {

struct LogSettings {
  std::string file;  // empty = no file
  meta::LogLevel level = meta::LogLevel::Panic;
  bool to_stderr = true;
};

// The meta config's logFile, logLevel and logToStderr.
LogSettings settings_of(const meta::MetaConfig& config);

// The ABI's levels on multus's scale: warnings show with errors, as multus's Warningf does.
meta::LogLevel from_plugin_level(plexus_log_level level);

class Logger {
 public:
  // `err` is the process's stderr (injected for tests); it must outlive the Logger.
  Logger(LogSettings settings, std::ostream& err);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  const LogSettings& settings() const { return settings_; }
  bool enabled(meta::LogLevel level) const;
  // Thread-safe. A line that cannot be written is dropped: logging never fails a call.
  void log(meta::LogLevel level, std::string_view message);

  // The same Logger as the engine's log (EngineOptions::log) and as in-process plugins' host log
  // (the Router's PluginLog), each line prefixed with `prefix` (e.g. the container ID).
  std::function<void(meta::LogLevel, std::string_view)> engine_log(std::string prefix = {});
  invoke::PluginLog plugin_log(std::string prefix = {});

 private:
  struct Sinks;
  Sinks& sinks();

  LogSettings settings_;
  std::ostream& err_;
  std::once_flag opened_;
  std::unique_ptr<Sinks> sinks_;
};

}  // namespace plexus::log
