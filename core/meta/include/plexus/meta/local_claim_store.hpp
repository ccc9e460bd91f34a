// The sticky IPAM's claims without a cluster: one JSON file per claimed address in a directory
// (a manifest store's claims/). Create-if-absent is link(2) of a complete temp file, so a claim
// is never seen half-written and two processes racing for one address cannot both win; takeover
// and release re-read the file under an exclusive flock so they only ever change what they saw.
#pragma once

#include <plexus/meta/sticky_claims.hpp>

#include <filesystem>
#include <functional>

namespace plexus::meta {

class LocalClaimStore final : public ClaimStore {
 public:
  using HolderExists = std::function<bool(const ClaimHolder&)>;
  LocalClaimStore(std::filesystem::path dir, HolderExists holder_exists)
      : dir_(std::move(dir)), holder_exists_(std::move(holder_exists)) {}

  std::optional<StickyClaim> create(const StickyClaim& claim) override;
  bool holder_exists(const ClaimHolder& holder) override { return holder_exists_(holder); }
  bool replace(const StickyClaim& stale, const StickyClaim& claim) override;
  void release(const StickyClaim& claim) override;
  std::vector<StickyClaim> held_by(const ClaimHolder& holder) override;

  // Every claim, by name.
  std::vector<StickyClaim> list() const;
  // Removes the claims whose holder is gone (its StatefulSet's manifest was removed). Returns them.
  std::vector<StickyClaim> release_orphans();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path path_for(const StickyClaim& claim) const;

  std::filesystem::path dir_;
  HolderExists holder_exists_;
};

// The claim as JSON (the local file, and the API object's spec) and back. from_json throws code 5
// naming `origin` on a malformed claim.
std::string claim_to_json(const StickyClaim& claim);
StickyClaim claim_from_json(std::string_view bytes, std::string_view origin);

}  // namespace plexus::meta
