#include <plexus/daemon/server.hpp>

#include <plexus/cni/args.hpp>
#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>
#include <plexus/cni/version.hpp>
#include <plexus/daemon/client.hpp>
#include <plexus/daemon/timed_invoker.hpp>
#include <plexus/daemon/wire.hpp>
#include <plexus/invoke/exec_invoker.hpp>
#include <plexus/invoke/router.hpp>
#include <plexus/k8s/config.hpp>
#include <plexus/log/logger.hpp>
#include <plexus/meta/config.hpp>
#include <plexus/meta/engine.hpp>
#include <plexus/meta/manifest_store.hpp>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <prometheus/exposer.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

namespace plexus::daemon {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

// A file descriptor closed with its owner.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() { reset(); }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The manifest store keeps the last status in a plain map: one call at a time.
class SerializedSource final : public meta::NetworkSource {
 public:
  explicit SerializedSource(std::unique_ptr<meta::NetworkSource> inner) : inner_(std::move(inner)) {}
  std::optional<meta::NetworkAttachment> get_network_attachment(std::string_view ns, std::string_view name) override {
    const std::lock_guard lock(mutex_);
    return inner_->get_network_attachment(ns, name);
  }
  std::optional<meta::PodInfo> get_pod(std::string_view ns, std::string_view name, bool wait_for_pod) override {
    const std::lock_guard lock(mutex_);
    return inner_->get_pod(ns, name, wait_for_pod);
  }
  bool set_network_status(std::string_view ns, std::string_view name, std::string_view expected_uid,
                          std::string_view status_json_array) override {
    const std::lock_guard lock(mutex_);
    return inner_->set_network_status(ns, name, expected_uid, status_json_array);
  }
  meta::ClaimStore* claim_store() override {
    const std::lock_guard lock(mutex_);
    return inner_->claim_store();
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<meta::NetworkSource> inner_;
};

invoke::DelegateMode to_invoke(meta::DelegateMode mode) {
  switch (mode) {
    case meta::DelegateMode::InProcess: return invoke::DelegateMode::InProcess;
    case meta::DelegateMode::Exec: return invoke::DelegateMode::Exec;
    case meta::DelegateMode::Auto: break;
  }
  return invoke::DelegateMode::Auto;
}

bool needs_container_lock(const cni::Request& request) {
  return !request.container_id.empty() && request.command != "GC" && request.command != "STATUS";
}

bool in_cluster() { return std::getenv("KUBERNETES_SERVICE_HOST") != nullptr && std::getenv("KUBERNETES_SERVICE_PORT") != nullptr; }

}  // namespace

struct Daemon::Listener {
  OwnedFd listen_fd;
  OwnedFd wake_fd;
  std::filesystem::path path;
  asio::io_context io;  // only for the sockets' sync operations; never run
};

Daemon::Daemon(DaemonConfig config, DaemonLog log) : config_(std::move(config)), log_(std::move(log)) {}

Daemon::~Daemon() { shutdown(); }

void Daemon::log(meta::LogLevel level, std::string_view message) const {
  if (log_) log_(level, message);
}

int Daemon::connection_workers() const {
  const std::lock_guard lock(mutex_);
  return workers_;
}

int Daemon::idle_connection_workers() const {
  const std::lock_guard lock(mutex_);
  return static_cast<int>(idle_workers_);
}

int Daemon::metrics_port() const {
  if (!exposer_) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

int Daemon::calls_in_flight() const { return calls_in_flight_.load(); }

void Daemon::open_source() {
  if (!config_.manifest_store.empty()) {
    source_ = std::make_unique<SerializedSource>(std::make_unique<meta::ManifestStore>(config_.manifest_store));
    log(meta::LogLevel::Verbose, fmt::format("networks and pods from the manifest store {}", config_.manifest_store));
    return;
  }
  if (!config_.kubeconfig.empty()) {
    api_ = std::make_unique<k8s::ApiClient>(k8s::load_kubeconfig(config_.kubeconfig));
  } else if (in_cluster()) {
    api_ = std::make_unique<k8s::ApiClient>(k8s::load_in_cluster_config());
  } else {
    log(meta::LogLevel::Verbose, "no kubeconfig and not in a cluster: inline delegates and clusterNetwork files only");
    return;
  }
  if (!config_.node_name.empty()) {
    PodCache::Options options;
    options.backoff_min = config_.watch_backoff_min;
    options.backoff_max = config_.watch_backoff_max;
    options.log = [this](std::string_view message) { log(meta::LogLevel::Error, message); };
    options.on_networks_changed = [this](const nlohmann::json& pod) {
      const auto metadata = pod.value("metadata", nlohmann::json::object());
      const std::lock_guard lock(hotplug_mutex_);
      hotplug_pending_.insert(metadata.value("namespace", "default") + "/" + metadata.value("name", ""));
      hotplug_changed_.notify_all();
    };
    pod_cache_ = std::make_unique<PodCache>(*api_, config_.node_name, &metrics_, options);
    hotplug_thread_ = std::jthread([this](const std::stop_token& stop) { hotplug_worker(stop); });
    pod_cache_->start();
    // Like multus, wait a while for the first list, but serve (with GETs) if it is slow.
    if (!pod_cache_->wait_synced(std::chrono::seconds(20))) log(meta::LogLevel::Error, "pod cache not synced after 20 s; serving with pod GETs");
  } else {
    log(meta::LogLevel::Verbose, "no nodeName: no pod cache, every pod lookup is a GET");
  }
  source_ = std::make_unique<CachedPodSource>(*api_, pod_cache_.get(), metrics_);
  events_ = std::make_unique<meta::EventQueue>(
      meta::kubernetes_event_sender(*api_, config_.node_name, std::chrono::milliseconds(5000)),
      [this](std::string_view message) { log(meta::LogLevel::Error, message); });
  if (config_.sticky_claim_sweep.count() > 0) {
    claim_sweeper_ = std::make_unique<ClaimSweeper>(*api_, config_.sticky_claim_sweep,
                                                    [this](std::string_view message) { log(meta::LogLevel::Verbose, message); });
  }
}

void Daemon::open_socket() {
  auto listener = std::make_unique<Listener>();
  listener->path = config_.socket_path();
  std::error_code ec;
  std::filesystem::create_directories(config_.socket_dir, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", config_.socket_dir.string(), ec.message()));
  // The directory is the real gate: 0700 before the socket exists, so there is no window.
  if (::chmod(config_.socket_dir.c_str(), 0700) != 0) throw_errno("chmod " + config_.socket_dir.string());

  if (std::filesystem::exists(std::filesystem::symlink_status(listener->path))) {
    try {
      http_over_unix(listener->path, "GET", "/healthz");
      throw std::runtime_error(fmt::format("another plexusd is serving {}", listener->path.string()));
    } catch (const DaemonUnavailable&) {
      std::filesystem::remove(listener->path);  // a stale socket from a daemon that died
    }
  }

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto path = listener->path.string();
  if (path.size() >= sizeof(address.sun_path)) throw std::runtime_error("socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) throw_errno("bind " + path);
  if (::chmod(path.c_str(), 0600) != 0) {
    const int saved = errno;
    ::unlink(path.c_str());
    errno = saved;
    throw_errno("chmod " + path);
  }
  if (::listen(fd.get(), 512) != 0) {
    const int saved = errno;
    ::unlink(path.c_str());
    errno = saved;
    throw_errno("listen " + path);
  }
  OwnedFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) {
    ::unlink(path.c_str());
    throw_errno("eventfd");
  }
  listener->listen_fd = std::move(fd);
  listener->wake_fd = std::move(wake);
  listener_ = std::move(listener);
}

void Daemon::start() {
  for (const auto& outcome : registry_.scan(config_.plugin_dirs.empty() ? default_plugin_dirs() : config_.plugin_dirs)) {
    if (outcome.status != invoke::LoadStatus::Loaded) {
      log(meta::LogLevel::Verbose, outcome.message);
    } else {
      log(meta::LogLevel::Verbose, fmt::format("preloaded {}", outcome.file.string()));
    }
  }
  open_source();
  if (!config_.metrics_address.empty()) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(config_.metrics_address);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("cannot serve metrics on {}: {}", config_.metrics_address, e.what()));
    }
    exposer_->RegisterCollectable(metrics_.registry());
  }
  open_socket();
  started_ = true;
  accept_thread_ = std::thread([this] { accept_loop(); });
  log(meta::LogLevel::Verbose, fmt::format("plexusd serving {}{}", listener_->path.string(),
                  exposer_ ? fmt::format(", metrics on {} (port {})", config_.metrics_address, metrics_port()) : ""));
}

void Daemon::accept_loop() {
  auto& listener = *listener_;
  while (!stopping_) {
    {
      std::unique_lock lock(mutex_);
      connections_changed_.wait(lock, [this] { return active_connections_ < config_.max_connections || stopping_; });
    }
    if (stopping_) break;
    pollfd fds[2] = {{listener.listen_fd.get(), POLLIN, 0}, {listener.wake_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if ((fds[1].revents & POLLIN) != 0) break;
    const int fd = ::accept4(listener.listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) hand_over(fd);
  }

  // Stop accepting, but serve what already queued: a client whose connect succeeded gets an
  // answer. Then the socket goes, so new clients see at once that the daemon is down.
  ::fcntl(listener.listen_fd.get(), F_SETFL, ::fcntl(listener.listen_fd.get(), F_GETFL) | O_NONBLOCK);
  for (int fd = ::accept4(listener.listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC); fd >= 0;
       fd = ::accept4(listener.listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC)) {
    hand_over(fd);
  }
  ::unlink(listener.path.c_str());
  listener.listen_fd.reset();
  {
    const std::lock_guard lock(mutex_);
    accept_done_ = true;  // workers leave once the queue is empty
  }
  connection_queued_.notify_all();
}

// Queues an accepted socket for a worker, starting one when every worker is taken.
void Daemon::hand_over(int fd) {
  bool start_worker = false;
  {
    const std::lock_guard lock(mutex_);
    ++active_connections_;
    pending_.push_back(fd);
    if (idle_workers_ < pending_.size()) {
      ++workers_;
      start_worker = true;
    }
  }
  connection_queued_.notify_one();
  if (start_worker) std::thread([this] { connection_worker(); }).detach();
}

void Daemon::connection_worker() {
  constexpr auto kIdleLimit = std::chrono::seconds(60);
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_workers_;
    const bool woken = connection_queued_.wait_for(lock, kIdleLimit, [this] { return !pending_.empty() || accept_done_; });
    --idle_workers_;
    if (pending_.empty()) {
      if (!woken || accept_done_) break;  // idle for a minute, or shutting down with nothing queued
      continue;
    }
    const int fd = pending_.front();
    pending_.pop_front();
    lock.unlock();
    serve_connection(fd);
    lock.lock();
    --active_connections_;
    connections_changed_.notify_all();
  }
  // Notified under the lock: once shutdown() sees no worker left, this thread touches nothing more.
  --workers_;
  connections_changed_.notify_all();
}

namespace {

// A POST endpoint answering JSON: `run` turns the request body into the reply body; a body it
// cannot decode (std::invalid_argument) is a 400 with a CNI decoding error.
template <typename Run>
void answer_post(const http::request<http::string_body>& request, http::response<http::string_body>& response, Run&& run) {
  if (request.method() != http::verb::post) {
    response.result(http::status::method_not_allowed);
    response.body() = "POST only\n";
    return;
  }
  response.set(http::field::content_type, "application/json");
  try {
    response.body() = run(request.body());
  } catch (const std::invalid_argument& e) {
    response.result(http::status::bad_request);
    response.body() = cni::Error(cni::ErrorCode::DecodingFailure, fmt::format("bad request to plexusd: {}", e.what())).to_json();
  }
}

}  // namespace

void Daemon::serve_connection(int fd) {
  using Socket = asio::local::stream_protocol::socket;
  Socket socket(listener_->io);
  boost::system::error_code ec;
  socket.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  boost::beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.body_limit(16U * 1024U * 1024U);
  http::read(socket, buffer, parser, ec);
  if (ec) return;
  const auto& request = parser.get();

  http::response<http::string_body> response{http::status::ok, 11};
  response.set(http::field::server, "plexusd");
  response.keep_alive(false);
  const auto target = std::string(request.target());
  std::string handler = "other";
  const bool is_get_or_post = request.method() == http::verb::get || request.method() == http::verb::post;
  if ((target == "/healthz" || target == "/readyz") && is_get_or_post) {
    handler = target.substr(1);
    const bool ready = target == "/healthz" || !stopping_;
    response.result(ready ? http::status::ok : http::status::internal_server_error);
    response.set(http::field::content_type, "text/plain");
    response.body() = ready ? "ok\n" : "shutting down\n";
  } else if (target == kCniEndpoint) {
    handler = "cni";
    answer_post(request, response, [&](const std::string& body) { return encode_cni_reply(handle_cni(decode_cni_request(body))); });
  } else if (target == kAttachEndpoint || target == kDetachEndpoint) {
    handler = target.substr(1);
    answer_post(request, response, [&](const std::string& body) {
      auto hotplug = decode_hotplug_request(body);
      return encode_cni_reply(handle_hotplug(std::move(hotplug.request), hotplug.network, target == kAttachEndpoint));
    });
  } else {
    response.result(http::status::not_found);
    response.body() = "not found\n";
  }
  response.prepare_payload();
  metrics_.count_http_request(handler, static_cast<int>(response.result_int()));
  http::write(socket, response, ec);
  socket.shutdown(Socket::shutdown_both, ec);
}

cni::Reply Daemon::handle_cni(cni::Request request) {
  if (request.command == "VERSION") return cni::Reply{0, cni::version_reply(cni::all_versions()), {}};
  auto reply = run_engine(request, request.command, [&](meta::MetaPlugin& engine) { return engine.handle(request); });
  if (pod_cache_ && (request.command == "ADD" || request.command == "DEL")) {
    // What the pod watch's hot-plug needs later: the sandbox's request, as its ADD came.
    const auto args = cni::CniArgs::parse(request.args);
    const auto key = args.get("K8S_POD_NAMESPACE").value_or("") + "/" + args.get("K8S_POD_NAME").value_or("");
    const std::lock_guard lock(hotplug_mutex_);
    if (request.command == "DEL") {
      const auto it = attached_pods_.find(key);
      if (it != attached_pods_.end() && it->second.container_id == request.container_id) attached_pods_.erase(it);
    } else if (reply.exit_code == 0) {
      attached_pods_.insert_or_assign(key, request);
    }
  }
  return reply;
}

void Daemon::hotplug_worker(const std::stop_token& stop) {
  std::unique_lock lock(hotplug_mutex_);
  while (hotplug_changed_.wait(lock, stop, [this] { return !hotplug_pending_.empty(); })) {
    const auto key = *hotplug_pending_.begin();
    hotplug_pending_.erase(hotplug_pending_.begin());
    const auto attached = attached_pods_.find(key);
    if (attached == attached_pods_.end()) continue;  // not attached by this daemon (or deleted)
    const cni::Request request = attached->second;
    lock.unlock();
    const auto slash = key.find('/');
    if (const auto pod = pod_cache_->find(key.substr(0, slash), key.substr(slash + 1))) {
      const auto annotations = pod->value("metadata", nlohmann::json::object()).value("annotations", nlohmann::json::object());
      const auto networks = annotations.value(std::string(k8s::kNetworksAnnotation), std::string());
      log(meta::LogLevel::Verbose, fmt::format("pod {}: networks annotation changed, hot-plugging", key));
      run_engine(request, "HOTPLUG", [&](meta::MetaPlugin& engine) {
        engine.reconcile_networks(request, networks);
        return cni::Reply{};
      });
    }
    lock.lock();
  }
}

cni::Reply Daemon::handle_hotplug(cni::Request request, const std::string& network, bool attach) {
  if (request.container_id.empty()) {
    return {1, cni::Error(cni::ErrorCode::InvalidEnvironment, "hot-plug needs CNI_CONTAINERID").to_json(), {}};
  }
  return run_engine(request, attach ? "ATTACH" : "DETACH",
                    [&](meta::MetaPlugin& engine) { return engine.handle_hotplug(request, network, attach); });
}

cni::Reply Daemon::run_engine(const cni::Request& request, const std::string& command,
                              const std::function<cni::Reply(meta::MetaPlugin&)>& call) {
  const auto start = std::chrono::steady_clock::now();
  ++calls_in_flight_;
  std::optional<ContainerLocks::Guard> serialized;
  if (needs_container_lock(request)) serialized.emplace(locks_, request.container_id);

  cni::Reply reply;
  try {
    const auto config = meta::parse_meta_config(request.stdin_data);
    // Per call: the exec fallback (binDir first) and the per-type modes of this config; the
    // registry behind them is the daemon's, loaded once.
    invoke::ExecInvoker exec(std::vector<std::string>{config.bin_dir});
    // The call's engine messages and its in-process plugins' own go to the daemon's log, tagged
    // with the container ID.
    const auto prefix = fmt::format("[{}] ", request.container_id);
    invoke::Router router(registry_, exec, [this, prefix](plexus_log_level level, std::string_view message) {
      log(plexus::log::from_plugin_level(level), fmt::format("{}plugin: {}", prefix, message));
    });
    for (const auto& [type, mode] : config.delegate_modes) router.set_mode(type, to_invoke(mode));
    TimedInvoker timed(router, metrics_);
    meta::EngineOptions options;
    options.node_name = config_.node_name;
    options.log = [this, prefix](meta::LogLevel level, std::string_view message) { log(level, fmt::format("{}{}", prefix, message)); };
    options.events = events_.get();
    meta::MetaPlugin engine(timed, source_.get(), options);
    reply = call(engine);
  } catch (const cni::Error& e) {
    reply = {1, e.to_json(), {}};
  } catch (const std::exception& e) {
    reply = {1, cni::Error(cni::ErrorCode::Internal, e.what()).to_json(), {}};
  }
  serialized.reset();
  metrics_.count_call(command, reply.exit_code == 0,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  --calls_in_flight_;
  return reply;
}

void Daemon::shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      // Under the lock, so the accept loop cannot miss it between its check and its wait.
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    connections_changed_.notify_all();
    if (started_) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto written = ::write(listener_->wake_fd.get(), &one, sizeof one);
      accept_thread_.join();
      std::unique_lock lock(mutex_);
      connections_changed_.wait(lock, [this] { return active_connections_ == 0 && workers_ == 0; });
      log(meta::LogLevel::Verbose, "plexusd: every call answered, socket removed");
    }
    claim_sweeper_.reset();
    if (hotplug_thread_.joinable()) {
      hotplug_thread_.request_stop();
      hotplug_thread_.join();
    }
    events_.reset();  // what is queued gets its short drain, then the API client may go
    if (pod_cache_) pod_cache_->stop();
    exposer_.reset();
  });
}

}  // namespace plexus::daemon
