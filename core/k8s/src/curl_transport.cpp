// libcurl transport for ApiClient: one easy handle per request, TLS material from memory, and one
// share handle per process so that requests reuse the connections, TLS sessions and DNS answers
// of earlier ones (a TLS handshake per request cost more than the request itself). Linked into plexusd and the tests (plexus_k8s_curl), and
// built as lib/plexus/libplexus-k8s.so, which thin plexus loads only when a call reaches the API
// server: libcurl and its ~30 libraries (TLS, krb5, ldap, ...) cost ~8 ms of CPU per exec'd call.
#include "transport.hpp"

#include <curl/curl.h>

#include <array>
#include <memory>
#include <mutex>

namespace plexus::k8s::detail {
namespace {

struct EasyHandleDeleter {
  void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyHandleDeleter>;

struct HeaderListDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

void append_header(HeaderList& list, const std::string& header) {
  curl_slist* head = curl_slist_append(list.get(), header.c_str());
  if (head == nullptr) throw std::bad_alloc();
  // The first append creates the list; later ones return the head `list` already owns.
  if (!list) list.reset(head);
}

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
  });
}

// The process's connection cache, TLS session cache and DNS cache, shared by every easy handle
// of every thread. libcurl calls lock/unlock around each use of a shared kind of data.
class ConnectionShare {
 public:
  ConnectionShare() : share_(curl_share_init()) {
    if (share_ == nullptr) throw std::runtime_error("curl_share_init failed");
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &ConnectionShare::lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &ConnectionShare::unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    for (const auto data : {CURL_LOCK_DATA_CONNECT, CURL_LOCK_DATA_SSL_SESSION, CURL_LOCK_DATA_DNS}) {
      if (curl_share_setopt(share_, CURLSHOPT_SHARE, data) != CURLSHE_OK) {
        throw std::runtime_error("curl_share_setopt(CURLSHOPT_SHARE) failed");
      }
    }
  }
  // Never destroyed (see share()): a watch thread may still be using it while the process exits.
  ConnectionShare(const ConnectionShare&) = delete;
  ConnectionShare& operator=(const ConnectionShare&) = delete;

  CURLSH* get() const noexcept { return share_; }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<ConnectionShare*>(user)->mutex_of(data).lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) { static_cast<ConnectionShare*>(user)->mutex_of(data).unlock(); }
  std::mutex& mutex_of(curl_lock_data data) {
    const auto index = static_cast<std::size_t>(data);
    return mutexes_[index < mutexes_.size() ? index : 0];
  }

  CURLSH* share_;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> mutexes_;
};

CURLSH* share() {
  static ConnectionShare* const instance = new ConnectionShare();  // leaked on purpose
  return instance->get();
}

// curl_easy_setopt is variadic: the checked wrapper keeps one place that turns a failure into an
// exception naming the option.
template <typename Value>
void set_option(CURL* handle, CURLoption option, Value value, const char* name) {
  if (const CURLcode code = curl_easy_setopt(handle, option, value); code != CURLE_OK) {
    throw std::runtime_error(std::string("curl_easy_setopt(") + name + "): " +
                             curl_easy_strerror(code));
  }
}
#define PLEXUS_CURL_SET(handle, option, value) set_option(handle, option, value, #option)

void set_blob(CURL* handle, CURLoption option, const std::string& pem, const char* name) {
  curl_blob blob{};
  blob.data = const_cast<char*>(pem.data());  // CURL_BLOB_COPY: curl copies, never writes
  blob.len = pem.size();
  blob.flags = CURL_BLOB_COPY;
  set_option(handle, option, &blob, name);
}

// Host and port of an https URL, for the tls-server-name CONNECT_TO mapping.
std::pair<std::string, std::string> host_and_port(const std::string& server) {
  std::string rest = server.substr(std::string_view("https://").size());
  if (const auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || rest.back() == ']') return {rest, "443"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

}  // namespace

namespace {

struct Transfer {
  CURL* handle = nullptr;
  std::string body;        // whole body, or the error body of a failed stream
  std::string line_buffer;
  const std::function<bool(std::string_view)>* on_line = nullptr;
  bool stopped_by_callback = false;
  std::stop_token stop;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(transfer->handle, CURLINFO_RESPONSE_CODE, &status);
  if (transfer->on_line == nullptr || status != 200) {
    transfer->body.append(data, bytes);
    return bytes;
  }
  transfer->line_buffer.append(data, bytes);
  size_t start = 0;
  for (size_t newline = transfer->line_buffer.find('\n', start); newline != std::string::npos;
       newline = transfer->line_buffer.find('\n', start)) {
    const std::string_view line(transfer->line_buffer.data() + start, newline - start);
    start = newline + 1;
    if (line.empty()) continue;
    if (!(*transfer->on_line)(line)) {
      transfer->stopped_by_callback = true;
      return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
  }
  transfer->line_buffer.erase(0, start);
  return bytes;
}

int check_stop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* transfer = static_cast<Transfer*>(user);
  return transfer->stop.stop_requested() ? 1 : 0;
}

ApiError error_from_status(const std::string& prefix, long status, const std::string& body) {
  std::string reason;
  std::string message;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    reason = parsed.value("reason", "");
    message = parsed.value("message", "");
  } else if (!body.empty() && body.size() < 512) {
    message = body;
  }
  std::string what = prefix + ": HTTP " + std::to_string(status);
  if (!reason.empty()) what += " " + reason;
  if (!message.empty()) what += ": " + message;
  return ApiError(std::move(what), static_cast<int>(status), std::move(reason),
                  std::move(message));
}

}  // namespace

Response curl_perform(const HttpCall& request) {
  ensure_curl_initialised();
  const ClusterConfig& config = request.config;
  const ClientOptions& options = request.options;
  EasyHandle owned(curl_easy_init());
  if (!owned) throw std::runtime_error("curl_easy_init failed");
  CURL* handle = owned.get();

  std::string url = config.server + std::string(request.path);
  HeaderList headers;
  append_header(headers, "Accept: application/json");
  if (!request.content_type.empty()) append_header(headers, "Content-Type: " + std::string(request.content_type));
  if (!request.bearer_token.empty()) {
    append_header(headers, "Authorization: Bearer " + request.bearer_token);
  }

  PLEXUS_CURL_SET(handle, CURLOPT_URL, url.c_str());
  PLEXUS_CURL_SET(handle, CURLOPT_HTTPHEADER, headers.get());
  PLEXUS_CURL_SET(handle, CURLOPT_USERAGENT, options.user_agent.c_str());
  PLEXUS_CURL_SET(handle, CURLOPT_NOSIGNAL, 1L);
  PLEXUS_CURL_SET(handle, CURLOPT_SHARE, share());
  PLEXUS_CURL_SET(handle, CURLOPT_PROTOCOLS_STR, "https");
  PLEXUS_CURL_SET(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  PLEXUS_CURL_SET(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  PLEXUS_CURL_SET(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  const auto total = request.timeout.count() > 0 ? request.timeout : options.request_timeout;
  PLEXUS_CURL_SET(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  // The env's https_proxy must not silently reroute cluster traffic; only proxy-url does.
  PLEXUS_CURL_SET(handle, CURLOPT_PROXY, config.proxy_url.c_str());

  if (!config.ca_pem.empty()) set_blob(handle, CURLOPT_CAINFO_BLOB, config.ca_pem, "CAINFO_BLOB");
  if (!config.client_cert_pem.empty()) {
    set_blob(handle, CURLOPT_SSLCERT_BLOB, config.client_cert_pem, "SSLCERT_BLOB");
    PLEXUS_CURL_SET(handle, CURLOPT_SSLCERTTYPE, "PEM");
    set_blob(handle, CURLOPT_SSLKEY_BLOB, config.client_key_pem, "SSLKEY_BLOB");
    PLEXUS_CURL_SET(handle, CURLOPT_SSLKEYTYPE, "PEM");
  }
  HeaderList connect_to;
  if (!config.tls_server_name.empty()) {
    // Verify against tls-server-name: put that name in the URL, and connect to the real host.
    const auto [host, port] = host_and_port(config.server);
    url = "https://" + config.tls_server_name + ":" + port + std::string(request.path);
    PLEXUS_CURL_SET(handle, CURLOPT_URL, url.c_str());
    append_header(connect_to, config.tls_server_name + ":" + port + ":" + host + ":" + port);
    PLEXUS_CURL_SET(handle, CURLOPT_CONNECT_TO, connect_to.get());
  }

  const std::string method = request.method;
  if (method != "GET") {
    PLEXUS_CURL_SET(handle, CURLOPT_CUSTOMREQUEST, request.method);
    PLEXUS_CURL_SET(handle, CURLOPT_POSTFIELDS, request.body.data());
    PLEXUS_CURL_SET(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  Transfer transfer;
  transfer.handle = handle;
  transfer.on_line = request.on_line;
  transfer.stop = request.stop;
  PLEXUS_CURL_SET(handle, CURLOPT_WRITEFUNCTION, &write_body);
  PLEXUS_CURL_SET(handle, CURLOPT_WRITEDATA, &transfer);
  if (request.stop.stop_possible()) {
    PLEXUS_CURL_SET(handle, CURLOPT_NOPROGRESS, 0L);
    PLEXUS_CURL_SET(handle, CURLOPT_XFERINFOFUNCTION, &check_stop);
    PLEXUS_CURL_SET(handle, CURLOPT_XFERINFODATA, &transfer);
  }
  char error_buffer[CURL_ERROR_SIZE] = {};
  PLEXUS_CURL_SET(handle, CURLOPT_ERRORBUFFER, error_buffer);

  const std::string prefix = method + " " + config.server + std::string(request.path);
  const CURLcode code = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);

  if (transfer.stopped_by_callback ||
      (code == CURLE_ABORTED_BY_CALLBACK && request.stop.stop_requested())) {
    return Response{status, {}};  // the caller chose to stop; not an error
  }
  if (code != CURLE_OK) {
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    throw ApiError(prefix + ": " + detail, 0, {}, {}, static_cast<int>(code));
  }
  if (status < 200 || status >= 300) throw error_from_status(prefix, status, transfer.body);
  return Response{status, std::move(transfer.body)};
}

}  // namespace plexus::k8s::detail
