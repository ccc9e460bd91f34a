#include <plexus/daemon/wire.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <stdexcept>

namespace plexus::daemon {
namespace {

using nlohmann::json;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int, 256> decode_table() {
  std::array<int, 256> table{};
  for (auto& entry : table) entry = -1;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  return table;
}

std::string env_string(const json& env, const char* key) {
  const auto it = env.find(key);
  if (it == env.end() || it->is_null()) return {};
  if (!it->is_string()) throw std::invalid_argument(std::string("env.") + key + " is not a string");
  return it->get<std::string>();
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  unsigned int accumulator = 0;
  int bits = 0;
  for (const char c : bytes) {
    accumulator = ((accumulator << 8) | static_cast<unsigned char>(c)) & 0xffffffU;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(accumulator >> bits) & 0x3fU]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(accumulator << (6 - bits)) & 0x3fU]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string base64_decode(std::string_view text) {
  static constexpr auto kTable = decode_table();
  if (text.size() % 4 != 0) throw std::invalid_argument("base64: length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned int accumulator = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (const char c : text) {
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) throw std::invalid_argument("base64: data after padding");
    const int value = kTable[static_cast<unsigned char>(c)];
    if (value < 0) throw std::invalid_argument("base64: character outside the alphabet");
    accumulator = ((accumulator << 6) | static_cast<unsigned int>(value)) & 0xffffffU;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xffU));
    }
  }
  if (padding > 2) throw std::invalid_argument("base64: too much padding");
  return out;
}

std::string encode_cni_request(const cni::Request& request) {
  json env = json::object();
  env["CNI_COMMAND"] = request.command;
  env["CNI_CONTAINERID"] = request.container_id;
  env["CNI_NETNS"] = request.netns;
  env["CNI_IFNAME"] = request.ifname;
  env["CNI_ARGS"] = request.args;
  env["CNI_PATH"] = request.path;
  if (!request.netns_override.empty()) env["CNI_NETNS_OVERRIDE"] = request.netns_override;
  return json{{"env", env}, {"config", base64_encode(request.stdin_data)}}.dump();
}

cni::Request decode_cni_request(std::string_view body) {
  json object;
  try {
    object = json::parse(body);
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("request is not JSON: ") + e.what());
  }
  if (!object.is_object()) throw std::invalid_argument("request is not a JSON object");
  const auto env = object.find("env");
  if (env == object.end() || !env->is_object()) throw std::invalid_argument("request has no \"env\" object");
  cni::Request request;
  request.command = env_string(*env, "CNI_COMMAND");
  if (request.command.empty()) throw std::invalid_argument("env.CNI_COMMAND is required");
  request.container_id = env_string(*env, "CNI_CONTAINERID");
  request.netns = env_string(*env, "CNI_NETNS");
  request.ifname = env_string(*env, "CNI_IFNAME");
  request.args = env_string(*env, "CNI_ARGS");
  request.path = env_string(*env, "CNI_PATH");
  request.netns_override = env_string(*env, "CNI_NETNS_OVERRIDE");
  const auto config = object.find("config");
  if (config != object.end() && !config->is_null()) {
    if (!config->is_string()) throw std::invalid_argument("\"config\" is not a base64 string");
    request.stdin_data = base64_decode(config->get<std::string>());
  }
  return request;
}

std::string encode_hotplug_request(const HotplugRequest& hotplug) {
  auto object = json::parse(encode_cni_request(hotplug.request));
  object["network"] = hotplug.network;
  return object.dump();
}

HotplugRequest decode_hotplug_request(std::string_view body) {
  json object = json::parse(body, nullptr, false);
  if (!object.is_object()) throw std::invalid_argument("request is not a JSON object");
  const auto network = object.find("network");
  if (network == object.end() || !network->is_string() || network->get<std::string>().empty()) {
    throw std::invalid_argument("request has no \"network\" string (one element of the networks annotation)");
  }
  HotplugRequest hotplug;
  hotplug.network = network->get<std::string>();
  // The endpoint says what to do; CNI_COMMAND may be left out.
  if (object.contains("env") && object["env"].is_object()) {
    auto& env = object["env"];
    if (!env.contains("CNI_COMMAND") || env["CNI_COMMAND"] == "") env["CNI_COMMAND"] = "HOTPLUG";
  }
  hotplug.request = decode_cni_request(object.dump());
  return hotplug;
}

std::string encode_cni_reply(const cni::Reply& reply) {
  return json{{"exitCode", reply.exit_code},
              {"stdout", base64_encode(reply.stdout_data)},
              {"stderr", base64_encode(reply.stderr_data)}}
      .dump();
}

cni::Reply decode_cni_reply(std::string_view body) {
  json object;
  try {
    object = json::parse(body);
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("daemon reply is not JSON: ") + e.what());
  }
  const auto code = object.find("exitCode");
  if (!object.is_object() || code == object.end() || !code->is_number_integer()) {
    throw std::invalid_argument("daemon reply has no integer \"exitCode\"");
  }
  cni::Reply reply;
  reply.exit_code = code->get<int>();
  if (const auto out = object.find("stdout"); out != object.end() && out->is_string()) {
    reply.stdout_data = base64_decode(out->get<std::string>());
  }
  if (const auto err = object.find("stderr"); err != object.end() && err->is_string()) {
    reply.stderr_data = base64_decode(err->get<std::string>());
  }
  return reply;
}

}  // namespace plexus::daemon
