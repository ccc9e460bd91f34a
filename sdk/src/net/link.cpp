#include <plexus/net/netlink.hpp>
#include <plexus/net/netns.hpp>

#include "convert.hpp"

#include <net/if.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/veth.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>

#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>

namespace plexus::net {
namespace {

RtnlLinkPtr alloc_link() {
  RtnlLinkPtr link(rtnl_link_alloc());
  if (!link) throw std::bad_alloc();
  return link;
}

Link snapshot(rtnl_link* link) {
  Link out;
  out.index = rtnl_link_get_ifindex(link);
  if (const char* name = rtnl_link_get_name(link)) out.name = name;
  if (const char* kind = rtnl_link_get_type(link)) out.kind = kind;
  out.mac = internal::mac_from_nl_addr(rtnl_link_get_addr(link));
  out.mtu = rtnl_link_get_mtu(link);
  out.flags = rtnl_link_get_flags(link);
  out.master_index = rtnl_link_get_master(link);
  out.parent_index = rtnl_link_get_link(link);
  if (rtnl_link_is_macvlan(link)) out.macvlan_mode = static_cast<MacvlanMode>(rtnl_link_macvlan_get_mode(link));
  return out;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

// libnl would silently truncate a long name; the kernel takes at most IFNAMSIZ - 1 bytes.
std::string checked_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw std::invalid_argument("invalid link name " + in_quotes(name) + ": 1 to 15 bytes");
  }
  return std::string(name);
}

// Settings every created link takes the same way.
void apply_common(rtnl_link* link, const std::string& name, unsigned mtu, const std::string& mac) {
  rtnl_link_set_name(link, checked_name(name).c_str());
  if (mtu != 0) rtnl_link_set_mtu(link, mtu);
  if (!mac.empty()) rtnl_link_set_addr(link, internal::mac_to_nl_addr(mac).get());  // takes a ref
}

}  // namespace

std::optional<MacvlanMode> parse_macvlan_mode(std::string_view text) {
  if (text == "bridge") return MacvlanMode::Bridge;
  if (text == "private") return MacvlanMode::Private;
  if (text == "vepa") return MacvlanMode::Vepa;
  if (text == "passthru") return MacvlanMode::Passthru;
  if (text == "source") return MacvlanMode::Source;
  return std::nullopt;
}

std::string_view to_string(MacvlanMode mode) {
  switch (mode) {
    case MacvlanMode::Private: return "private";
    case MacvlanMode::Vepa: return "vepa";
    case MacvlanMode::Bridge: return "bridge";
    case MacvlanMode::Passthru: return "passthru";
    case MacvlanMode::Source: return "source";
  }
  return "unknown";
}

std::string random_veth_name() {
  thread_local std::mt19937 generator{std::random_device{}()};
  char name[16];
  std::snprintf(name, sizeof name, "veth%08x", static_cast<unsigned>(generator()));
  return name;
}

bool Link::is_up() const noexcept { return (flags & IFF_UP) != 0; }

namespace {

// Records the kernel's errno, then lets libnl carry on exactly as without a handler (NL_STOP
// makes it return -nl_syserr2nlerr(error), as its default does).
int remember_kernel_errno(sockaddr_nl* /*from*/, nlmsgerr* error, void* slot) {
  *static_cast<int*>(slot) = -error->error;
  return NL_STOP;
}

}  // namespace

Netlink::Netlink() : sock_(nl_socket_alloc()) {
  if (!sock_) throw std::bad_alloc();
  internal::check(nl_socket_modify_err_cb(sock_.get(), NL_CB_CUSTOM, remember_kernel_errno, kernel_errno_.get()),
                  "failed to set the netlink error callback");
  check(nl_connect(sock_.get(), NETLINK_ROUTE), "failed to connect a NETLINK_ROUTE socket");
}

void Netlink::check(int err, const std::string& what) {
  const int kernel_errno = std::exchange(*kernel_errno_, 0);
  if (err < 0) throw NetlinkError(err, kernel_errno, what);
}

bool Netlink::is_gone(int err) {
  if (err >= 0 || !is_not_found(make_netlink_error(err))) return false;  // check() reports it
  *kernel_errno_ = 0;
  return true;
}

RtnlLinkPtr Netlink::get_link(int index, const char* name, const std::string& what) {
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock_.get(), index, name, &raw);
  RtnlLinkPtr link(raw);
  check(err, what);
  return link;
}

std::optional<Link> Netlink::find_link(std::string_view name) {
  try {
    return snapshot(get_link(0, std::string(name).c_str(), "failed to look up link " + in_quotes(name)).get());
  } catch (const std::system_error& error) {
    if (is_not_found(error.code())) return std::nullopt;
    throw;
  }
}

std::optional<Link> Netlink::find_link(int index) {
  try {
    return snapshot(get_link(index, nullptr, "failed to look up link " + std::to_string(index)).get());
  } catch (const std::system_error& error) {
    if (is_not_found(error.code())) return std::nullopt;
    throw;
  }
}

Link Netlink::link(std::string_view name) {
  return snapshot(get_link(0, std::string(name).c_str(), "failed to look up link " + in_quotes(name)).get());
}

Link Netlink::link(int index) {
  return snapshot(get_link(index, nullptr, "failed to look up link " + std::to_string(index)).get());
}

std::vector<Link> Netlink::links() {
  nl_cache* raw = nullptr;
  const int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw);
  NlCachePtr cache(raw);
  check(err, "failed to list links");
  std::vector<Link> out;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr; object = nl_cache_get_next(object)) {
    out.push_back(snapshot(reinterpret_cast<rtnl_link*>(object)));
  }
  return out;
}

void Netlink::create_macvlan(const MacvlanSpec& spec) {
  RtnlLinkPtr link(rtnl_link_macvlan_alloc());
  if (!link) throw std::bad_alloc();
  apply_common(link.get(), spec.name, spec.mtu, spec.mac);
  rtnl_link_set_link(link.get(), spec.master_index);
  check(rtnl_link_macvlan_set_mode(link.get(), static_cast<std::uint32_t>(spec.mode)), "failed to set macvlan mode");
  if (spec.netns_fd >= 0) rtnl_link_set_ns_fd(link.get(), spec.netns_fd);
  check(rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
        "failed to create macvlan " + in_quotes(spec.name));
}

void Netlink::create_veth(const VethSpec& spec) {
  RtnlLinkPtr link(rtnl_link_veth_alloc());
  if (!link) throw std::bad_alloc();
  RtnlLinkPtr peer(rtnl_link_veth_get_peer(link.get()));  // a new reference to the peer half
  apply_common(link.get(), spec.name, spec.mtu, spec.mac);
  apply_common(peer.get(), spec.peer_name, spec.mtu, spec.peer_mac);
  if (spec.peer_netns_fd >= 0) rtnl_link_set_ns_fd(peer.get(), spec.peer_netns_fd);
  check(rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
        "failed to create veth " + in_quotes(spec.name) + " peer " + in_quotes(spec.peer_name));
}

void Netlink::create_bridge(const BridgeSpec& spec) {
  RtnlLinkPtr link(rtnl_link_bridge_alloc());
  if (!link) throw std::bad_alloc();
  apply_common(link.get(), spec.name, spec.mtu, spec.mac);
  check(rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
        "failed to create bridge " + in_quotes(spec.name));
}

void Netlink::change_link(int index, rtnl_link* changes, const std::string& what) {
  const RtnlLinkPtr orig = get_link(index, nullptr, what);
  check(rtnl_link_change(sock_.get(), orig.get(), changes, 0), what);
}

void Netlink::rename_link(int index, std::string_view new_name) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_name(changes.get(), checked_name(new_name).c_str());
  change_link(index, changes.get(), "failed to rename link " + std::to_string(index) + " to " + in_quotes(new_name));
}

void Netlink::set_link_up(int index) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);
  change_link(index, changes.get(), "failed to set link " + std::to_string(index) + " up");
}

void Netlink::set_link_down(int index) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_unset_flags(changes.get(), IFF_UP);
  change_link(index, changes.get(), "failed to set link " + std::to_string(index) + " down");
}

void Netlink::set_link_mtu(int index, unsigned mtu) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_mtu(changes.get(), mtu);
  change_link(index, changes.get(), "failed to set mtu " + std::to_string(mtu) + " on link " + std::to_string(index));
}

void Netlink::set_link_mac(int index, std::string_view mac) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_addr(changes.get(), internal::mac_to_nl_addr(mac).get());
  change_link(index, changes.get(), "failed to set MAC " + std::string(mac) + " on link " + std::to_string(index));
}

void Netlink::set_link_master(int index, int master_index) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_master(changes.get(), master_index);
  change_link(index, changes.get(),
              "failed to set master " + std::to_string(master_index) + " on link " + std::to_string(index));
}

void Netlink::move_link_to_netns(int index, int netns_fd) {
  const RtnlLinkPtr changes = alloc_link();
  rtnl_link_set_ns_fd(changes.get(), netns_fd);
  change_link(index, changes.get(), "failed to move link " + std::to_string(index) + " to another netns");
}

void Netlink::move_link_to_netns(int index, const Netns& target) { move_link_to_netns(index, target.fd()); }

bool Netlink::delete_link(std::string_view name) {
  const RtnlLinkPtr link = alloc_link();
  rtnl_link_set_name(link.get(), std::string(name).c_str());
  const int err = rtnl_link_delete(sock_.get(), link.get());
  if (is_gone(err)) return false;
  check(err, "failed to delete link " + in_quotes(name));
  return true;
}

bool Netlink::delete_link(int index) {
  const RtnlLinkPtr link = alloc_link();
  rtnl_link_set_ifindex(link.get(), index);
  const int err = rtnl_link_delete(sock_.get(), link.get());
  if (is_gone(err)) return false;
  check(err, "failed to delete link " + std::to_string(index));
  return true;
}

}  // namespace plexus::net
