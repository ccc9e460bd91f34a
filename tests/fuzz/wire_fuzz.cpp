// plexusd's wire format (core/daemon/src/wire.cpp): the request body any local process that can
// reach /run/plexus/plexus.sock sends, and the reply the shim reads. Documented failure:
// std::invalid_argument. A decoded message must encode and decode back to itself.
#include "fuzz_support.hpp"

#include <plexus/daemon/wire.hpp>

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace plexus;
  const auto text = fuzz::as_text(data, size);
  try {
    const cni::Request request = daemon::decode_cni_request(text);
    const cni::Request again = daemon::decode_cni_request(daemon::encode_cni_request(request));
    fuzz::require(again.command == request.command && again.container_id == request.container_id &&
                      again.netns == request.netns && again.ifname == request.ifname && again.args == request.args &&
                      again.path == request.path && again.stdin_data == request.stdin_data &&
                      again.netns_override == request.netns_override,
                  "a request does not survive encode + decode");
  } catch (const std::invalid_argument&) {
  }
  try {
    const cni::Reply reply = daemon::decode_cni_reply(text);
    const cni::Reply again = daemon::decode_cni_reply(daemon::encode_cni_reply(reply));
    fuzz::require(again.exit_code == reply.exit_code && again.stdout_data == reply.stdout_data &&
                      again.stderr_data == reply.stderr_data,
                  "a reply does not survive encode + decode");
  } catch (const std::invalid_argument&) {
  }
  try {
    const std::string decoded = daemon::base64_decode(text);
    fuzz::require(daemon::base64_decode(daemon::base64_encode(decoded)) == decoded, "base64 round trip");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
