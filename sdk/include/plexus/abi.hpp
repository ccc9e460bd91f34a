// C++ <-> C ABI conversions for Request and Reply. Header-only so both a plugin and the host use
// the same code; nothing here allocates across the boundary.
#pragma once

#include <plexus/abi.h>
#include <plexus/cni/protocol.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace plexus::abi {

inline plexus_str view(std::string_view s) { return plexus_str{s.data(), s.size()}; }

inline std::string copy(plexus_str s) { return s.ptr ? std::string(s.ptr, s.len) : std::string(); }

// A field appended after struct_size reads as absent.
#define PLEXUS_ABI_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof((ptr)->field))

// steady_clock is CLOCK_MONOTONIC on Linux (libstdc++), so its epoch is the ABI's.
inline std::uint64_t to_monotonic_ns(std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point{}) return 0;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 1;  // 0 would read as "no deadline"
}

inline std::chrono::steady_clock::time_point from_monotonic_ns(std::uint64_t ns) {
  if (ns == 0) return {};
  const auto capped = std::min<std::uint64_t>(ns, static_cast<std::uint64_t>(INT64_MAX));
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(capped)));
}

// Borrowed view of a Request: valid while `request` lives and is not modified.
inline plexus_request_v1 to_abi(const cni::Request& request) {
  plexus_request_v1 out{};
  out.struct_size = sizeof(out);
  out.command = view(request.command);
  out.container_id = view(request.container_id);
  out.netns = view(request.netns);
  out.ifname = view(request.ifname);
  out.args = view(request.args);
  out.path = view(request.path);
  out.stdin_data = view(request.stdin_data);
  out.netns_override = view(request.netns_override);
  out.deadline_monotonic_ns = to_monotonic_ns(request.deadline);
  return out;
}

inline cni::Request from_abi(const plexus_request_v1& in) {
  cni::Request out;
  out.command = copy(in.command);
  out.container_id = copy(in.container_id);
  out.netns = copy(in.netns);
  out.ifname = copy(in.ifname);
  out.args = copy(in.args);
  out.path = copy(in.path);
  out.stdin_data = copy(in.stdin_data);
  if (PLEXUS_ABI_HAS_FIELD(&in, plexus_request_v1, netns_override)) {
    out.netns_override = copy(in.netns_override);
  }
  if (PLEXUS_ABI_HAS_FIELD(&in, plexus_request_v1, deadline_monotonic_ns)) {
    out.deadline = from_monotonic_ns(in.deadline_monotonic_ns);
  }
  return out;
}

namespace detail {
inline char* malloc_copy(const std::string& s) {
  if (s.empty()) return nullptr;
  auto* p = static_cast<char*>(std::malloc(s.size()));
  if (p != nullptr) std::memcpy(p, s.data(), s.size());
  return p;
}
extern "C" inline void release_malloced(plexus_reply_v1* reply) {
  std::free(reply->stdout_data);
  std::free(reply->stderr_data);
  reply->stdout_data = nullptr;
  reply->stderr_data = nullptr;
  reply->stdout_len = reply->stderr_len = 0;
}
}  // namespace detail

// Fills an ABI reply with malloc'd copies; the reply's release frees them (inside this module).
// Returns false when memory ran out (reply then carries the exit code only).
inline bool fill(plexus_reply_v1* out, const cni::Reply& reply) {
  *out = plexus_reply_v1{};
  out->struct_size = sizeof(*out);
  out->exit_code = reply.exit_code;
  out->release = &detail::release_malloced;
  out->stdout_data = detail::malloc_copy(reply.stdout_data);
  out->stderr_data = detail::malloc_copy(reply.stderr_data);
  if ((out->stdout_data == nullptr && !reply.stdout_data.empty()) ||
      (out->stderr_data == nullptr && !reply.stderr_data.empty())) {
    detail::release_malloced(out);
    return false;
  }
  out->stdout_len = reply.stdout_data.size();
  out->stderr_len = reply.stderr_data.size();
  return true;
}

// Copies an ABI reply into a Reply and releases the original through its own release function.
inline cni::Reply take(plexus_reply_v1& in) {
  cni::Reply out;
  out.exit_code = in.exit_code;
  if (in.stdout_data != nullptr) out.stdout_data.assign(in.stdout_data, in.stdout_len);
  if (PLEXUS_ABI_HAS_FIELD(&in, plexus_reply_v1, stderr_len) && in.stderr_data != nullptr) {
    out.stderr_data.assign(in.stderr_data, in.stderr_len);
  }
  if (in.release != nullptr) in.release(&in);
  return out;
}

}  // namespace plexus::abi
