// Helpers for deploy_tests: throwaway directories, files, and running the built plexus.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace plexus::deploy_test {

// A fresh directory under /tmp named after the test and the pid, removed at the end.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& file, const std::string& text);
std::string read_text(const std::filesystem::path& file);

// Polls `done` every 20 ms until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// A child process started with posix_spawn; killed and reaped if still running at destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
        const std::filesystem::path& output_file);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();
  pid_t pid() const { return pid_; }
  // Waits for the exit; returns the exit code, or 128+signal.
  int wait();

 private:
  pid_t pid_ = -1;
};

// Runs to completion; returns the exit code and leaves stdout+stderr in `output`.
int run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env, std::string& output);

// One CNI call the way kubelet makes it: `binary` with only the CNI_* variables in `cni_env` (none
// inherited from this process), `stdin_bytes` on its stdin; stdout and stderr kept apart.
struct CniOutcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CniOutcome run_cni(const std::filesystem::path& binary, const std::map<std::string, std::string>& cni_env,
                   const std::string& stdin_bytes, const std::filesystem::path& scratch_dir);

// A fake service-account mount: token, ca.crt, namespace.
void write_service_account(const std::filesystem::path& dir, const std::string& token, const std::string& ca_pem,
                           const std::string& account_namespace = "kube-system");

inline constexpr const char* kSampleCa = "-----BEGIN CERTIFICATE-----\nMIIBfakeCAforplexustests\n-----END CERTIFICATE-----\n";

}  // namespace plexus::deploy_test
