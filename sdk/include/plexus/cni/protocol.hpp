// The CNI exec protocol as values: what a runtime hands a plugin (environment + stdin) and what
// it gets back (exit code + stdout). In-process and exec'd plugins share exactly this contract.
#pragma once

#include <chrono>
#include <string>

namespace plexus::cni {

struct Request {
  std::string command;        // CNI_COMMAND
  std::string container_id;   // CNI_CONTAINERID
  std::string netns;          // CNI_NETNS
  std::string ifname;         // CNI_IFNAME
  std::string args;           // CNI_ARGS
  std::string path;           // CNI_PATH
  std::string stdin_data;     // the network configuration
  std::string netns_override; // CNI_NETNS_OVERRIDE
  // When the caller stops waiting for the answer (the epoch, i.e. zero, when it set none). Not
  // part of the exec protocol: an exec'd plugin is killed at its timeout or this, what comes first.
  std::chrono::steady_clock::time_point deadline{};
};

struct Reply {
  int exit_code = 0;
  std::string stdout_data; // a result, or a CNI error JSON when exit_code != 0
  std::string stderr_data; // free-form diagnostics
};

}  // namespace plexus::cni
