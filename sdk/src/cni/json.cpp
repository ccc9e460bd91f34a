#include <plexus/cni/errors.hpp>
#include <plexus/cni/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace plexus::cni {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// nlohmann escapes what JSON requires; Go also escapes <, >, & and U+2028/U+2029, and writes
// \b and \f as \u0008 and \u000c. Those characters occur in the dump only inside strings, so one
// pass that knows whether it is inside an escape is enough.
std::string go_escape(const std::string& dumped) {
  std::string out;
  out.reserve(dumped.size());
  for (std::size_t i = 0; i < dumped.size(); ++i) {
    const char c = dumped[i];
    if (c == '\\' && i + 1 < dumped.size()) {
      const char next = dumped[i + 1];
      if (next == 'b') {
        out += "\\u0008";
      } else if (next == 'f') {
        out += "\\u000c";
      } else {
        out += c;
        out += next;
      }
      ++i;
    } else if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < dumped.size() && dumped[i + 1] == '\x80' &&
               (dumped[i + 2] == '\xa8' || dumped[i + 2] == '\xa9')) {
      out += dumped[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

template <typename Json>
std::string marshal(const Json& value, int indent) {
  return go_escape(value.dump(indent, ' ', false, nlohmann::detail::error_handler_t::replace));
}

}  // namespace

ordered_json parse_json(std::string_view bytes) { return ordered_json::parse(bytes.begin(), bytes.end()); }

const ordered_json* find_key(const ordered_json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  // Go's decoder assigns each key to the field it matches case-insensitively, in document order,
  // and a null leaves the field as it was: so the last non-null match wins.
  const ordered_json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (iequals(it.key(), key) && !it.value().is_null()) found = &it.value();
  }
  return found;
}

std::string go_marshal_indent(const json& value) { return marshal(value, 4); }
std::string go_marshal_indent(const ordered_json& value) { return marshal(value, 4); }
std::string go_marshal(const json& value) { return marshal(value, -1); }
std::string go_marshal(const ordered_json& value) { return marshal(value, -1); }

bool bool_or_string(const ordered_json& value, std::string_view field) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (iequals(s, "true")) return true;
    if (iequals(s, "false")) return false;
  }
  throw Error(ErrorCode::InvalidNetworkConfig,
              fmt::format("invalid value for \"{}\": {}, must be a boolean or \"true\"/\"false\"", field,
                          value.dump()));
}

}  // namespace plexus::cni
