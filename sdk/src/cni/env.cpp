#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <vector>

namespace plexus::cni {
namespace {

// ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$
bool valid_identifier(std::string_view s) {
  if (s.empty() || std::isalnum(static_cast<unsigned char>(s.front())) == 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

struct EnvRule {
  std::string_view name;
  std::string Request::*field;
  std::vector<std::string_view> required_for;  // CNI_COMMAND is always required
};

// skel's table, in its order: the "missing" message lists names in this order.
const std::array<EnvRule, 6> kEnvRules = {{
    {"CNI_COMMAND", &Request::command, {}},
    {"CNI_CONTAINERID", &Request::container_id, {"ADD", "CHECK", "DEL"}},
    {"CNI_NETNS", &Request::netns, {"ADD", "CHECK"}},
    {"CNI_IFNAME", &Request::ifname, {"ADD", "CHECK", "DEL"}},
    {"CNI_ARGS", &Request::args, {}},
    {"CNI_PATH", &Request::path, {"ADD", "CHECK", "DEL", "GC", "STATUS"}},
}};

bool is_required(const EnvRule& rule, std::string_view command) {
  return rule.name == "CNI_COMMAND" ||
         std::find(rule.required_for.begin(), rule.required_for.end(), command) != rule.required_for.end();
}

}  // namespace

bool is_known_command(std::string_view command) {
  return command == "ADD" || command == "DEL" || command == "CHECK" || command == "STATUS" ||
         command == "GC" || command == "VERSION";
}

void validate_container_id(std::string_view container_id) {
  if (container_id.empty()) throw Error(ErrorCode::UnknownContainer, "missing containerID");
  if (!valid_identifier(container_id)) {
    throw Error(ErrorCode::InvalidEnvironment, "invalid characters in containerID", std::string(container_id));
  }
}

void validate_interface_name(std::string_view ifname) {
  if (ifname.empty()) throw Error(ErrorCode::InvalidEnvironment, "interface name is empty");
  if (ifname.size() > 15) {
    throw Error(ErrorCode::InvalidEnvironment, "interface name is too long",
                "interface name should be less than 16 characters");
  }
  if (ifname == "." || ifname == "..") throw Error(ErrorCode::InvalidEnvironment, "interface name is . or ..");
  const bool bad = std::any_of(ifname.begin(), ifname.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0;
  });
  if (bad) {
    throw Error(ErrorCode::InvalidEnvironment, "interface name contains / or : or whitespace characters");
  }
}

void validate_network_name(std::string_view name) {
  if (name.empty()) throw Error(ErrorCode::InvalidNetworkConfig, "missing network name");
  if (!valid_identifier(name)) {
    throw Error(ErrorCode::InvalidNetworkConfig, "invalid characters found in network name", std::string(name));
  }
}

Request request_from_environment() {
  const auto get = [](const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::string(value) : std::string();
  };
  Request request;
  request.command = get("CNI_COMMAND");
  request.container_id = get("CNI_CONTAINERID");
  request.netns = get("CNI_NETNS");
  request.ifname = get("CNI_IFNAME");
  request.args = get("CNI_ARGS");
  request.path = get("CNI_PATH");
  request.netns_override = get("CNI_NETNS_OVERRIDE");
  return request;
}

void validate_request_env(const Request& request) {
  std::vector<std::string_view> missing;
  for (const auto& rule : kEnvRules) {
    if ((request.*rule.field).empty() && is_required(rule, request.command)) missing.push_back(rule.name);
  }
  if (!missing.empty()) {
    throw Error(ErrorCode::InvalidEnvironment,
                fmt::format("required env variables [{}] missing", fmt::join(missing, ",")));
  }
}

}  // namespace plexus::cni
