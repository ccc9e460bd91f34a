// A fake kube-apiserver for tests: real TLS on 127.0.0.1 (ephemeral port) with a PKI made at
// start, bearer-token and client-certificate auth, pods and NetworkAttachmentDefinitions in memory
// at the real paths with the real JSON shapes and status codes (metav1.Status bodies, 409 on a
// stale resourceVersion, resourceVersion bumped on every write), pods/status PUT and merge-PATCH,
// list and chunked watch, core/v1 Events created with POST (validated as the apiserver does),
// StatefulSet GET and plexus's cluster-scoped StickyClaims (create-if-absent POST with 409
// AlreadyExists, PUT and DELETE with resourceVersion preconditions, LIST by label selector). Tests
// can make it fail or stall the next requests (all, or those of one method and path), inject 410
// Gone into watches, and read back every request it received and every Event it stored. Each
// connection runs on its own thread;
// stop() (or the destructor) ends them all.
#pragma once

#include "test_pki.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace plexus::test {

struct RecordedRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;  // raw, without '?'
  std::string body;
  std::string content_type;
  std::string authorization;  // the Authorization header as sent
  std::string user;           // who the server authenticated (token's user or cert CN); empty = none
  int status = 0;             // what the server answered
};

class FakeApiServer {
 public:
  FakeApiServer();
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  void stop();

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const;  // https://127.0.0.1:PORT
  const std::filesystem::path& dir() const noexcept { return dir_; }  // PKI files, removed at end
  const CertificateAuthority& ca() const noexcept { return ca_; }
  std::filesystem::path ca_file() const { return dir_ / "ca.crt"; }

  // Auth: each accepted token maps to a user name; client certificates signed by ca() are
  // accepted with their CN as the user. Anything else gets 401.
  void accept_token(const std::string& token, const std::string& user = "token-user");
  void revoke_token(const std::string& token);

  // --- the store (each write bumps the global resourceVersion and feeds watches) ---
  // Creates or replaces; fills uid, creationTimestamp, kind/apiVersion. Returns the stored pod.
  nlohmann::json put_pod(nlohmann::json pod);
  void delete_pod(const std::string& ns, const std::string& name);
  std::optional<nlohmann::json> pod(const std::string& ns, const std::string& name) const;
  nlohmann::json put_network_attachment_definition(nlohmann::json nad);
  // apps/v1 StatefulSets (GET only over HTTP). Returns the stored object (uid filled).
  nlohmann::json put_statefulset(nlohmann::json statefulset);
  void delete_statefulset(const std::string& ns, const std::string& name);
  // The StickyClaims as stored, by name.
  std::map<std::string, nlohmann::json> sticky_claims() const;
  void delete_sticky_claim(const std::string& name);
  std::string resource_version() const;

  // --- faults ---
  // The next `count` requests are answered `status` with a metav1.Status body.
  void fail_next(int count, int status, const std::string& message = "injected failure");
  // The next `count` requests are closed without an answer after the request was read.
  void reset_next(int count);
  // The next `count` requests are answered only after `delay` (stop() cuts the wait short).
  void delay_next(int count, std::chrono::milliseconds delay);
  // By path prefix, able to drop the connection and to let the first ones through: after `after`
  // of them went through, the next `count` requests whose method is `method` (empty = any) and whose
  // path starts with `path_prefix` are answered `status` (0 = closed without an answer, as an
  // unreachable server).
  void fail_under_path(const std::string& method, const std::string& path_prefix, int count, int status, int after = 0);
  // Before each of the next `count` pod writes, `writer` changes the stored pod as a concurrent
  // client would (and bumps its resourceVersion), so the write in flight is stale: a real 409.
  void interpose_writer(int count, std::function<void(nlohmann::json& pod)> writer);
  // Watch events older than the current resourceVersion are forgotten: a watch starting there
  // gets an ERROR event with a 410 Expired Status, as after etcd compaction.
  void compact();
  // Only requests of `method` whose path ends with `path_suffix` (e.g. "/events", "/status"):
  // the next `count` of them are answered `status`, or answered only after `delay`.
  void fail_next_matching(const std::string& method, const std::string& path_suffix, int count, int status,
                          const std::string& message = "injected failure");
  void delay_next_matching(const std::string& method, const std::string& path_suffix, int count,
                           std::chrono::milliseconds delay);
  // Every open watch gets an ERROR 410 event and ends.
  void expire_open_watches();
  // Every open watch ends cleanly (as at timeoutSeconds).
  void close_open_watches();
  int open_watches() const;

  // --- core/v1 Events stored by POST /api/v1/namespaces/NS/events, in arrival order ---
  std::vector<nlohmann::json> kube_events() const;

  // How many TCP connections it accepted so far (a client reusing connections opens few).
  int accepted_connections() const noexcept { return accepted_connections_.load(); }

  // --- the request log ---
  std::vector<RecordedRequest> requests() const;
  void clear_requests();

 private:
  struct Impl;
  struct TlsStream;
  struct HttpReply;

  void accept_loop();
  void serve_stream(TlsStream& tls_stream);
  void stream_watch(TlsStream& tls_stream, RecordedRequest recorded,
                    const std::map<std::string, std::string>& query);
  HttpReply route(const RecordedRequest& request);
  HttpReply route_sticky_claims(const RecordedRequest& request, const std::vector<std::string>& path);
  std::uint64_t bump_locked();
  void record_event_locked(const std::string& type, const nlohmann::json& object);

  std::filesystem::path dir_;
  CertificateAuthority ca_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_connections_{0};
  std::map<std::string, std::string> tokens_;
  std::map<std::string, nlohmann::json> pods_;  // key "ns/name"
  std::map<std::string, nlohmann::json> nads_;
  std::map<std::string, nlohmann::json> statefulsets_;  // key "ns/name"
  std::map<std::string, nlohmann::json> sticky_claims_;  // key name (cluster-scoped)
  struct MatchedFault {
    std::string method;
    std::string path_prefix;
    int count = 0;
    int status = 0;
    int after = 0;
  };
  std::vector<MatchedFault> matched_faults_;
  std::uint64_t resource_version_ = 1000;
  std::uint64_t compacted_before_ = 0;
  std::vector<std::pair<std::uint64_t, nlohmann::json>> events_;  // (rv, {"type","object"})
  std::uint64_t expire_generation_ = 0;
  std::uint64_t close_generation_ = 0;
  int open_watches_ = 0;
  int fail_count_ = 0;
  int fail_status_ = 0;
  std::string fail_message_;
  int reset_count_ = 0;
  int delay_count_ = 0;
  std::chrono::milliseconds delay_{0};
  int interpose_count_ = 0;
  std::function<void(nlohmann::json&)> interposer_;
  struct MatchingFault {
    std::string method;
    std::string path_suffix;
    int remaining = 0;
    int status = 0;  // 0: delay only
    std::string message;
    std::chrono::milliseconds delay{0};
  };
  std::vector<MatchingFault> matching_faults_;
  std::vector<nlohmann::json> kube_events_;
  std::vector<RecordedRequest> log_;
  std::thread acceptor_thread_;
  std::vector<std::thread> connection_threads_;
  std::set<int> open_fds_;
};

}  // namespace plexus::test
