// CNI_ARGS ("K1=V1;K2=V2") with libcni's LoadArgs semantics.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::cni {

class CniArgs {
 public:
  // Splits on ';' then '='; a pair that does not give exactly two parts throws code 999
  // "ARGS: invalid pair \"x\"". Keys are case-sensitive.
  static CniArgs parse(std::string_view args);

  // Checks every key against `known` (IgnoreUnknown is always known); unless IgnoreUnknown is
  // 1/true (any case), unknown keys throw code 999 `ARGS: unknown args ["FOO=bar"]`.
  void require_known(std::initializer_list<std::string_view> known) const;

  std::optional<std::string> get(std::string_view key) const;  // the last value for key
  bool ignore_unknown() const;
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

  // Back to "K=V;K=V".
  std::string to_string() const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

}  // namespace plexus::cni
