#include <plexus/log/logger.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace plexus::log {
namespace {

// multus's RFC 3339 stamp, in UTC and with milliseconds; the level is part of the message.
constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%eZ %v";

// logFile: an O_APPEND descriptor, one write(2) per formatted line.
class AppendFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AppendFileSink(int fd) : fd_(fd) {}
  ~AppendFileSink() override { ::close(fd_); }
  AppendFileSink(const AppendFileSink&) = delete;
  AppendFileSink& operator=(const AppendFileSink&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* data = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const auto written = ::write(fd_, data, left);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return;  // disk full, file gone: the line is dropped, the call goes on
      data += written;
      left -= static_cast<std::size_t>(written);
    }
  }
  void flush_() override {}

 private:
  int fd_;
};

spdlog::level::level_enum to_spdlog(meta::LogLevel level) {
  switch (level) {
    case meta::LogLevel::Panic: return spdlog::level::critical;
    case meta::LogLevel::Error: return spdlog::level::err;
    case meta::LogLevel::Verbose: return spdlog::level::info;
    case meta::LogLevel::Debug: return spdlog::level::debug;
  }
  return spdlog::level::info;
}

}  // namespace

struct Logger::Sinks {
  std::unique_ptr<spdlog::logger> logger;  // null: nowhere to write
};

LogSettings settings_of(const meta::MetaConfig& config) {
  return LogSettings{config.log_file, config.log_level, config.log_to_stderr};
}

meta::LogLevel from_plugin_level(plexus_log_level level) {
  switch (level) {
    case PLEXUS_LOG_ERROR:
    case PLEXUS_LOG_WARN: return meta::LogLevel::Error;
    case PLEXUS_LOG_INFO: return meta::LogLevel::Verbose;
    case PLEXUS_LOG_DEBUG: return meta::LogLevel::Debug;
  }
  return meta::LogLevel::Debug;
}

Logger::Logger(LogSettings settings, std::ostream& err) : settings_(std::move(settings)), err_(err) {}

Logger::~Logger() = default;

bool Logger::enabled(meta::LogLevel level) const {
  return level <= settings_.level && (settings_.to_stderr || !settings_.file.empty());
}

Logger::Sinks& Logger::sinks() {
  std::call_once(opened_, [this] {
    sinks_ = std::make_unique<Sinks>();
    std::vector<spdlog::sink_ptr> outputs;
    if (!settings_.file.empty()) {
      const int fd = ::open(settings_.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
      if (fd >= 0) {
        outputs.push_back(std::make_shared<AppendFileSink>(fd));
      } else {
        err_ << fmt::format("plexus: cannot open logFile {}: {}; logging to it is off\n", settings_.file, std::strerror(errno))
             << std::flush;
      }
    }
    if (settings_.to_stderr) outputs.push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(err_, /*force_flush=*/true));
    if (outputs.empty()) return;
    sinks_->logger = std::make_unique<spdlog::logger>("plexus", outputs.begin(), outputs.end());
    sinks_->logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));
    sinks_->logger->set_level(spdlog::level::trace);  // the threshold is multus's, applied in log()
  });
  return *sinks_;
}

void Logger::log(meta::LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  auto& open = sinks();
  if (!open.logger) return;
  const auto line = fmt::format("[{}] {}", meta::to_string(level), message);
  open.logger->log(to_spdlog(level), spdlog::string_view_t(line.data(), line.size()));
}

std::function<void(meta::LogLevel, std::string_view)> Logger::engine_log(std::string prefix) {
  return [this, prefix = std::move(prefix)](meta::LogLevel level, std::string_view message) {
    if (enabled(level)) log(level, fmt::format("{}{}", prefix, message));
  };
}

invoke::PluginLog Logger::plugin_log(std::string prefix) {
  return [this, prefix = std::move(prefix)](plexus_log_level level, std::string_view message) {
    const auto ours = from_plugin_level(level);
    if (enabled(ours)) log(ours, fmt::format("{}plugin: {}", prefix, message));
  };
}

}  // namespace plexus::log
