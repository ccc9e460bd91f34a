#include <plexus/daemon/timed_invoker.hpp>

#include <chrono>

namespace plexus::daemon {

cni::Reply TimedInvoker::invoke(std::string_view type, const cni::Request& request) {
  const auto start = std::chrono::steady_clock::now();
  auto reply = inner_.invoke(type, request);
  metrics_.observe_delegate(type, request.command,
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return reply;
}

}  // namespace plexus::daemon
