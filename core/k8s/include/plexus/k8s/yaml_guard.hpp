// What yaml-cpp must not be given. yaml-cpp 0.7 (Debian 12) never returns on some documents that
// open with a flow collection, such as "{}," or "[a]," (found by tests/fuzz/manifest_store_fuzz;
// fixed upstream in 0.8). A document that opens with '{' or '[' is JSON, so it must parse as JSON
// (nlohmann's parser is bounded) before yaml-cpp reads it. It also loops on a document whose first
// token, after any tag or anchor, is ',' (",a", "---\n!!str ,") or a flow collection followed by
// ',' ("!!str [a],"): such YAML documents are refused (a manifest is a mapping).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plexus::k8s {

// Why `text` may not go to yaml-cpp (its JSON parse error), or nullopt when it may.
std::optional<std::string> yaml_refusal(std::string_view text);

}  // namespace plexus::k8s
