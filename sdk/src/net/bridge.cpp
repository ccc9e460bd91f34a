#include <plexus/net/bridge.hpp>
#include <plexus/net/error.hpp>
#include <plexus/net/handles.hpp>

#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <memory>
#include <new>
#include <string>

namespace plexus::net {
namespace {

struct NlMsgDeleter {
  void operator()(nl_msg* msg) const noexcept { nlmsg_free(msg); }
};
using NlMsgPtr = std::unique_ptr<nl_msg, NlMsgDeleter>;

struct NlCbDeleter {
  void operator()(nl_cb* cb) const noexcept { nl_cb_put(cb); }
};
using NlCbPtr = std::unique_ptr<nl_cb, NlCbDeleter>;

void check(int err, const std::string& what) {
  if (err < 0) throw NetlinkError(err, 0, what);
}

// A NETLINK_ROUTE socket bound to the calling thread's namespace.
NlSockPtr connect_route_socket() {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) throw std::bad_alloc();
  check(nl_connect(sock.get(), NETLINK_ROUTE), "failed to connect a NETLINK_ROUTE socket");
  return sock;
}

// An rtnetlink link message with its ifinfomsg header filled in.
NlMsgPtr link_message(int type, int flags, unsigned char family, int index, unsigned ifi_flags = 0,
                      unsigned ifi_change = 0) {
  NlMsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg) throw std::bad_alloc();
  ifinfomsg header{};
  header.ifi_family = family;
  header.ifi_index = index;
  header.ifi_flags = ifi_flags;
  header.ifi_change = ifi_change;
  check(nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO), "failed to build a link message");
  return msg;
}

// Sends `msg` and waits for the kernel's ACK (nl_send_sync frees the message either way).
void send_and_ack(NlMsgPtr msg, const std::string& what) {
  const NlSockPtr sock = connect_route_socket();
  check(nl_send_sync(sock.get(), msg.release()), what);
}

// Closes a nest opened with nla_nest_start; a null nest means the message ran out of room.
nlattr* open_nest(nl_msg* msg, int type) {
  nlattr* nest = nla_nest_start(msg, type | NLA_F_NESTED);
  if (nest == nullptr) throw NetlinkError(-NLE_NOMEM, 0, "failed to build a link message");
  return nest;
}

void set_port_protinfo_flag(int port_index, int attribute, bool enabled, const char* name) {
  auto msg = link_message(RTM_SETLINK, 0, AF_BRIDGE, port_index);
  nlattr* protinfo = open_nest(msg.get(), IFLA_PROTINFO);
  check(nla_put_u8(msg.get(), attribute, enabled ? 1 : 0), "failed to build a link message");
  nla_nest_end(msg.get(), protinfo);
  send_and_ack(std::move(msg), std::string("failed to set ") + name + " on link " + std::to_string(port_index));
}

void send_port_vlan(int type, int port_index, std::uint16_t vid, std::uint16_t flags, const std::string& what) {
  auto msg = link_message(type, 0, AF_BRIDGE, port_index);
  nlattr* spec = open_nest(msg.get(), IFLA_AF_SPEC);
  check(nla_put_u16(msg.get(), IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_MASTER), what);
  bridge_vlan_info info{};
  info.flags = flags;
  info.vid = vid;
  check(nla_put(msg.get(), IFLA_BRIDGE_VLAN_INFO, sizeof info, &info), what);
  nla_nest_end(msg.get(), spec);
  send_and_ack(std::move(msg), what);
}

struct VlanDump {
  int port_index = 0;
  std::vector<PortVlan> vlans;
};

// NL_CB_VALID handler of the AF_BRIDGE dump: the IFLA_BRIDGE_VLAN_INFO entries of one port.
int collect_port_vlans(nl_msg* msg, void* arg) {
  auto* dump = static_cast<VlanDump*>(arg);
  nlmsghdr* header = nlmsg_hdr(msg);
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(header));
  if (ifi->ifi_index != dump->port_index) return NL_OK;
  nlattr* attrs[IFLA_MAX + 1] = {};
  if (nlmsg_parse(header, sizeof(ifinfomsg), attrs, IFLA_MAX, nullptr) < 0 || attrs[IFLA_AF_SPEC] == nullptr) {
    return NL_OK;
  }
  int remaining = nla_len(attrs[IFLA_AF_SPEC]);
  for (auto* attr = static_cast<nlattr*>(nla_data(attrs[IFLA_AF_SPEC])); nla_ok(attr, remaining);
       attr = nla_next(attr, &remaining)) {
    if (nla_type(attr) != IFLA_BRIDGE_VLAN_INFO || nla_len(attr) < static_cast<int>(sizeof(bridge_vlan_info))) continue;
    const auto* info = static_cast<const bridge_vlan_info*>(nla_data(attr));
    dump->vlans.push_back({info->vid, (info->flags & BRIDGE_VLAN_INFO_PVID) != 0,
                           (info->flags & BRIDGE_VLAN_INFO_UNTAGGED) != 0});
  }
  return NL_OK;
}

}  // namespace

void set_bridge_vlan_filtering(int bridge_index, bool enabled) {
  const std::string what = "failed to set vlan_filtering on link " + std::to_string(bridge_index);
  auto msg = link_message(RTM_NEWLINK, 0, AF_UNSPEC, bridge_index);
  nlattr* linkinfo = open_nest(msg.get(), IFLA_LINKINFO);
  check(nla_put_string(msg.get(), IFLA_INFO_KIND, "bridge"), what);
  nlattr* data = open_nest(msg.get(), IFLA_INFO_DATA);
  check(nla_put_u8(msg.get(), IFLA_BR_VLAN_FILTERING, enabled ? 1 : 0), what);
  nla_nest_end(msg.get(), data);
  nla_nest_end(msg.get(), linkinfo);
  send_and_ack(std::move(msg), what);
}

void set_link_promisc(int index, bool enabled) {
  auto msg = link_message(RTM_NEWLINK, 0, AF_UNSPEC, index, enabled ? unsigned{IFF_PROMISC} : 0U, unsigned{IFF_PROMISC});
  send_and_ack(std::move(msg), "failed to set promiscuous mode on link " + std::to_string(index));
}

void set_port_hairpin(int port_index, bool enabled) {
  set_port_protinfo_flag(port_index, IFLA_BRPORT_MODE, enabled, "hairpin mode");
}

void set_port_isolated(int port_index, bool enabled) {
  set_port_protinfo_flag(port_index, IFLA_BRPORT_ISOLATED, enabled, "port isolation");
}

void add_port_vlan(int port_index, const PortVlan& vlan) {
  std::uint16_t flags = 0;
  if (vlan.pvid) flags |= BRIDGE_VLAN_INFO_PVID;
  if (vlan.untagged) flags |= BRIDGE_VLAN_INFO_UNTAGGED;
  send_port_vlan(RTM_SETLINK, port_index, vlan.vid, flags,
                 "failed to add vlan " + std::to_string(vlan.vid) + " on link " + std::to_string(port_index));
}

void delete_port_vlan(int port_index, std::uint16_t vid) {
  send_port_vlan(RTM_DELLINK, port_index, vid, 0,
                 "failed to delete vlan " + std::to_string(vid) + " on link " + std::to_string(port_index));
}

std::vector<PortVlan> port_vlans(int port_index) {
  const std::string what = "failed to list the vlans of link " + std::to_string(port_index);
  const NlSockPtr sock = connect_route_socket();
  auto msg = link_message(RTM_GETLINK, NLM_F_DUMP, AF_BRIDGE, 0);
  check(nla_put_u32(msg.get(), IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN), what);
  check(nl_send_auto(sock.get(), msg.get()), what);

  VlanDump dump{port_index, {}};
  const NlCbPtr socket_cb(nl_socket_get_cb(sock.get()));  // a new reference
  const NlCbPtr cb(nl_cb_clone(socket_cb.get()));
  if (!cb) throw std::bad_alloc();
  check(nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, collect_port_vlans, &dump), what);
  check(nl_recvmsgs(sock.get(), cb.get()), what);
  return dump.vlans;
}

OperState link_operstate(int index) {
  const NlSockPtr sock = connect_route_socket();
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock.get(), index, nullptr, &raw);
  const RtnlLinkPtr link(raw);
  check(err, "failed to get link " + std::to_string(index));
  return static_cast<OperState>(rtnl_link_get_operstate(link.get()));
}

std::string_view to_string(OperState state) {
  switch (state) {
    case OperState::Unknown: return "unknown";
    case OperState::NotPresent: return "not-present";
    case OperState::Down: return "down";
    case OperState::LowerLayerDown: return "lower-layer-down";
    case OperState::Testing: return "testing";
    case OperState::Dormant: return "dormant";
    case OperState::Up: return "up";
  }
  return "unknown";
}

}  // namespace plexus::net
