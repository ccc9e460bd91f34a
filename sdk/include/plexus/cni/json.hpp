// JSON the way Go's encoding/json reads and writes it, because every reference CNI plugin and
// libcni is Go: keys match case-insensitively on input, and output is escaped and indented as
// json.Marshal / json.MarshalIndent do.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace plexus::cni {

using json = nlohmann::json;                  // keys sorted: Go's map marshalling order
using ordered_json = nlohmann::ordered_json;  // keys in insertion order: Go's struct order

// Parses bytes as JSON; throws cni::Error code 6 "error unmarshall network config: ..." style
// messages are the caller's choice, so this throws nlohmann's parse_error.
ordered_json parse_json(std::string_view bytes);

// The value under `key` matched case-insensitively, as Go's decoder matches struct fields: an
// the last non-null case-insensitive match in document order wins. Null when absent.
const ordered_json* find_key(const ordered_json& object, std::string_view key);

// Go's json.MarshalIndent(v, "", "    "): 4-space indent, "key": value, <>& escaped as \u003c
// etc., no trailing newline.
std::string go_marshal_indent(const json& value);
std::string go_marshal_indent(const ordered_json& value);
// Go's json.Marshal: compact, same escaping.
std::string go_marshal(const json& value);
std::string go_marshal(const ordered_json& value);

// True when s is a value a Go bool field or "true"/"false" string accepts (used by libcni for
// disableCheck etc.). Throws cni::Error code 7 naming `field` when it is neither.
bool bool_or_string(const ordered_json& value, std::string_view field);

}  // namespace plexus::cni
