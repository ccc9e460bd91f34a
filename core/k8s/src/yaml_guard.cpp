#include "plexus/k8s/yaml_guard.hpp"

#include <nlohmann/json.hpp>

namespace plexus::k8s {

std::optional<std::string> yaml_refusal(std::string_view text) {
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return std::nullopt;
  try {
    const auto parsed = nlohmann::json::parse(text);
    (void)parsed;
  } catch (const nlohmann::json::exception& e) {
    return std::string("a document that opens with '") + text.front() + "' must be JSON: " + e.what();
  }
  return std::nullopt;
}

}  // namespace plexus::k8s
