// The one log setup of plexus and plexusd (core/log): multus's line format, logLevel's threshold,
// logFile append-only and 0600, logToStderr, and a logFile that cannot be opened.
#include "temp_dir.hpp"

#include <plexus/log/logger.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace plexus::log {
namespace {

using meta::LogLevel;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  EXPECT_EQ(::stat(file.c_str(), &info), 0) << file;
  return info.st_mode & 07777U;
}

TEST(Logger, LogFileGetsTimestampedLinesUpToTheLevelAndIsCreated0600) {
  test::TempDir dir;
  const auto file = dir.path() / "plexus.log";
  std::ostringstream err;
  Logger logger({file.string(), LogLevel::Verbose, false}, err);
  logger.log(LogLevel::Error, "first");
  logger.log(LogLevel::Verbose, "second");
  logger.log(LogLevel::Debug, "not at verbose");

  const auto lines = lines_of(file);
  ASSERT_EQ(lines.size(), 2U);
  const std::regex stamped(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(error|verbose)\] (first|second)$)");
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, stamped)) << line;
  EXPECT_THAT(lines[0], HasSubstr("[error] first"));
  EXPECT_THAT(lines[1], HasSubstr("[verbose] second"));
  EXPECT_EQ(mode_of(file), 0600U);
  EXPECT_EQ(err.str(), "") << "logToStderr false";
}

TEST(Logger, ExistingLogFileIsAppendedToAndKeepsItsMode) {
  test::TempDir dir;
  const auto file = dir.write("plexus.log", "an earlier line\n");
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  std::ostringstream err;
  Logger logger({file.string(), LogLevel::Error, false}, err);
  logger.log(LogLevel::Error, "appended");
  const auto lines = lines_of(file);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], "an earlier line");
  EXPECT_THAT(lines[1], HasSubstr("[error] appended"));
  EXPECT_EQ(mode_of(file), 0640U) << "an admin's mode is left alone";
}

TEST(Logger, LogToStderrWritesTheSameLinesThere) {
  test::TempDir dir;
  const auto file = dir.path() / "plexus.log";
  std::ostringstream err;
  Logger logger({file.string(), LogLevel::Debug, true}, err);
  logger.log(LogLevel::Debug, "to both");
  ASSERT_EQ(lines_of(file).size(), 1U);
  EXPECT_EQ(err.str(), lines_of(file)[0] + "\n");

  std::ostringstream only_stderr;
  Logger stderr_logger({"", LogLevel::Error, true}, only_stderr);
  stderr_logger.log(LogLevel::Error, "no file");
  stderr_logger.log(LogLevel::Verbose, "filtered");
  EXPECT_THAT(only_stderr.str(), HasSubstr("[error] no file"));
  EXPECT_THAT(only_stderr.str(), Not(HasSubstr("filtered")));
}

TEST(Logger, PanicLevelOpensNoFileForAnError) {
  test::TempDir dir;
  const auto file = dir.path() / "plexus.log";
  std::ostringstream err;
  Logger logger({file.string(), LogLevel::Panic, true}, err);
  logger.log(LogLevel::Error, "below panic's threshold");
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_EQ(err.str(), "");
  logger.log(LogLevel::Panic, "panic always shows");
  EXPECT_EQ(lines_of(file).size(), 1U);
}

TEST(Logger, UnopenableLogFileIsReportedOnStderrOnceAndNeverThrows) {
  test::TempDir dir;
  const auto file = dir.path() / "no-such-dir" / "plexus.log";
  std::ostringstream err;
  Logger logger({file.string(), LogLevel::Verbose, false}, err);
  EXPECT_NO_THROW(logger.log(LogLevel::Error, "one"));
  EXPECT_NO_THROW(logger.log(LogLevel::Error, "two"));
  const auto report = err.str();
  EXPECT_THAT(report, HasSubstr("cannot open logFile " + file.string()));
  EXPECT_EQ(report.find("cannot open"), report.rfind("cannot open")) << report;
  EXPECT_THAT(report, Not(HasSubstr("[error] one"))) << "logToStderr false: only the report";
}

TEST(Logger, PluginAndEngineAdaptersPrefixAndMapTheAbiLevels) {
  std::ostringstream err;
  Logger logger({"", LogLevel::Verbose, true}, err);
  const auto plugin = logger.plugin_log("[ctr-1] ");
  plugin(PLEXUS_LOG_INFO, "macvlan up");
  plugin(PLEXUS_LOG_WARN, "odd");
  plugin(PLEXUS_LOG_DEBUG, "chatty");
  logger.engine_log("[ctr-1] ")(LogLevel::Verbose, "Add net1 [10.0.0.2/24] from default/n");
  const auto text = err.str();
  EXPECT_THAT(text, HasSubstr("[verbose] [ctr-1] plugin: macvlan up"));
  EXPECT_THAT(text, HasSubstr("[error] [ctr-1] plugin: odd")) << "a warning shows with errors, as multus's Warningf";
  EXPECT_THAT(text, Not(HasSubstr("chatty")));
  EXPECT_THAT(text, HasSubstr("[verbose] [ctr-1] Add net1 [10.0.0.2/24] from default/n"));
}

}  // namespace
}  // namespace plexus::log
