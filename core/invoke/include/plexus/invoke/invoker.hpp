// The one contract for running a delegate plugin: a CNI type and a request in, a reply out.
// In-process (a loaded .so) and exec (a binary on CNI_PATH) both honour it, byte for byte.
#pragma once

#include <plexus/cni/protocol.hpp>

#include <string_view>

namespace plexus::invoke {

class Invoker {
 public:
  virtual ~Invoker() = default;
  // Never throws for a plugin's own failure: that is a reply with exit code 1 and a CNI error.
  virtual cni::Reply invoke(std::string_view type, const cni::Request& request) = 0;
};

// A reply carrying a CNI error, for failures that happen before any plugin ran.
cni::Reply error_reply(int code, std::string_view msg);

}  // namespace plexus::invoke
