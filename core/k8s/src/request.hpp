// The one request shape ApiClient::perform runs; private to core/k8s/src.
#pragma once

#include "plexus/k8s/api_client.hpp"

namespace plexus::k8s {

struct ApiClient::Request {
  const char* method = "GET";
  std::string path;
  std::string body;
  std::string content_type;
  // Streaming: each complete line of a 200 answer goes here; false stops the transfer.
  std::function<bool(std::string_view)> on_line;
  std::stop_token stop;
  std::chrono::milliseconds timeout{0};  // 0 = options_.request_timeout
};

}  // namespace plexus::k8s
