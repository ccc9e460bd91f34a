// plexusd's daemon-config.json: parse_daemon_config. Documented failure: std::invalid_argument
// naming the key.
#include "fuzz_support.hpp"

#include <plexus/daemon/config.hpp>

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  try {
    const daemon::DaemonConfig config = daemon::parse_daemon_config(fuzz::as_text(data, size));
    fuzz::require(!config.socket_dir.empty(), "accepted an empty socketDir");
    fuzz::require(config.max_connections >= 1, "accepted maxConnections < 1");
    fuzz::require(config.watch_backoff_min.count() >= 1 && config.watch_backoff_max.count() >= 1,
                  "accepted a watch backoff < 1 ms");
    (void)config.socket_path();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
