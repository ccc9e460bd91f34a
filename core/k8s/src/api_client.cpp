// ApiClient: the requests it makes, the bearer token re-read from its file on every request; the
// transfer itself is the transport's (transport.hpp).
#include "plexus/k8s/api_client.hpp"
#include "request.hpp"
#include "transport.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/files.hpp>

namespace plexus::k8s {
namespace {

constexpr std::size_t kMaxTokenBytes = 1024U * 1024U;  // a service account JWT is ~1 KiB

std::string read_token_file(const std::filesystem::path& file) {
  std::string token;
  try {
    token = cni::read_existing_file_bounded(file, kMaxTokenBytes, "bearer token file");
  } catch (const cni::Error& e) {
    throw ApiError("cannot read bearer token file " + file.string() + ": " + e.msg(), 0, {}, {}, 0);
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

}  // namespace

ApiClient::ApiClient(ClusterConfig config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
}

ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;

std::string ApiClient::bearer_token() const {
  if (!config_.token_file.empty()) return read_token_file(config_.token_file);
  return config_.token;
}

Response ApiClient::perform(const Request& request) const {
  const detail::HttpCall call{config_,      options_,      bearer_token(), request.method, request.path,
                              request.body, request.content_type,
                              request.on_line ? &request.on_line : nullptr, request.stop, request.timeout};
  return detail::transport()(call);
}

Response ApiClient::get(std::string_view path_and_query) const {
  Request request;
  request.path = std::string(path_and_query);
  return perform(request);
}

Response ApiClient::put(std::string_view path, std::string_view json_body) const {
  Request request;
  request.method = "PUT";
  request.path = std::string(path);
  request.body = std::string(json_body);
  request.content_type = "application/json";
  return perform(request);
}

Response ApiClient::post(std::string_view path, std::string_view json_body,
                         std::chrono::milliseconds timeout) const {
  Request request;
  request.method = "POST";
  request.path = std::string(path);
  request.body = std::string(json_body);
  request.content_type = "application/json";
  request.timeout = timeout;
  return perform(request);
}

Response ApiClient::patch(std::string_view path, std::string_view json_body,
                          std::string_view content_type) const {
  Request request;
  request.method = "PATCH";
  request.path = std::string(path);
  request.body = std::string(json_body);
  request.content_type = std::string(content_type);
  return perform(request);
}

Response ApiClient::del(std::string_view path, std::string_view json_body) const {
  Request request;
  request.method = "DELETE";
  request.path = std::string(path);
  request.body = std::string(json_body);
  if (!json_body.empty()) request.content_type = "application/json";
  return perform(request);
}

}  // namespace plexus::k8s
