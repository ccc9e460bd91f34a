// /proc/sys reads and writes. /proc/sys/net belongs to the namespace of the task that opens the
// file, so call these inside in_netns() to act on a container.
#pragma once

#include <string>
#include <string_view>

namespace plexus::net {

// `key` is relative to /proc/sys with slashes ("net/ipv4/conf/eth0/arp_notify"): slashes, not
// dots, so interface names with dots (eth0.100) stay intact. Throws std::system_error (errno)
// naming the file.
std::string read_sysctl(std::string_view key);   // trailing newline removed
void write_sysctl(std::string_view key, std::string_view value);

}  // namespace plexus::net
