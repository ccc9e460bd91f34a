#include "plexus/k8s/yaml_guard.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <string>
#include <utility>

namespace plexus::k8s {
namespace {

// Where a document does not start with a key: the line number (1-based) and the character found,
// or {0, 0}. yaml-cpp 0.7 loops on ",", "!!str ,", "!&a, b" or "!!str [a],"; a manifest is a
// mapping, and a JSON manifest is one whole JSON file (checked apart).
std::pair<std::size_t, char> document_opening_badly(std::string_view text) {
  bool at_document_start = true;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    const bool marker = line.substr(0, 3) == "---" || line.substr(0, 3) == "...";
    if (marker && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r')) {
      at_document_start = true;
      line.remove_prefix(3);
    }
    if (at_document_start) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string_view::npos || line[first] == '#' || line[first] == '%') continue;
      // A manifest's document starts with its first key: a letter, a digit or a quote. Anything
      // else there (',', a flow collection, a tag or anchor, "? ") is what yaml-cpp 0.7 loops on.
      const char c = line[first];
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '"' && c != '\'' && c != '_') return {number, c};
      at_document_start = false;
    }
  }
  return {0, 0};
}

}  // namespace

std::optional<std::string> yaml_refusal(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    try {
      const auto parsed = nlohmann::json::parse(text);
      (void)parsed;
    } catch (const nlohmann::json::exception& e) {
      return std::string("a document that opens with '") + text[first] + "' must be JSON: " + e.what();
    }
    return std::nullopt;
  }
  if (const auto [line, c] = document_opening_badly(text); line != 0) {
    return "line " + std::to_string(line) + ": a document may not start with '" + c +
           "' (a manifest is a mapping; a JSON manifest is one whole JSON file)";
  }
  return std::nullopt;
}

}  // namespace plexus::k8s
