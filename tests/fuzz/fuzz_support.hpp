// What every fuzz target shares: the input as text, and a private scratch directory for the
// parsers whose real entry point reads a file.
#pragma once

#include <plexus/cni/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace plexus::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property the parser promises that did not hold: a finding, reported like a crash.
[[noreturn]] inline void finding(std::string_view what) {
  std::fprintf(stderr, "fuzz finding: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline void require(bool holds, std::string_view what) {
  if (!holds) finding(what);
}

// A parser's documented failure: one of `codes`, and printable as the CNI error JSON a plugin
// prints (to_json() must not throw, whatever bytes the message quotes).
inline void expect_cni_error(const cni::Error& error, std::initializer_list<int> codes) {
  bool known = false;
  for (const int code : codes) known = known || error.code() == code;
  if (!known) finding(std::string("unexpected CNI error code ") + std::to_string(error.code()) + ": " + error.what());
  (void)error.to_json();
}

// One directory per fuzzer process under $TMPDIR, removed at exit; the target rewrites its file
// for every input. (Two fuzzers never share it: the name carries the pid.)
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
           ("plexus-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return dir_; }

  std::filesystem::path write(const std::string& name, std::string_view bytes) const {
    const auto file = dir_ / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace plexus::fuzz
