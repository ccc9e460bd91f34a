#include "nftables.hpp"

#include <nftables/libnftables.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <stdexcept>

namespace plexus::nft {
namespace {

struct NftCtxDeleter {
  void operator()(nft_ctx* ctx) const noexcept { nft_ctx_free(ctx); }
};
using NftCtxPtr = std::unique_ptr<nft_ctx, NftCtxDeleter>;

// One libnftables context, bound to the calling thread's namespace, output and errors buffered.
class Nft {
 public:
  explicit Nft(unsigned output_flags = 0) : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!ctx_) throw std::runtime_error("nftables: cannot create a context");
    nft_ctx_output_set_flags(ctx_.get(), output_flags);
    if (nft_ctx_buffer_output(ctx_.get()) != 0 || nft_ctx_buffer_error(ctx_.get()) != 0) {
      throw std::runtime_error("nftables: cannot buffer output");
    }
  }

  // Runs `commands` (one nft transaction: all or nothing) and returns what nft printed.
  std::string run(const std::string& commands) {
    if (nft_run_cmd_from_buffer(ctx_.get(), commands.c_str()) != 0) {
      std::string error = nft_ctx_get_error_buffer(ctx_.get());
      while (!error.empty() && error.back() == '\n') error.pop_back();
      throw std::runtime_error("nftables: " + error);
    }
    return nft_ctx_get_output_buffer(ctx_.get());
  }

  // As run(), but false instead of an exception (used to probe for a table that may be absent).
  bool try_run(const std::string& commands, std::string& output) {
    if (nft_run_cmd_from_buffer(ctx_.get(), commands.c_str()) != 0) {
      nft_ctx_get_error_buffer(ctx_.get());  // drain it so the next call starts clean
      return false;
    }
    output = nft_ctx_get_output_buffer(ctx_.get());
    return true;
  }

 private:
  NftCtxPtr ctx_;
};

// FNV-1a, 64 bits: stable across builds and machines, unlike std::hash.
std::string stable_hash_hex(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

// Removes every rule of `table`/`base_chain` that jumps to `chain`, then `chain` itself.
void remove_jump_chain(std::string_view family, std::string_view table, std::string_view base_chain,
                       std::string_view chain) {
  Nft lister(NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  std::string listing;
  if (!lister.try_run(fmt::format("list table {} {}", family, table), listing)) return;  // no table: nothing to do

  std::string batch;
  bool chain_exists = false;
  const auto parsed = nlohmann::json::parse(listing, nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("nftables")) throw std::runtime_error("nftables: unreadable listing");
  for (const auto& item : parsed["nftables"]) {
    if (const auto found = item.find("chain"); found != item.end() && found->value("name", "") == chain) {
      chain_exists = true;
    }
    const auto rule = item.find("rule");
    if (rule == item.end() || rule->value("chain", "") != base_chain) continue;
    for (const auto& expr : rule->value("expr", nlohmann::json::array())) {
      const auto jump = expr.find("jump");
      if (jump != expr.end() && jump->value("target", "") == chain) {
        batch += fmt::format("delete rule {} {} {} handle {}\n", family, table, base_chain, rule->value("handle", 0));
        break;
      }
    }
  }
  if (chain_exists) batch += fmt::format("flush chain {0} {1} {2}\ndelete chain {0} {1} {2}\n", family, table, chain);
  if (!batch.empty()) Nft().run(batch);
}

std::string family_keyword(const cni::IPNet& ip) { return ip.ip().is_v4() ? "ip" : "ip6"; }

}  // namespace

std::string masquerade_chain(std::string_view network, std::string_view container_id) {
  return "masq-" + stable_hash_hex(std::string(network) + '\0' + std::string(container_id));
}

std::string spoof_check_chain(std::string_view unique_id) { return "spoof-" + stable_hash_hex(unique_id); }

void setup_masquerade(std::string_view network, std::string_view container_id, const std::vector<cni::IPNet>& ips) {
  const auto chain = masquerade_chain(network, container_id);
  const std::string table = std::string("inet ") + kMasqueradeTable;
  std::string batch = fmt::format(
      "add table {0}\n"
      "add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
      "add chain {0} {1}\n",
      table, chain);
  for (const auto& ip : ips) {
    const auto family = family_keyword(ip);
    const char* multicast = ip.ip().is_v4() ? "224.0.0.0/4" : "ff00::/8";
    batch += fmt::format("add rule {} {} {} daddr {} accept\n", table, chain, family, ip.network().to_string());
    batch += fmt::format("add rule {} {} {} daddr != {} masquerade\n", table, chain, family, multicast);
    // Network names and container ids carry no quotes (CNI restricts both), so they fit a comment.
    batch += fmt::format("add rule {} postrouting {} saddr {} jump {} comment \"name: {} id: {}\"\n", table, family,
                         ip.ip().to_string(), chain, network, container_id);
  }
  Nft().run(batch);
}

void teardown_masquerade(std::string_view network, std::string_view container_id) {
  remove_jump_chain("inet", kMasqueradeTable, "postrouting", masquerade_chain(network, container_id));
}

void setup_spoof_check(std::string_view host_iface, std::string_view mac, std::string_view unique_id) {
  const auto chain = spoof_check_chain(unique_id);
  const std::string table = std::string("bridge ") + kSpoofCheckTable;
  Nft().run(fmt::format(
      "add table {0}\n"
      "add chain {0} prerouting {{ type filter hook prerouting priority -300; policy accept; }}\n"
      "add chain {0} {1}\n"
      "add rule {0} {1} ether saddr {2} return\n"
      "add rule {0} {1} drop\n"
      "add rule {0} prerouting iifname \"{3}\" jump {1} comment \"macspoofchk-{4}\"\n",
      table, chain, mac, host_iface, unique_id));
}

void teardown_spoof_check(std::string_view unique_id) {
  remove_jump_chain("bridge", kSpoofCheckTable, "prerouting", spoof_check_chain(unique_id));
}

}  // namespace plexus::nft
