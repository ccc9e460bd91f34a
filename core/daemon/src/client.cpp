#include <plexus/daemon/client.hpp>

#include <plexus/cni/errors.hpp>
#include <plexus/daemon/wire.hpp>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace plexus::daemon {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Socket = asio::local::stream_protocol::socket;

}  // namespace

HttpAnswer http_over_unix(const std::filesystem::path& socket_path, std::string_view method, std::string_view target,
                          std::string_view body) {
  asio::io_context io;
  Socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(socket_path.string()), ec);
  if (ec) {
    throw DaemonUnavailable(fmt::format("cannot connect to {}: {}", socket_path.string(), ec.message()), false);
  }
  http::request<http::string_body> request{http::string_to_verb(boost::beast::string_view(method.data(), method.size())), std::string(target), 11};
  request.set(http::field::host, "plexusd");
  request.set(http::field::connection, "close");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = std::string(body);
  request.prepare_payload();
  http::write(socket, request, ec);
  if (ec) throw DaemonUnavailable(fmt::format("sending to {}: {}", socket_path.string(), ec.message()), true);

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64U * 1024U * 1024U);
  http::read(socket, buffer, parser, ec);
  if (ec) {
    throw DaemonUnavailable(fmt::format("no answer from {}: {}", socket_path.string(), ec.message()), true);
  }
  auto response = parser.release();
  return HttpAnswer{static_cast<int>(response.result_int()), std::move(response.body())};
}

cni::Reply call_daemon(const std::filesystem::path& socket, const cni::Request& request) {
  const auto answer = http_over_unix(socket, "POST", kCniEndpoint, encode_cni_request(request));
  if (answer.status == 200) {
    try {
      return decode_cni_reply(answer.body);
    } catch (const std::invalid_argument& e) {
      throw DaemonUnavailable(fmt::format("unreadable answer from {}: {}", socket.string(), e.what()), true);
    }
  }
  if (cni::Error::from_json(answer.body)) return cni::Reply{1, answer.body, {}};
  return cni::Reply{1, cni::Error(cni::ErrorCode::Internal, fmt::format("plexusd answered HTTP {}: {}", answer.status, answer.body)).to_json(), {}};
}

}  // namespace plexus::daemon
