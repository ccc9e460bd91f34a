#include <plexus/cni/errors.hpp>
#include <plexus/cni/version.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace plexus::cni {
namespace {

constexpr std::array<std::string_view, 7> kAllVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                          "0.4.0", "1.0.0", "1.1.0"};

// version.ParseVersion: "X[.Y[.Z]]", each part a non-negative integer.
std::array<int, 3> parse_parts(std::string_view version) {
  std::array<int, 3> parts{0, 0, 0};
  std::size_t index = 0;
  std::string_view rest = version;
  while (true) {
    const auto dot = rest.find('.');
    const auto part = rest.substr(0, dot);
    int value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (index >= parts.size() || part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      throw Error(ErrorCode::DecodingFailure, fmt::format("invalid version \"{}\"", version));
    }
    parts[index++] = value;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  return parts;
}

}  // namespace

std::span<const std::string_view> all_versions() { return kAllVersions; }

int compare_versions(std::string_view a, std::string_view b) {
  const auto pa = parse_parts(a);
  const auto pb = parse_parts(b);
  return pa < pb ? -1 : (pa == pb ? 0 : 1);
}

bool version_at_least(std::string_view version, std::string_view minimum) {
  return compare_versions(version, minimum) >= 0;
}

std::string effective_version(std::string_view config_version) {
  return config_version.empty() ? std::string("0.1.0") : std::string(config_version);
}

std::string go_quoted_list(std::span<const std::string_view> items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ' ';
    out += fmt::format("\"{}\"", items[i]);
  }
  return out + "]";
}

std::string go_quoted_list(const std::vector<std::string>& items) {
  std::vector<std::string_view> views(items.begin(), items.end());
  return go_quoted_list(std::span<const std::string_view>(views));
}

void require_supported(std::string_view version, std::span<const std::string_view> supported) {
  if (std::find(supported.begin(), supported.end(), version) != supported.end()) return;
  throw Error(ErrorCode::IncompatibleVersion, "incompatible CNI versions",
              fmt::format("config is \"{}\", plugin supports {}", version, go_quoted_list(supported)));
}

void require_command_allowed(std::string_view command, std::string_view version) {
  std::string_view minimum;
  if (command == "CHECK") {
    minimum = "0.4.0";
  } else if (command == "GC" || command == "STATUS") {
    minimum = "1.1.0";
  } else {
    return;
  }
  if (!version_at_least(version, minimum)) {
    throw Error(ErrorCode::IncompatibleVersion, fmt::format("config version does not allow {}", command));
  }
}

std::string version_reply(std::span<const std::string_view> supported) {
  std::string out = fmt::format("{{\"cniVersion\":\"{}\",\"supportedVersions\":[", kCurrentVersion);
  for (std::size_t i = 0; i < supported.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("\"{}\"", supported[i]);
  }
  return out + "]}\n";
}

}  // namespace plexus::cni
