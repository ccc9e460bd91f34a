/*
 * plexus plugin ABI, version 1: the only thing that crosses a shared-object boundary.
 *
 * Version policy
 * - PLEXUS_ABI_MAJOR changes when anything already published changes meaning, size or order.
 *   The loader refuses a plugin of another major.
 * - PLEXUS_ABI_MINOR grows when a field is appended to a struct. Fields are only ever appended;
 *   every struct starts with struct_size so each side reads only the fields the other side has.
 *   A field the other side does not have reads as absent (zero / null).
 * - Pure C: no C++ type, exception or allocation crosses the boundary. Strings are {ptr,len}
 *   views (not NUL-terminated unless said so) or NUL-terminated `const char*` where named *_cstr.
 *
 * Ownership
 * - `borrowed`: valid only for the duration of the call that received it; never freed by the
 *   receiver. Copy what you keep.
 * - A reply's bytes belong to whoever filled the reply; the receiver hands them back by calling
 *   the reply's own `release` function exactly once (it may be null when there is nothing to free).
 * - The plugin info struct and everything it points to are static: valid while the library is
 *   loaded.
 *
 * Entry point
 * A plugin exports exactly one symbol, PLEXUS_PLUGIN_ENTRY_NAME, in the "boostdll" section
 * (Boost.DLL's BOOST_DLL_ALIAS does that; plexus/plugin.hpp's PLEXUS_PLUGIN does it for you).
 * The symbol is a pointer to a function of type plexus_plugin_entry_fn. Calling it must have no
 * side effect beyond returning the static info struct. From C (or any language that can emit a C
 * symbol), write PLEXUS_PLUGIN_ENTRY(my_entry_function) once at file scope.
 *
 * Deadlines (minor 1)
 * A request carries deadline_monotonic_ns: the CLOCK_MONOTONIC time (nanoseconds) by which the
 * host stops waiting for the answer; 0 means none given. The host runs every call on a thread of
 * its own: when the deadline passes it answers the caller with code 11 and abandons the call
 * (the plugin's later reply is released and dropped; host->invoke and host->log then refuse).
 * A plugin should pass the deadline on to what it runs (the SDK does) and may give up early.
 * A plugin built against minor 0 never sees the field; the host still enforces the deadline.
 */
#ifndef PLEXUS_ABI_H
#define PLEXUS_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLEXUS_ABI_MAJOR 1
#define PLEXUS_ABI_MINOR 1
#define PLEXUS_PLUGIN_ENTRY_NAME "plexus_plugin_entry"

/* A borrowed byte range. ptr may be null when len is 0. */
typedef struct plexus_str {
  const char* ptr;
  size_t len;
} plexus_str;

/* One CNI call: exactly the exec protocol's inputs (the CNI_* environment and stdin). */
typedef struct plexus_request_v1 {
  size_t struct_size;
  plexus_str command;      /* CNI_COMMAND: ADD, DEL, CHECK, STATUS, GC, VERSION */
  plexus_str container_id; /* CNI_CONTAINERID */
  plexus_str netns;        /* CNI_NETNS */
  plexus_str ifname;       /* CNI_IFNAME */
  plexus_str args;         /* CNI_ARGS */
  plexus_str path;         /* CNI_PATH */
  plexus_str stdin_data;   /* the network configuration bytes */
  plexus_str netns_override; /* CNI_NETNS_OVERRIDE */
  uint64_t deadline_monotonic_ns; /* minor 1: CLOCK_MONOTONIC ns by which to answer; 0 = none */
} plexus_request_v1;

/* The answer to one call: an exit code and the bytes the plugin would print to stdout (a result,
 * or a CNI error JSON when exit_code is not 0), plus free-form diagnostics (stderr). Filled by the
 * callee; released by calling release(reply) once. */
typedef struct plexus_reply_v1 {
  size_t struct_size;
  int32_t exit_code;
  char* stdout_data; /* owned by the filler */
  size_t stdout_len;
  char* stderr_data; /* owned by the filler; may be null */
  size_t stderr_len;
  void (*release)(struct plexus_reply_v1* reply); /* frees stdout_data/stderr_data; may be null */
} plexus_reply_v1;

typedef enum plexus_log_level {
  PLEXUS_LOG_ERROR = 0,
  PLEXUS_LOG_WARN = 1,
  PLEXUS_LOG_INFO = 2,
  PLEXUS_LOG_DEBUG = 3
} plexus_log_level;

/* What the host offers a plugin during one invoke. Borrowed; valid for that invoke only. */
typedef struct plexus_host_v1 {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  void* ctx; /* the host's; passed back verbatim */
  /* Runs another plugin (an IPAM plugin, a chained delegate) by CNI type, in-process when the
   * host has it loaded, else by exec from request->path. Returns 0 when reply was filled (look at
   * reply->exit_code), non-zero when it could not even be attempted (reply is then untouched). */
  int (*invoke)(void* ctx, plexus_str plugin_type, const plexus_request_v1* request,
                plexus_reply_v1* reply);
  void (*log)(void* ctx, plexus_log_level level, plexus_str message);
} plexus_host_v1;

/* What a plugin is. Static; valid while the library is loaded. */
typedef struct plexus_plugin_v1 {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* name_cstr;    /* e.g. "macvlan" */
  const char* version_cstr; /* the plugin's own version, e.g. "1.0.0" */
  const char* const* types; /* the CNI "type" values this plugin serves */
  size_t types_count;
  const char* const* spec_versions; /* CNI spec versions it supports, e.g. "0.3.1", "1.1.0" */
  size_t spec_versions_count;
  /* Runs one call. host may be null (no delegation, no logging). Always fills reply (a CNI error
   * JSON with exit_code 1 on failure) and returns 0; non-zero only if reply could not be filled. */
  int (*invoke)(const plexus_host_v1* host, const plexus_request_v1* request,
                plexus_reply_v1* reply);
} plexus_plugin_v1;

typedef const plexus_plugin_v1* (*plexus_plugin_entry_fn)(void);

/* Declares the entry from plain C: PLEXUS_PLUGIN_ENTRY(fn) where fn is a
 * `const plexus_plugin_v1* fn(void)`. It emits what Boost.DLL's BOOST_DLL_ALIAS does (a pointer to
 * fn named PLEXUS_PLUGIN_ENTRY_NAME in the "boostdll" section, so the loader finds it without
 * running the file's code) and fails to compile when fn has another type. GCC and Clang. */
#ifdef __cplusplus
#define PLEXUS_DETAIL_ENTRY_LINKAGE extern "C"
#define PLEXUS_DETAIL_ENTRY_TYPE_CHECK(fn)                                       \
  static_assert(sizeof(static_cast<plexus_plugin_entry_fn>(&(fn))) != 0,         \
                "PLEXUS_PLUGIN_ENTRY: " #fn " must be const plexus_plugin_v1* (void)")
#else
#define PLEXUS_DETAIL_ENTRY_LINKAGE
#define PLEXUS_DETAIL_ENTRY_TYPE_CHECK(fn)                                             \
  _Static_assert(__builtin_types_compatible_p(__typeof__(&(fn)), plexus_plugin_entry_fn), \
                 "PLEXUS_PLUGIN_ENTRY: " #fn " must be const plexus_plugin_v1* (void)")
#endif
#define PLEXUS_PLUGIN_ENTRY(fn)                                                          \
  PLEXUS_DETAIL_ENTRY_TYPE_CHECK(fn);                                                    \
  PLEXUS_DETAIL_ENTRY_LINKAGE __attribute__((section("boostdll"), used, visibility("default"))) \
  const void* plexus_plugin_entry = (const void*)&(fn)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PLEXUS_ABI_H */
