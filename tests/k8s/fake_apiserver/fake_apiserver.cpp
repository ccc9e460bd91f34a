#include "fake_apiserver.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <random>
#include <optional>
#include <sstream>

namespace plexus::test {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("fake apiserver: cannot write " + path.string());
}

std::filesystem::path make_unique_dir() {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("plexus-fake-apiserver-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter.fetch_add(1)));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string reason_for(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

// metav1.Status as the apiserver sends it with every error.
json status_body(int code, const std::string& message, const std::string& kind = {},
                 const std::string& name = {}) {
  json status = {{"kind", "Status"},     {"apiVersion", "v1"},   {"metadata", json::object()},
                 {"status", "Failure"},  {"message", message},   {"reason", reason_for(code)},
                 {"code", code}};
  if (!name.empty()) status["details"] = {{"name", name}, {"kind", kind}};
  return status;
}

std::string new_uid() {
  static std::mutex mutex;
  static std::mt19937_64 generator(std::random_device{}());
  std::lock_guard lock(mutex);
  std::ostringstream out;
  out << std::hex;
  const std::uint64_t high = generator();
  const std::uint64_t low = generator();
  char text[40];
  std::snprintf(text, sizeof text, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                static_cast<unsigned long long>(high >> 32),
                static_cast<unsigned long long>((high >> 16) & 0xffff),
                static_cast<unsigned long long>(high & 0xfff),
                static_cast<unsigned long long>(low >> 52),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

std::string now_rfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string url_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  std::istringstream in(query);
  for (std::string pair; std::getline(in, pair, '&');) {
    const auto equals = pair.find('=');
    if (equals == std::string::npos) {
      out[url_decode(pair)] = "";
    } else {
      out[url_decode(pair.substr(0, equals))] = url_decode(pair.substr(equals + 1));
    }
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  for (std::string part; std::getline(in, part, '/');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

struct SelectorTerm {
  std::string key;
  std::string value;
  bool negate = false;
};

// One term of a field or label selector: k=v, k==v or k!=v.
std::optional<SelectorTerm> parse_selector_term(const std::string& term) {
  if (const auto at = term.find("!="); at != std::string::npos) return SelectorTerm{term.substr(0, at), term.substr(at + 2), true};
  if (const auto eq2 = term.find("=="); eq2 != std::string::npos) return SelectorTerm{term.substr(0, eq2), term.substr(eq2 + 2), false};
  if (const auto eq = term.find('='); eq != std::string::npos) return SelectorTerm{term.substr(0, eq), term.substr(eq + 1), false};
  return std::nullopt;
}

// Field selectors as the apiserver supports them for pods: comma-joined k=v, k==v, k!=v.
bool matches_field_selector(const json& object, const std::string& selector) {
  std::istringstream in(selector);
  for (std::string term; std::getline(in, term, ',');) {
    if (term.empty()) continue;
    const auto parsed = parse_selector_term(term);
    if (!parsed) return false;
    const auto& [key, value, negate] = *parsed;
    std::string pointer = "/" + key;
    for (auto& c : pointer) {
      if (c == '.') c = '/';
    }
    const json::json_pointer where(pointer);
    std::string actual;
    if (object.contains(where) && object.at(where).is_string()) actual = object.at(where).get<std::string>();
    if ((actual == value) == negate) return false;
  }
  return true;
}

// Label selectors, equality-based: comma-joined k=v, k==v, k!=v (keys hold '/' and '.').
bool matches_label_selector(const json& object, const std::string& selector) {
  const json labels = object.contains("metadata") ? object["metadata"].value("labels", json::object()) : json::object();
  std::istringstream in(selector);
  for (std::string term; std::getline(in, term, ',');) {
    if (term.empty()) continue;
    const auto parsed = parse_selector_term(term);
    if (!parsed) return false;
    const auto& [key, value, negate] = *parsed;
    const bool has = labels.contains(key) && labels[key].is_string() && labels[key].get<std::string>() == value;
    if (has == negate) return false;
  }
  return true;
}

std::string peer_common_name(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  char name[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof name) < 0) {
    return {};
  }
  return name;
}

std::string pod_key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

}  // namespace

struct FakeApiServer::Impl {
  asio::io_context io;
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor acceptor{io};
};

struct FakeApiServer::TlsStream {
  ssl::stream<tcp::socket> stream;
};

struct FakeApiServer::HttpReply {
  int status = 200;
  json body;
};

FakeApiServer::FakeApiServer()
    : dir_(make_unique_dir()), ca_("plexus-fake-apiserver-ca"), impl_(std::make_unique<Impl>()) {
  const KeyAndCert server = ca_.issue_server("kube-apiserver", {"127.0.0.1"}, {"localhost"});
  write_file(dir_ / "ca.crt", ca_.cert_pem());
  write_file(dir_ / "server.crt", server.cert_pem);
  write_file(dir_ / "server.key", server.key_pem);

  impl_->tls.use_certificate_chain(asio::buffer(server.cert_pem));
  impl_->tls.use_private_key(asio::buffer(server.key_pem), ssl::context::pem);
  impl_->tls.add_certificate_authority(asio::buffer(ca_.cert_pem()));
  // Ask for a client certificate but let the handshake finish without a valid one: the apiserver
  // then answers 401 (or uses the bearer token), it does not drop the connection.
  impl_->tls.set_verify_mode(ssl::verify_peer);
  impl_->tls.set_verify_callback([](bool, ssl::verify_context&) { return true; });
  static constexpr unsigned char kSessionContext[] = "plexus-fake-apiserver";
  SSL_CTX_set_session_id_context(impl_->tls.native_handle(), kSessionContext,
                                 sizeof kSessionContext - 1);

  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { accept_loop(); });
}

FakeApiServer::~FakeApiServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void FakeApiServer::stop() {
  if (stopping_.exchange(true)) return;
  // shutdown() on the listening socket makes the blocked accept() return (Linux).
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  if (acceptor_thread_.joinable()) acceptor_thread_.join();
  {
    std::lock_guard lock(mutex_);
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  changed_.notify_all();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(connection_threads_);
  }
  for (auto& thread : threads) thread.join();
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::string FakeApiServer::url() const { return "https://127.0.0.1:" + std::to_string(port_); }

void FakeApiServer::accept_token(const std::string& token, const std::string& user) {
  std::lock_guard lock(mutex_);
  tokens_[token] = user;
}

void FakeApiServer::revoke_token(const std::string& token) {
  std::lock_guard lock(mutex_);
  tokens_.erase(token);
}

void FakeApiServer::accept_loop() {
  while (!stopping_) {
    tcp::socket socket(impl_->io);
    boost::system::error_code error;
    impl_->acceptor.accept(socket, error);
    if (error || stopping_) break;
    ++accepted_connections_;
    std::lock_guard lock(mutex_);
    open_fds_.insert(socket.native_handle());
    connection_threads_.emplace_back(
        [this, shared = std::make_shared<tcp::socket>(std::move(socket))]() mutable {
          const int fd = shared->native_handle();
          TlsStream tls_stream{ssl::stream<tcp::socket>(std::move(*shared), impl_->tls)};
          try {
            serve_stream(tls_stream);
          } catch (const std::exception&) {
            // A test client that went away mid-request: nothing to report.
          }
          // Forget the fd while it is still open, so a new connection reusing the number is
          // never dropped from the set that stop() shuts down.
          std::lock_guard guard(mutex_);
          open_fds_.erase(fd);
        });
  }
}

// --- store ---------------------------------------------------------------------------------

std::uint64_t FakeApiServer::bump_locked() { return ++resource_version_; }

void FakeApiServer::record_event_locked(const std::string& type, const json& object) {
  events_.emplace_back(resource_version_, json{{"type", type}, {"object", object}});
  changed_.notify_all();
}

json FakeApiServer::put_pod(json pod) {
  std::lock_guard lock(mutex_);
  pod["kind"] = "Pod";
  pod["apiVersion"] = "v1";
  auto& metadata = pod["metadata"];
  if (!metadata.contains("namespace")) metadata["namespace"] = "default";
  const std::string key =
      pod_key(metadata["namespace"].get<std::string>(), metadata.at("name").get<std::string>());
  const auto existing = pods_.find(key);
  if (!metadata.contains("uid")) {
    metadata["uid"] = existing != pods_.end() ? existing->second["metadata"]["uid"] : json(new_uid());
  }
  if (!metadata.contains("creationTimestamp")) metadata["creationTimestamp"] = now_rfc3339();
  metadata["resourceVersion"] = std::to_string(bump_locked());
  const bool added = existing == pods_.end();
  pods_[key] = pod;
  record_event_locked(added ? "ADDED" : "MODIFIED", pod);
  return pod;
}

void FakeApiServer::delete_pod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mutex_);
  const auto found = pods_.find(pod_key(ns, name));
  if (found == pods_.end()) return;
  json pod = found->second;
  pods_.erase(found);
  pod["metadata"]["resourceVersion"] = std::to_string(bump_locked());
  record_event_locked("DELETED", pod);
}

std::optional<json> FakeApiServer::pod(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto found = pods_.find(pod_key(ns, name));
  if (found == pods_.end()) return std::nullopt;
  return found->second;
}

json FakeApiServer::put_network_attachment_definition(json nad) {
  std::lock_guard lock(mutex_);
  nad["kind"] = "NetworkAttachmentDefinition";
  nad["apiVersion"] = "k8s.cni.cncf.io/v1";
  auto& metadata = nad["metadata"];
  if (!metadata.contains("namespace")) metadata["namespace"] = "default";
  if (!metadata.contains("uid")) metadata["uid"] = new_uid();
  if (!metadata.contains("creationTimestamp")) metadata["creationTimestamp"] = now_rfc3339();
  metadata["resourceVersion"] = std::to_string(bump_locked());
  if (!metadata.contains("generation")) metadata["generation"] = 1;
  nads_[pod_key(metadata["namespace"].get<std::string>(), metadata.at("name").get<std::string>())] = nad;
  return nad;
}

json FakeApiServer::put_statefulset(json statefulset) {
  std::lock_guard lock(mutex_);
  statefulset["apiVersion"] = "apps/v1";
  statefulset["kind"] = "StatefulSet";
  auto& metadata = statefulset["metadata"];
  if (!metadata.contains("namespace")) metadata["namespace"] = "default";
  if (!metadata.contains("uid")) metadata["uid"] = new_uid();
  if (!metadata.contains("creationTimestamp")) metadata["creationTimestamp"] = now_rfc3339();
  metadata["resourceVersion"] = std::to_string(bump_locked());
  statefulsets_[pod_key(metadata["namespace"].get<std::string>(), metadata.at("name").get<std::string>())] = statefulset;
  return statefulset;
}

void FakeApiServer::delete_statefulset(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mutex_);
  statefulsets_.erase(pod_key(ns, name));
  bump_locked();
}

std::map<std::string, json> FakeApiServer::sticky_claims() const {
  std::lock_guard lock(mutex_);
  return sticky_claims_;
}

void FakeApiServer::delete_sticky_claim(const std::string& name) {
  std::lock_guard lock(mutex_);
  sticky_claims_.erase(name);
  bump_locked();
}

std::string FakeApiServer::resource_version() const {
  std::lock_guard lock(mutex_);
  return std::to_string(resource_version_);
}

// --- faults and log ------------------------------------------------------------------------

void FakeApiServer::fail_next(int count, int status, const std::string& message) {
  std::lock_guard lock(mutex_);
  fail_count_ = count;
  fail_status_ = status;
  fail_message_ = message;
}

void FakeApiServer::reset_next(int count) {
  std::lock_guard lock(mutex_);
  reset_count_ = count;
}

void FakeApiServer::delay_next(int count, std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_count_ = count;
  delay_ = delay;
}

void FakeApiServer::fail_under_path(const std::string& method, const std::string& path_prefix, int count, int status, int after) {
  std::lock_guard lock(mutex_);
  matched_faults_.push_back(MatchedFault{method, path_prefix, count, status, after});
}

void FakeApiServer::interpose_writer(int count, std::function<void(json&)> writer) {
  std::lock_guard lock(mutex_);
  interpose_count_ = count;
  interposer_ = std::move(writer);
}

void FakeApiServer::fail_next_matching(const std::string& method, const std::string& path_suffix, int count,
                                       int status, const std::string& message) {
  std::lock_guard lock(mutex_);
  matching_faults_.push_back(MatchingFault{method, path_suffix, count, status, message, std::chrono::milliseconds(0)});
}

void FakeApiServer::delay_next_matching(const std::string& method, const std::string& path_suffix, int count,
                                        std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  matching_faults_.push_back(MatchingFault{method, path_suffix, count, 0, {}, delay});
}

std::vector<json> FakeApiServer::kube_events() const {
  std::lock_guard lock(mutex_);
  return kube_events_;
}

void FakeApiServer::compact() {
  std::lock_guard lock(mutex_);
  compacted_before_ = resource_version_;
  events_.clear();
}

void FakeApiServer::expire_open_watches() {
  std::lock_guard lock(mutex_);
  ++expire_generation_;
  changed_.notify_all();
}

void FakeApiServer::close_open_watches() {
  std::lock_guard lock(mutex_);
  ++close_generation_;
  changed_.notify_all();
}

int FakeApiServer::open_watches() const {
  std::lock_guard lock(mutex_);
  return open_watches_;
}

std::vector<RecordedRequest> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

void FakeApiServer::clear_requests() {
  std::lock_guard lock(mutex_);
  log_.clear();
}

// --- HTTP ----------------------------------------------------------------------------------

void FakeApiServer::serve_stream(TlsStream& tls_stream) {
  auto& stream = tls_stream.stream;
  boost::system::error_code error;
  stream.handshake(ssl::stream_base::server, error);
  if (error) return;
  const std::string cert_user = peer_common_name(stream.native_handle());

  boost::beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> request;
    http::read(stream, buffer, request, error);
    if (error) break;

    RecordedRequest recorded;
    recorded.method = std::string(request.method_string());
    const std::string target(request.target());
    const auto question = target.find('?');
    recorded.path = target.substr(0, question);
    recorded.query = question == std::string::npos ? "" : target.substr(question + 1);
    recorded.body = request.body();
    recorded.content_type = std::string(request[http::field::content_type]);
    recorded.authorization = std::string(request[http::field::authorization]);

    bool reset = false;
    std::chrono::milliseconds delay{0};
    std::optional<HttpReply> injected;
    {
      std::lock_guard lock(mutex_);
      bool matched = false;  // a matched fault takes the place of the global ones
      for (auto& fault : matched_faults_) {
        if (fault.count <= 0 || (!fault.method.empty() && fault.method != recorded.method) ||
            recorded.path.rfind(fault.path_prefix, 0) != 0) {
          continue;
        }
        if (fault.after > 0) {
          --fault.after;
          break;  // this one goes through
        }
        --fault.count;
        if (fault.status == 0) {
          reset = true;
        } else {
          injected = HttpReply{fault.status, status_body(fault.status, "injected failure")};
        }
        matched = true;
        break;
      }
      if (!matched && reset_count_ > 0) {
        --reset_count_;
        reset = true;
      } else if (!matched && fail_count_ > 0) {
        --fail_count_;
        injected = HttpReply{fail_status_, status_body(fail_status_, fail_message_)};
      }
      if (delay_count_ > 0) {
        --delay_count_;
        delay = delay_;
      }
      for (auto& fault : matching_faults_) {
        const auto& path = recorded.path;
        const bool matches = fault.remaining > 0 && fault.method == recorded.method && path.size() >= fault.path_suffix.size() &&
                             path.compare(path.size() - fault.path_suffix.size(), fault.path_suffix.size(), fault.path_suffix) == 0;
        if (!matches) continue;
        --fault.remaining;
        if (fault.status != 0 && !injected) injected = HttpReply{fault.status, status_body(fault.status, fault.message)};
        if (fault.delay.count() > 0) delay = std::max(delay, fault.delay);
      }
      const std::string bearer = "Bearer ";
      if (recorded.authorization.rfind(bearer, 0) == 0) {
        const auto found = tokens_.find(recorded.authorization.substr(bearer.size()));
        if (found != tokens_.end()) recorded.user = found->second;
      }
      if (recorded.user.empty()) recorded.user = cert_user;
    }
    if (reset) {
      std::lock_guard lock(mutex_);
      log_.push_back(recorded);
      break;  // close without an answer
    }
    if (delay.count() > 0) {
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, delay, [this] { return stopping_.load(); });
      if (stopping_) break;
    }

    const auto query = parse_query(recorded.query);
    const bool is_watch = recorded.method == "GET" && query.count("watch") > 0 &&
                          (query.at("watch") == "true" || query.at("watch") == "1");
    HttpReply reply;
    if (injected) {
      reply = *injected;
    } else if (recorded.user.empty()) {
      reply = HttpReply{401, status_body(401, "Unauthorized")};
    } else if (is_watch) {
      stream_watch(tls_stream, recorded, query);
      break;  // a watch owns its connection until it ends
    } else {
      reply = route(recorded);
    }
    recorded.status = reply.status;
    {
      std::lock_guard lock(mutex_);
      log_.push_back(recorded);
    }
    http::response<http::string_body> response{static_cast<http::status>(reply.status),
                                               request.version()};
    response.set(http::field::content_type, "application/json");
    response.body() = reply.body.dump();
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    http::write(stream, response, error);
    if (error || !request.keep_alive()) break;
  }
  stream.shutdown(error);
}

void FakeApiServer::stream_watch(TlsStream& tls_stream, RecordedRequest recorded,
                                 const std::map<std::string, std::string>& query) {
  auto& stream = tls_stream.stream;
  const auto param = [&](const char* key) {
    const auto found = query.find(key);
    return found == query.end() ? std::string() : found->second;
  };
  const std::string selector = param("fieldSelector");
  const std::string start = param("resourceVersion");
  const auto timeout = std::chrono::seconds(param("timeoutSeconds").empty()
                                                ? 1800
                                                : std::stol(param("timeoutSeconds")));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::vector<std::string> path = split_path(recorded.path);
  const std::string only_namespace = path.size() >= 4 ? path[3] : "";

  recorded.status = 200;
  {
    std::lock_guard lock(mutex_);
    log_.push_back(recorded);
  }
  boost::system::error_code error;
  http::response<http::empty_body> header{http::status::ok, 11};
  header.set(http::field::content_type, "application/json");
  header.chunked(true);
  http::response_serializer<http::empty_body> serializer{header};
  http::write_header(stream, serializer, error);
  if (error) return;
  const auto send = [&](const json& event) {
    const std::string line = event.dump() + "\n";
    asio::write(stream, http::make_chunk(asio::buffer(line)), error);
    return !error;
  };
  const auto gone_event = [](const std::string& message) {
    return json{{"type", "ERROR"}, {"object", status_body(410, message)}};
  };
  const auto finish = [&] {
    asio::write(stream, http::make_chunk_last(), error);
    stream.shutdown(error);
  };

  std::unique_lock lock(mutex_);
  std::uint64_t cursor = resource_version_;
  if (!start.empty() && start != "0") {
    cursor = std::stoull(start);
    if (cursor < compacted_before_) {
      lock.unlock();
      send(gone_event("too old resource version: " + start + " (" +
                      std::to_string(compacted_before_) + ")"));
      finish();
      return;
    }
  }
  const std::uint64_t expire_at_start = expire_generation_;
  const std::uint64_t close_at_start = close_generation_;
  ++open_watches_;
  bool open = true;
  while (open) {
    std::vector<json> pending;
    for (const auto& [rv, event] : events_) {
      if (rv <= cursor) continue;
      const json& object = event["object"];
      const bool in_namespace =
          only_namespace.empty() || object["metadata"].value("namespace", "") == only_namespace;
      if (in_namespace && matches_field_selector(object, selector)) pending.push_back(event);
    }
    if (!events_.empty()) cursor = std::max(cursor, events_.back().first);
    if (!pending.empty()) {
      lock.unlock();
      for (const auto& event : pending) {
        if (!send(event)) {
          open = false;
          break;
        }
      }
      lock.lock();
      continue;
    }
    if (stopping_ || close_generation_ != close_at_start) break;
    if (expire_generation_ != expire_at_start) {
      lock.unlock();
      send(gone_event("watch expired: the resourceVersion is too old"));
      lock.lock();
      break;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  --open_watches_;
  lock.unlock();
  finish();
}

FakeApiServer::HttpReply FakeApiServer::route(const RecordedRequest& request) {
  const std::vector<std::string> path = split_path(request.path);
  const auto is = [&](std::initializer_list<const char*> prefix) {
    if (path.size() < prefix.size()) return false;
    size_t i = 0;
    for (const char* part : prefix) {
      if (part != nullptr && path[i] != part) return false;
      ++i;
    }
    return true;
  };
  const auto not_found_path = HttpReply{404, status_body(404, "the server could not find the requested resource")};

  std::lock_guard lock(mutex_);
  // /api/v1/pods and /api/v1/namespaces/NS/pods: list.
  const bool all_pods = path.size() == 3 && is({"api", "v1", "pods"});
  const bool ns_pods = path.size() == 5 && is({"api", "v1", "namespaces", nullptr, "pods"});
  if (all_pods || ns_pods) {
    if (request.method != "GET") return {405, status_body(405, "the server does not allow this method on the requested resource")};
    const std::string selector = parse_query(request.query)["fieldSelector"];
    json items = json::array();
    for (const auto& [key, pod] : pods_) {
      if (ns_pods && pod["metadata"]["namespace"] != path[3]) continue;
      if (matches_field_selector(pod, selector)) items.push_back(pod);
    }
    return {200, json{{"kind", "PodList"},
                      {"apiVersion", "v1"},
                      {"metadata", {{"resourceVersion", std::to_string(resource_version_)}}},
                      {"items", items}}};
  }

  // /api/v1/namespaces/NS/pods/NAME[/status]
  if ((path.size() == 6 || (path.size() == 7 && path[6] == "status")) &&
      is({"api", "v1", "namespaces", nullptr, "pods"})) {
    const std::string& name = path[5];
    const std::string key = pod_key(path[3], name);
    const bool status_subresource = path.size() == 7;
    const auto not_found = HttpReply{404, status_body(404, "pods \"" + name + "\" not found", "pods", name)};
    if (request.method == "GET") {
      const auto found = pods_.find(key);
      if (found == pods_.end()) return not_found;
      return {200, found->second};
    }
    if (!status_subresource || (request.method != "PUT" && request.method != "PATCH")) {
      return {405, status_body(405, "the server does not allow this method on the requested resource")};
    }
    if (request.method == "PATCH" && request.content_type != "application/merge-patch+json") {
      return {415, status_body(415, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")};
    }
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object()) return {400, status_body(400, "the request body is not a JSON object")};
    auto found = pods_.find(key);
    if (found == pods_.end()) return not_found;
    if (interpose_count_ > 0 && interposer_) {
      // Another client's write lands first.
      --interpose_count_;
      interposer_(found->second);
      found->second["metadata"]["resourceVersion"] = std::to_string(bump_locked());
      record_event_locked("MODIFIED", found->second);
    }
    json& stored = found->second;
    const std::string sent_version =
        body.contains("metadata") ? body["metadata"].value("resourceVersion", "") : "";
    if (!sent_version.empty() && sent_version != stored["metadata"]["resourceVersion"]) {
      return {409, status_body(409,
                               "Operation cannot be fulfilled on pods \"" + name +
                                   "\": the object has been modified; please apply your changes "
                                   "to the latest version and try again",
                               "pods", name)};
    }
    json candidate = stored;
    if (request.method == "PUT") {
      if (body.contains("metadata") && body["metadata"].value("name", name) != name) {
        return {400, status_body(400, "the name of the object does not match the name on the URL")};
      }
      // pods/status: metadata (labels, annotations) and status from the body; spec stays.
      for (const char* field : {"annotations", "labels"}) {
        if (body.contains("metadata") && body["metadata"].contains(field)) {
          candidate["metadata"][field] = body["metadata"][field];
        } else {
          candidate["metadata"].erase(field);
        }
      }
      if (body.contains("status")) candidate["status"] = body["status"];
    } else {
      json patched = stored;
      patched.merge_patch(body);
      for (const char* field : {"annotations", "labels"}) {
        if (patched["metadata"].contains(field)) {
          candidate["metadata"][field] = patched["metadata"][field];
        } else {
          candidate["metadata"].erase(field);
        }
      }
      if (patched.contains("status")) candidate["status"] = patched["status"];
    }
    candidate["metadata"]["resourceVersion"] = std::to_string(bump_locked());
    stored = candidate;
    record_event_locked("MODIFIED", stored);
    return {200, stored};
  }

  // /api/v1/namespaces/NS/events: create (POST), validated as the apiserver validates core/v1 Events.
  if (path.size() == 5 && is({"api", "v1", "namespaces", nullptr, "events"})) {
    if (request.method != "POST") return {405, status_body(405, "the server does not allow this method on the requested resource")};
    const std::string& ns = path[3];
    json event = json::parse(request.body, nullptr, false);
    if (!event.is_object()) return {400, status_body(400, "the request body is not a JSON object")};
    auto& metadata = event["metadata"];
    const std::string name = metadata.is_object() ? metadata.value("name", "") : "";
    if (metadata.is_object() && metadata.value("namespace", ns) != ns) {
      return {400, status_body(400, "the namespace of the provided object does not match the namespace sent on the request")};
    }
    const auto invalid = [&](const std::string& why) {
      return HttpReply{422, status_body(422, "Event \"" + name + "\" is invalid: " + why, "events", name)};
    };
    if (name.empty()) return invalid("metadata.name: Required value: name or generateName is required");
    const json involved = event.value("involvedObject", json::object());
    if (involved.value("namespace", "") != ns) return invalid("involvedObject.namespace: Invalid value: does not match event.namespace");
    const std::string type = event.value("type", "");
    if (type != "Normal" && type != "Warning") return invalid("type: Unsupported value: \"" + type + "\"");
    if (event.value("reason", "").empty()) return invalid("reason: Required value");
    for (const auto& stored : kube_events_) {
      if (stored["metadata"]["namespace"] == ns && stored["metadata"]["name"] == name) {
        return {409, status_body(409, "events \"" + name + "\" already exists", "events", name)};
      }
    }
    metadata["namespace"] = ns;
    metadata["uid"] = new_uid();
    metadata["creationTimestamp"] = now_rfc3339();
    metadata["resourceVersion"] = std::to_string(bump_locked());
    kube_events_.push_back(event);
    return {201, event};
  }

  // /apis/apps/v1/namespaces/NS/statefulsets/NAME
  if (path.size() == 7 && is({"apis", "apps", "v1", "namespaces", nullptr, "statefulsets"})) {
    if (request.method != "GET") return {405, status_body(405, "the server does not allow this method on the requested resource")};
    const auto found = statefulsets_.find(pod_key(path[4], path[6]));
    if (found == statefulsets_.end()) {
      return {404, status_body(404, "statefulsets.apps \"" + path[6] + "\" not found", "statefulsets", path[6])};
    }
    return {200, found->second};
  }

  // /apis/k8s.plexus.dev/v1alpha1/stickyclaims[/NAME]
  if ((path.size() == 4 || path.size() == 5) && is({"apis", "k8s.plexus.dev", "v1alpha1", "stickyclaims"})) {
    return route_sticky_claims(request, path);
  }

  // /apis/k8s.cni.cncf.io/v1/namespaces/NS/network-attachment-definitions[/NAME]
  if (is({"apis", "k8s.cni.cncf.io", "v1", "namespaces", nullptr, "network-attachment-definitions"})) {
    if (request.method != "GET") return {405, status_body(405, "the server does not allow this method on the requested resource")};
    if (path.size() == 6) {
      json items = json::array();
      for (const auto& [key, nad] : nads_) {
        if (nad["metadata"]["namespace"] == path[4]) items.push_back(nad);
      }
      return {200, json{{"kind", "NetworkAttachmentDefinitionList"},
                        {"apiVersion", "k8s.cni.cncf.io/v1"},
                        {"metadata", {{"resourceVersion", std::to_string(resource_version_)}}},
                        {"items", items}}};
    }
    if (path.size() == 7) {
      const auto found = nads_.find(pod_key(path[4], path[6]));
      if (found == nads_.end()) {
        return {404, status_body(404,
                                 "network-attachment-definitions.k8s.cni.cncf.io \"" + path[6] +
                                     "\" not found",
                                 "network-attachment-definitions", path[6])};
      }
      return {200, found->second};
    }
  }
  return not_found_path;
}

// A custom resource as the apiserver serves one (mutex_ held): POST creates or answers 409
// AlreadyExists; PUT needs the current metadata.resourceVersion (else 409 Conflict, and 422 when
// it is missing, as for every custom resource); DELETE honours preconditions.resourceVersion.
FakeApiServer::HttpReply FakeApiServer::route_sticky_claims(const RecordedRequest& request, const std::vector<std::string>& path) {
  const auto conflict = [](const std::string& name) {
    return HttpReply{409, status_body(409,
                                      "Operation cannot be fulfilled on stickyclaims.k8s.plexus.dev \"" + name +
                                          "\": the object has been modified; please apply your changes to the latest version and try again",
                                      "stickyclaims.k8s.plexus.dev", name)};
  };
  const auto not_found = [](const std::string& name) {
    return HttpReply{404, status_body(404, "stickyclaims.k8s.plexus.dev \"" + name + "\" not found", "stickyclaims.k8s.plexus.dev", name)};
  };
  const auto stamp = [this](json& object) {
    object["apiVersion"] = "k8s.plexus.dev/v1alpha1";
    object["kind"] = "StickyClaim";
    object["metadata"]["resourceVersion"] = std::to_string(bump_locked());
  };
  if (path.size() == 4) {
    if (request.method == "GET") {
      const std::string selector = parse_query(request.query)["labelSelector"];
      json items = json::array();
      for (const auto& [name, claim] : sticky_claims_) {
        if (matches_label_selector(claim, selector)) items.push_back(claim);
      }
      return {200, json{{"kind", "StickyClaimList"},
                        {"apiVersion", "k8s.plexus.dev/v1alpha1"},
                        {"metadata", {{"resourceVersion", std::to_string(resource_version_)}}},
                        {"items", items}}};
    }
    if (request.method != "POST") return {405, status_body(405, "the server does not allow this method on the requested resource")};
    json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("metadata") || !body["metadata"].is_object() ||
        !body["metadata"].contains("name") || !body["metadata"]["name"].is_string()) {
      return {422, status_body(422, "StickyClaim: metadata.name: Required value")};
    }
    if (body.value("kind", "") != "StickyClaim" || body.value("apiVersion", "") != "k8s.plexus.dev/v1alpha1") {
      return {400, status_body(400, "the body is not a k8s.plexus.dev/v1alpha1 StickyClaim")};
    }
    const std::string name = body["metadata"]["name"].get<std::string>();
    if (sticky_claims_.count(name) != 0) {
      auto reply = HttpReply{409, status_body(409, "stickyclaims.k8s.plexus.dev \"" + name + "\" already exists",
                                              "stickyclaims.k8s.plexus.dev", name)};
      reply.body["reason"] = "AlreadyExists";
      return reply;
    }
    auto& metadata = body["metadata"];
    metadata.erase("namespace");  // cluster-scoped
    if (metadata.contains("resourceVersion")) {
      return {422, status_body(422, "StickyClaim: metadata.resourceVersion: may not be set on create")};
    }
    metadata["uid"] = new_uid();
    metadata["creationTimestamp"] = now_rfc3339();
    metadata["generation"] = 1;
    stamp(body);
    sticky_claims_[name] = body;
    return {201, body};
  }
  const std::string& name = path[4];
  const auto found = sticky_claims_.find(name);
  if (request.method == "GET") {
    if (found == sticky_claims_.end()) return not_found(name);
    return {200, found->second};
  }
  if (request.method == "PUT") {
    json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("metadata") || !body["metadata"].is_object()) {
      return {400, status_body(400, "the request body is not a JSON object with metadata")};
    }
    if (body["metadata"].value("name", "") != name) {
      return {400, status_body(400, "the name of the object does not match the name on the URL")};
    }
    const std::string sent_version = body["metadata"].value("resourceVersion", "");
    if (sent_version.empty()) {
      return {422, status_body(422, "StickyClaim \"" + name + "\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")};
    }
    if (found == sticky_claims_.end()) return not_found(name);
    if (sent_version != found->second["metadata"]["resourceVersion"]) return conflict(name);
    // uid and creationTimestamp are the server's.
    body["metadata"]["uid"] = found->second["metadata"]["uid"];
    body["metadata"]["creationTimestamp"] = found->second["metadata"]["creationTimestamp"];
    body["metadata"]["generation"] = found->second["metadata"].value("generation", 1) + 1;
    stamp(body);
    found->second = body;
    return {200, body};
  }
  if (request.method == "DELETE") {
    if (found == sticky_claims_.end()) return not_found(name);
    const json options = request.body.empty() ? json::object() : json::parse(request.body, nullptr, false);
    if (options.is_object() && options.contains("preconditions") && options["preconditions"].is_object()) {
      const auto& pre = options["preconditions"];
      if (pre.contains("resourceVersion") && pre["resourceVersion"] != found->second["metadata"]["resourceVersion"]) {
        return conflict(name);
      }
      if (pre.contains("uid") && pre["uid"] != found->second["metadata"]["uid"]) return conflict(name);
    }
    json gone = found->second;
    sticky_claims_.erase(found);
    bump_locked();
    return {200, json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"},
                      {"details", {{"name", name}, {"group", "k8s.plexus.dev"}, {"kind", "stickyclaims"}, {"uid", gone["metadata"]["uid"]}}}}};
  }
  return {405, status_body(405, "the server does not allow this method on the requested resource")};
}

}  // namespace plexus::test
