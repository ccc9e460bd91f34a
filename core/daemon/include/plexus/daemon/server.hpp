// plexusd's core: the meta-plugin engine served over HTTP/1.1 on a unix socket, with every
// in-process plugin loaded once for the daemon's life.
//
// Each accepted connection is served by a connection worker thread (at most maxConnections at
// once; more wait in the listen backlog), so calls for different containers run in parallel,
// while calls for the same container ID are serialized by a per-container mutex. Workers are
// kept after a call and reused (a new thread can take ~2 ms to first run on a small VM, more than
// a whole ADD); one idle for a minute ends. shutdown() stops accepting (connections
// already queued are still served), lets every call in flight finish and answer, then removes the
// socket. It never touches any CNI config file.
#pragma once

#include <plexus/cni/protocol.hpp>
#include <plexus/daemon/claim_sweeper.hpp>
#include <plexus/daemon/config.hpp>
#include <plexus/daemon/container_locks.hpp>
#include <plexus/daemon/metrics.hpp>
#include <plexus/daemon/pod_cache.hpp>
#include <plexus/invoke/registry.hpp>
#include <plexus/k8s/api_client.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/events.hpp>
#include <plexus/meta/network_source.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

namespace prometheus {
class Exposer;
}

namespace plexus::daemon {

// The daemon's log: its own messages and every call's engine and plugin messages, leveled.
using DaemonLog = std::function<void(meta::LogLevel, std::string_view)>;

class Daemon {
 public:
  explicit Daemon(DaemonConfig config, DaemonLog log = {});
  ~Daemon();  // shutdown()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Preloads the plugins, connects the network source (and starts the pod cache), opens the
  // metrics listener, creates the socket (directory 0700, socket 0600) and starts accepting.
  // Throws std::runtime_error when any of it fails, or when another daemon answers on the socket.
  void start();
  // Idempotent; safe to call from any thread but a connection's.
  void shutdown();
  bool shutting_down() const { return stopping_.load(); }

  // The whole CNI call as an exec'd plexus would run it, for the socket and for tests.
  cni::Reply handle_cni(cni::Request request);
  // Hot-plug of one network into (attach) or out of (detach) a running pod; serialized with the
  // container's CNI calls, so a racing DEL runs wholly before or after it.
  cni::Reply handle_hotplug(cni::Request request, const std::string& network, bool attach);

  const DaemonConfig& config() const { return config_; }
  DaemonMetrics& metrics() { return metrics_; }
  const PodCache* pod_cache() const { return pod_cache_.get(); }
  const invoke::PluginRegistry& registry() const { return registry_; }
  const ContainerLocks& container_locks() const { return locks_; }
  // The pods' Events on their way to the API server; null without one.
  const meta::EventQueue* event_queue() const { return events_.get(); }
  // The sticky claims' sweep; null without an API server or with stickyClaimSweepSeconds 0.
  const ClaimSweeper* claim_sweeper() const { return claim_sweeper_.get(); }
  int metrics_port() const;  // 0 without a metrics listener
  int calls_in_flight() const;
  int connection_workers() const;  // worker threads alive, busy or idle
  int idle_connection_workers() const;  // of those, waiting for a connection

 private:
  struct Listener;
  void open_source();
  void open_socket();
  void accept_loop();
  void hand_over(int fd);
  void connection_worker();
  void serve_connection(int fd);
  void log(meta::LogLevel level, std::string_view message) const;
  // One engine call with this daemon's registry, source, events and log, counted as `command`.
  cni::Reply run_engine(const cni::Request& request, const std::string& command,
                        const std::function<cni::Reply(meta::MetaPlugin&)>& call);

  DaemonConfig config_;
  DaemonLog log_;
  DaemonMetrics metrics_;
  invoke::PluginRegistry registry_;
  ContainerLocks locks_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<PodCache> pod_cache_;
  std::unique_ptr<meta::NetworkSource> source_;
  // Sent from their own thread so no call waits on them; after api_, so it goes first.
  std::unique_ptr<meta::EventQueue> events_;
  std::unique_ptr<ClaimSweeper> claim_sweeper_;  // after api_, so it stops first
  // Hot-plug from the pod watch: the last successful ADD of each pod ("ns/name"), the pods whose
  // networks annotation changed, and the thread that brings them in line.
  void hotplug_worker(const std::stop_token& stop);
  std::mutex hotplug_mutex_;
  std::condition_variable_any hotplug_changed_;
  std::map<std::string, cni::Request> attached_pods_;
  std::set<std::string> hotplug_pending_;
  std::jthread hotplug_thread_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<Listener> listener_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  mutable std::mutex mutex_;
  std::condition_variable connections_changed_;
  std::condition_variable connection_queued_;
  int active_connections_ = 0;    // accepted and not yet answered (queued or being served)
  std::deque<int> pending_;       // accepted sockets no worker has taken yet
  std::size_t idle_workers_ = 0;  // workers waiting for a socket
  int workers_ = 0;               // worker threads alive
  bool accept_done_ = false;      // the accept loop has queued its last socket
  std::atomic<int> calls_in_flight_{0};
  std::thread accept_thread_;
  std::once_flag shutdown_once_;
};

// plexusd's main: `plexusd [--config FILE]`. Refuses to run unless root; serves until SIGTERM or
// SIGINT, then shuts down gracefully.
int plexusd_main(int argc, char** argv);

}  // namespace plexus::daemon
