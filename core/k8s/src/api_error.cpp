// ApiError: compiled into plexus_k8s and into the libcurl transport module (which throws it).
#include "plexus/k8s/api_client.hpp"

#include <curl/curl.h>  // the CURLcode constants a transport error carries (no libcurl call)

namespace plexus::k8s {

ApiError::ApiError(std::string what, int http_status, std::string reason, std::string api_message,
                   int transport_code)
    : std::runtime_error(std::move(what)),
      http_status_(http_status),
      reason_(std::move(reason)),
      api_message_(std::move(api_message)),
      transport_code_(transport_code) {}

bool ApiError::is_timeout() const noexcept {
  return http_status_ == 0 && transport_code_ == CURLE_OPERATION_TIMEDOUT;
}

bool ApiError::is_transient() const noexcept {
  if (http_status_ == 500 || http_status_ == 503) return true;
  if (http_status_ != 0) return false;
  switch (transport_code_) {
    case CURLE_COULDNT_CONNECT:  // refused
    case CURLE_SEND_ERROR:       // reset while sending
    case CURLE_RECV_ERROR:       // reset while receiving
    case CURLE_GOT_NOTHING:      // closed before any answer
      return true;
    default:
      return false;
  }
}

}  // namespace plexus::k8s
