#include <plexus/cni/args.hpp>
#include <plexus/cni/errors.hpp>

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

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

}  // namespace

CniArgs CniArgs::parse(std::string_view args) {
  CniArgs out;
  if (args.empty()) return out;
  // types.LoadArgs: strings.Split(args, ";"), then strings.Split(pair, "=") must give 2 parts.
  for (const auto pair : split(args, ';')) {
    const auto kv = split(pair, '=');
    if (kv.size() != 2) throw Error(ErrorCode::Internal, fmt::format("ARGS: invalid pair \"{}\"", pair));
    out.pairs_.emplace_back(std::string(kv[0]), std::string(kv[1]));
  }
  return out;
}

bool CniArgs::ignore_unknown() const {
  const auto value = get("IgnoreUnknown");
  return value && (*value == "1" || iequals(*value, "true"));
}

std::optional<std::string> CniArgs::get(std::string_view key) const {
  std::optional<std::string> found;
  for (const auto& [k, v] : pairs_) {
    if (k == key) found = v;
  }
  return found;
}

void CniArgs::require_known(std::initializer_list<std::string_view> known) const {
  if (ignore_unknown()) return;
  std::vector<std::string> unknown;
  for (const auto& [k, v] : pairs_) {
    if (k == "IgnoreUnknown") continue;
    if (std::find(known.begin(), known.end(), k) == known.end()) unknown.push_back(k + "=" + v);
  }
  if (unknown.empty()) return;
  std::string list = "[";
  for (std::size_t i = 0; i < unknown.size(); ++i) {
    if (i > 0) list += ' ';
    list += fmt::format("\"{}\"", unknown[i]);
  }
  throw Error(ErrorCode::Internal, fmt::format("ARGS: unknown args {}]", list));
}

std::string CniArgs::to_string() const {
  std::string out;
  for (const auto& [k, v] : pairs_) {
    if (!out.empty()) out += ';';
    out += k + "=" + v;
  }
  return out;
}

}  // namespace plexus::cni
