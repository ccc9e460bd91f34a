// host-local: an IPAM plugin that allocates addresses from ranges and records each allocation as a
// file on the node. Behaves as the reference plugin (containernetworking/plugins
// plugins/ipam/host-local, Debian's 1.1.1) and shares its on-disk format, so allocations carry
// over between the two in both directions:
//   <dataDir>/<network>/<ip>                 "containerid\r\nifname" (older files: the id alone)
//   <dataDir>/<network>/last_reserved_ip.<N> the last IP handed out from range set N
//   <dataDir>/<network>/lock                 flock'ed while allocations are read or changed
// Differences (README.md): files are created 0600, the lock covers the whole ADD, a failed ADD
// releases only what it reserved itself, and GC (spec 1.1.0) is implemented.
#include <plexus/cni/files.hpp>
#include <plexus/cni/go_decode.hpp>
#include <plexus/plugin.hpp>
#include <plexus/scope_guard.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace {

using plexus::Call;
namespace cni = plexus::cni;
namespace fs = std::filesystem;
using cni::ordered_json;

// ---- config -------------------------------------------------------------------------------
// One range after canonicalisation: every field set, start..end inclusive inside subnet.
struct Range {
  cni::IPNet subnet;
  cni::IPAddress start;
  cni::IPAddress end;
  cni::IPAddress gateway;
};
using RangeSet = std::vector<Range>;

struct HostLocalConfig {
  std::string name;
  fs::path data_dir;  // <dataDir>/<network name>
  std::string resolv_conf;
  std::vector<RangeSet> range_sets;
  std::vector<cni::IPAddress> requested;  // CNI_ARGS IP, args.cni.ips, runtimeConfig.ips
  std::vector<cni::Route> routes;
};

constexpr std::string_view kDefaultDataDir = "/var/lib/cni/networks";
constexpr std::string_view kLastReservedPrefix = "last_reserved_ip.";
constexpr std::string_view kLineBreak = "\r\n";
constexpr std::string_view kValidAttachmentsKey = "cni.dev/valid-attachments";

// ---- parse / validate ---------------------------------------------------------------------
// Go's decoder wording, with the reference's code 999 for every config error.
const cni::GoDecoder kGo{static_cast<int>(cni::ErrorCode::Internal)};

[[noreturn]] void fail(std::string message) { kGo.fail(std::move(message)); }

// Go's syscall errors are strerror's text starting lower-case ("no such file or directory").
std::string errno_text(int error) {
  std::string text = std::error_code(error, std::generic_category()).message();  // strerror_r: thread-safe
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// pkg/ip's IP: an address or an address/prefix (the prefix is dropped): "invalid IP address x".
std::vector<cni::IPAddress> ip_list_member(const ordered_json& object, std::string_view key, std::string_view field) {
  std::vector<cni::IPAddress> out;
  const auto* value = kGo.member(object, key);
  if (value == nullptr) return out;
  if (!value->is_array()) kGo.type_error(*value, field, "[]*ip.IP");
  for (const auto& item : *value) {
    if (item.is_null()) continue;
    if (!item.is_string()) kGo.type_error(item, field, "ip.IP");
    const auto text = item.get<std::string>();
    if (auto net = cni::IPNet::parse(text)) {
      out.push_back(net->ip());
    } else if (auto ip = cni::IPAddress::parse(text)) {
      out.push_back(*ip);
    } else {
      fail(fmt::format("invalid IP address {}", text));
    }
  }
  return out;
}

std::vector<cni::Route> parse_routes(const ordered_json& ipam, std::string_view version) {
  std::vector<cni::Route> routes;
  const auto* value = kGo.member(ipam, "routes");
  if (value == nullptr) return routes;
  if (!value->is_array()) kGo.type_error(*value, "IPAMConfig.ipam.routes", "[]*types.Route");
  const bool extended = cni::compare_versions(version, "1.1.0") >= 0;  // types.Route grew fields in 1.1.0
  for (const auto& item : *value) {
    if (!item.is_object()) kGo.type_error(item, "IPAMConfig.ipam.routes", "types.Route");
    cni::Route route;
    const auto dst = kGo.string(item, "dst", "route.dst");
    auto parsed = cni::IPNet::parse(dst);
    if (!parsed) fail(fmt::format("invalid CIDR address: {}", dst));
    route.dst = *parsed;
    route.gw = kGo.ip(item, "gw", "route.gw");
    if (extended) {
      for (auto [key, slot] : {std::pair{"mtu", &route.mtu}, std::pair{"advmss", &route.advmss},
                               std::pair{"priority", &route.priority}, std::pair{"table", &route.table},
                               std::pair{"scope", &route.scope}}) {
        const auto* number = kGo.member(item, key);
        if (number == nullptr) continue;
        if (!number->is_number_integer()) kGo.type_error(*number, fmt::format("Route.{}", key), "int");
        *slot = number->get<int>();
      }
    }
    routes.push_back(route);
  }
  return routes;
}

// ---- IP arithmetic (Go's ip.NextIP / ip.Cmp / lastIP over the address bytes) ----
cni::IPAddress from_bytes(int family, const std::uint8_t* bytes) {
  if (family == 4) return cni::IPAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  std::array<std::uint8_t, 16> b{};
  std::copy(bytes, bytes + 16, b.begin());
  return cni::IPAddress::v6(b);
}

cni::IPAddress next_ip(const cni::IPAddress& ip) {
  std::array<std::uint8_t, 16> bytes{};
  std::copy(ip.data(), ip.data() + ip.size(), bytes.begin());
  for (auto i = ip.size(); i-- > 0;) {
    if (++bytes[i] != 0) break;
  }
  return from_bytes(ip.family(), bytes.data());
}

int compare_ip(const cni::IPAddress& a, const cni::IPAddress& b) {
  if (a.family() != b.family()) return a.family() < b.family() ? -1 : 1;  // as big integers, v4 is smaller
  const int order = std::memcmp(a.data(), b.data(), a.size());
  return order < 0 ? -1 : (order > 0 ? 1 : 0);
}

// The subnet's last address, less the broadcast for IPv4.
cni::IPAddress last_ip(const cni::IPNet& subnet) {
  std::array<std::uint8_t, 16> bytes{};
  const auto& ip = subnet.ip();
  for (std::size_t i = 0; i < ip.size(); ++i) {
    const int bits_before = static_cast<int>(i) * 8;
    const int host_bits = std::clamp(bits_before + 8 - subnet.prefix(), 0, 8);
    bytes[i] = static_cast<std::uint8_t>(ip.data()[i] | ((1U << host_bits) - 1U));
  }
  if (ip.is_v4()) --bytes[3];
  return from_bytes(ip.family(), bytes.data());
}

bool range_contains(const Range& range, const cni::IPAddress& ip) {
  return ip.family() == range.subnet.ip().family() && range.subnet.contains(ip) && compare_ip(ip, range.start) >= 0 &&
         compare_ip(ip, range.end) <= 0;
}

std::string range_string(const Range& range) {
  return fmt::format("{}-{}", range.start.to_string(), range.end.to_string());
}

std::string range_set_string(const RangeSet& set) {
  std::string out;
  for (const auto& range : set) out += (out.empty() ? "" : ",") + range_string(range);
  return out;
}

const Range* range_for(const RangeSet& set, const cni::IPAddress& ip) {
  const auto found = std::find_if(set.begin(), set.end(), [&](const Range& r) { return range_contains(r, ip); });
  return found == set.end() ? nullptr : &*found;
}

bool ranges_overlap(const Range& a, const Range& b) {
  if (a.start.family() != b.start.family()) return false;
  return range_contains(a, b.start) || range_contains(a, b.end) || range_contains(b, a.start) || range_contains(b, a.end);
}

// A range as written; canonicalize() fills the defaults and checks it as Range.Canonicalize does.
struct WrittenRange {
  std::optional<cni::IPNet> subnet;
  std::optional<cni::IPAddress> start;
  std::optional<cni::IPAddress> end;
  std::optional<cni::IPAddress> gateway;
};

WrittenRange parse_range(const ordered_json& object, std::string_view prefix) {
  return {kGo.cidr(object, "subnet", fmt::format("{}.subnet", prefix)),
          kGo.ip(object, "rangeStart", fmt::format("{}.rangeStart", prefix)),
          kGo.ip(object, "rangeEnd", fmt::format("{}.rangeEnd", prefix)),
          kGo.ip(object, "gateway", fmt::format("{}.gateway", prefix))};
}

std::vector<std::vector<WrittenRange>> parse_range_sets(const ordered_json& object, std::string_view key, std::string_view field) {
  std::vector<std::vector<WrittenRange>> sets;
  const auto* value = kGo.member(object, key);
  if (value == nullptr) return sets;
  if (!value->is_array()) kGo.type_error(*value, field, "[]allocator.RangeSet");
  for (const auto& set : *value) {
    std::vector<WrittenRange> ranges;
    if (!set.is_null()) {
      if (!set.is_array()) kGo.type_error(set, field, "allocator.RangeSet");
      for (const auto& range : set) {
        if (!range.is_object()) kGo.type_error(range, field, "allocator.Range");
        ranges.push_back(parse_range(range, fmt::format("Range.{}", field.substr(field.find('.') + 1))));
      }
    }
    sets.push_back(std::move(ranges));
  }
  return sets;
}

Range canonicalize(const WrittenRange& written) {
  if (!written.subnet) fail("IP <nil> not v4 nor v6");
  const auto& subnet = *written.subnet;
  const int bits = subnet.ip().is_v4() ? 32 : 128;
  if (subnet.prefix() > bits - 2) fail(fmt::format("Network {} too small to allocate from", subnet.to_string()));
  const auto network = subnet.network().ip();
  if (network != subnet.ip()) {
    fail(fmt::format("Network has host bits set. For a subnet mask of length {} the network address is {}",
                     subnet.prefix(), network.to_string()));
  }
  // The reference checks each bound against the other one as written (the end before it is
  // defaulted), and does not check that the gateway is in the subnet.
  Range range{subnet, next_ip(network), written.end.value_or(last_ip(subnet)), written.gateway.value_or(next_ip(network))};
  if (written.start) {
    range.start = *written.start;
    const Range bound{subnet, *written.start, written.end.value_or(*written.start), range.gateway};
    if (!range_contains(bound, *written.start)) {
      fail(fmt::format("RangeStart {} not in network {}", written.start->to_string(), subnet.to_string()));
    }
  }
  if (written.end && !range_contains(range, *written.end)) {
    fail(fmt::format("RangeEnd {} not in network {}", written.end->to_string(), subnet.to_string()));
  }
  return range;
}

RangeSet canonicalize_set(const std::vector<WrittenRange>& written) {
  if (written.empty()) fail("empty range set");
  RangeSet set;
  for (const auto& range : written) {
    set.push_back(canonicalize(range));
    if (set.back().start.family() != set.front().start.family()) fail("mixed address families");
  }
  for (std::size_t i = 0; i < set.size(); ++i) {
    for (std::size_t j = i + 1; j < set.size(); ++j) {
      if (ranges_overlap(set[i], set[j])) {
        fail(fmt::format("subnets {} and {} overlap", range_string(set[i]), range_string(set[j])));
      }
    }
  }
  return set;
}

// The reference's allocator.LoadIPAMConfig, in its order.
HostLocalConfig load_config(const Call& call) {
  const auto& conf = call.conf();
  const auto* ipam = conf.find("ipam");
  if (ipam != nullptr && !ipam->is_object()) kGo.type_error(*ipam, "Net.ipam", "allocator.IPAMConfig");

  HostLocalConfig config;
  config.name = conf.name;
  std::vector<std::vector<WrittenRange>> written_sets;
  std::optional<WrittenRange> legacy;
  std::string data_dir;
  if (ipam != nullptr) {
    legacy = parse_range(*ipam, "IPAMConfig.ipam");
    config.routes = parse_routes(*ipam, call.version());
    data_dir = kGo.string(*ipam, "dataDir", "IPAMConfig.ipam.dataDir");
    config.resolv_conf = kGo.string(*ipam, "resolvConf", "IPAMConfig.ipam.resolvConf");
    written_sets = parse_range_sets(*ipam, "ranges", "IPAMConfig.ipam.ranges");
  }
  const auto runtime = conf.runtime_config();
  auto runtime_sets = parse_range_sets(runtime, "ipRanges", "Net.runtimeConfig.ipRanges");
  auto runtime_ips = ip_list_member(runtime, "ips", "Net.runtimeConfig.ips");
  const auto args_object = conf.args();  // owned here: kGo.member() points into it
  const auto* cni_args = kGo.member(args_object, "cni");
  auto args_ips = cni_args != nullptr ? ip_list_member(*cni_args, "ips", "IPAMArgs.args.cni.ips") : std::vector<cni::IPAddress>{};

  if (ipam == nullptr) fail("IPAM config missing 'ipam' key");
  // The network's directory stays under dataDir whoever runs this (libcni checks the name; a
  // runtime that execs host-local directly may not).
  config.data_dir = cni::path_under(data_dir.empty() ? std::string(kDefaultDataDir) : data_dir, config.name, "network name");

  if (!call.request().args.empty()) {
    const auto args = call.args();
    args.require_known({"IP"});
    if (auto ip = args.get("IP"); ip && !ip->empty()) {
      auto parsed = cni::IPAddress::parse(*ip);
      if (!parsed) fail(fmt::format("ARGS: error parsing value of pair \"IP={}\": invalid IP address {}", *ip, *ip));
      config.requested.push_back(*parsed);
    }
  }
  config.requested.insert(config.requested.end(), args_ips.begin(), args_ips.end());
  config.requested.insert(config.requested.end(), runtime_ips.begin(), runtime_ips.end());

  // The legacy single range first, then runtimeConfig.ipRanges in front of everything.
  if (legacy && legacy->subnet) written_sets.insert(written_sets.begin(), std::vector<WrittenRange>{*legacy});
  written_sets.insert(written_sets.begin(), runtime_sets.begin(), runtime_sets.end());
  if (written_sets.empty()) fail("no IP ranges specified");

  int v4_sets = 0;
  int v6_sets = 0;
  for (std::size_t i = 0; i < written_sets.size(); ++i) {
    try {
      config.range_sets.push_back(canonicalize_set(written_sets[i]));
    } catch (const cni::Error& e) {
      fail(fmt::format("invalid range set {}: {}", i, e.msg()));
    }
    (config.range_sets.back().front().start.is_v4() ? v4_sets : v6_sets)++;
  }
  if ((v4_sets > 1 || v6_sets > 1) && (conf.cni_version.empty() || cni::compare_versions(conf.cni_version, "0.3.0") < 0)) {
    fail(fmt::format("CNI version {} does not support more than 1 address per family", conf.cni_version));
  }
  for (std::size_t i = 0; i + 1 < config.range_sets.size(); ++i) {
    for (std::size_t j = i + 1; j < config.range_sets.size(); ++j) {
      for (const auto& a : config.range_sets[i]) {
        for (const auto& b : config.range_sets[j]) {
          if (ranges_overlap(a, b)) fail(fmt::format("range set {} overlaps with {}", i, j));
        }
      }
    }
  }
  return config;
}

// ---- helpers: resolv.conf -------------------------------------------------------------------
cni::DNS parse_resolv_conf(const std::string& path) {
  // Bounded and regular files only: a resolvConf of /dev/zero or a FIFO must neither fill the
  // memory nor hang (code 7 naming the file).
  const auto bytes = cni::read_file_bounded(path, cni::kMaxResolvConfBytes, "resolvConf");
  if (!bytes) fail(fmt::format("open {}: {}", path, errno_text(ENOENT)));
  std::istringstream in(*bytes);
  cni::DNS dns;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string word; words >> word;) fields.push_back(word);
    if (fields.size() < 2 || fields[0].front() == '#' || fields[0].front() == ';') continue;
    if (fields[0] == "nameserver") {
      dns.nameservers.push_back(fields[1]);
    } else if (fields[0] == "domain") {
      dns.domain = fields[1];
    } else if (fields[0] == "search") {
      dns.search.insert(dns.search.end(), fields.begin() + 1, fields.end());
    } else if (fields[0] == "options") {
      dns.options.insert(dns.options.end(), fields.begin() + 1, fields.end());
    }
  }
  return dns;
}

// ---- helpers: the store ---------------------------------------------------------------------
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string trim(std::string_view text) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One allocation file: the IP it is named after and its owner.
struct Allocation {
  fs::path path;
  cni::IPAddress ip;
  std::string container_id;
  std::optional<std::string> ifname;  // none in files written before ifnames were recorded
};

// The disk backend: one directory per network, a flock'ed `lock` file guarding it.
class Store {
 public:
  explicit Store(fs::path dir) : dir_(std::move(dir)), lock_fd_(open_lock(dir_)) {}

  // Held while allocations are read or changed; released when the returned guard goes.
  [[nodiscard]] plexus::ScopeGuard lock() {
    while (::flock(lock_fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) fail(fmt::format("flock {}: {}", (dir_ / "lock").string(), errno_text(errno)));
    }
    return plexus::ScopeGuard([fd = lock_fd_.get()] { ::flock(fd, LOCK_UN); });
  }

  // Creates the file for ip (O_EXCL: false when someone holds it) and records it as the range
  // set's last reserved IP.
  bool reserve(const std::string& container_id, const std::string& ifname, const cni::IPAddress& ip, std::size_t range_id) {
    const auto path = dir_ / ip.to_string();
    const UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      if (errno == EEXIST) return false;
      fail(fmt::format("open {}: {}", path.string(), errno_text(errno)));
    }
    plexus::ScopeGuard remove_file([&] { fs::remove(path); });
    write_all(fd.get(), path, trim(container_id) + std::string(kLineBreak) + ifname);
    write_whole_file(dir_ / fmt::format("{}{}", kLastReservedPrefix, range_id), ip.to_string());
    remove_file.dismiss();
    return true;
  }

  std::optional<cni::IPAddress> last_reserved(std::size_t range_id) const {
    const auto text = read_file(dir_ / fmt::format("{}{}", kLastReservedPrefix, range_id));
    return text ? cni::IPAddress::parse(*text) : std::nullopt;
  }

  // Every allocation file, in name order (the reference walks the directory lexically).
  std::vector<Allocation> allocations() const {
    std::vector<Allocation> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec)) continue;
      const auto ip = cni::IPAddress::parse(entry.path().filename().string());
      if (!ip) continue;
      const auto content = read_file(entry.path());
      if (!content) continue;
      const auto owner = trim(*content);
      const auto separator = owner.find(kLineBreak);
      if (separator == std::string::npos) {
        out.push_back({entry.path(), *ip, owner, std::nullopt});
      } else {
        out.push_back({entry.path(), *ip, owner.substr(0, separator), owner.substr(separator + kLineBreak.size())});
      }
    }
    std::sort(out.begin(), out.end(), [](const Allocation& a, const Allocation& b) { return a.path < b.path; });
    return out;
  }

  // The reference's matching for DEL and CHECK: "id\r\nifname" first; only if none, files
  // holding the id alone. The duplicate check of ADD (either_form) takes both kinds at once.
  std::vector<Allocation> owned_by(const std::string& container_id, const std::string& ifname, bool either_form = false) const {
    const auto id = trim(container_id);
    std::vector<Allocation> exact;
    std::vector<Allocation> legacy;
    for (auto& allocation : allocations()) {
      if (allocation.container_id != id) continue;
      if (allocation.ifname == ifname || (either_form && !allocation.ifname)) exact.push_back(allocation);
      if (!allocation.ifname) legacy.push_back(allocation);
    }
    return exact.empty() ? legacy : exact;
  }

  void release(const Allocation& allocation) {
    std::error_code ignored;  // as the reference: release as much as possible
    fs::remove(allocation.path, ignored);
  }

  void release(const cni::IPAddress& ip) {
    std::error_code ignored;
    fs::remove(dir_ / ip.to_string(), ignored);
  }

 private:
  static int open_lock(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(fmt::format("mkdir {}: {}", dir.string(), errno_text(ec.value())));
    const auto path = dir / "lock";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) fail(fmt::format("open {}: {}", path.string(), errno_text(errno)));
    return fd;
  }

  static void write_all(int fd, const fs::path& path, std::string_view bytes) {
    while (!bytes.empty()) {
      const auto written = ::write(fd, bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) fail(fmt::format("write {}: {}", path.string(), errno_text(errno)));
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  static void write_whole_file(const fs::path& path, std::string_view bytes) {
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) fail(fmt::format("open {}: {}", path.string(), errno_text(errno)));
    write_all(fd.get(), path, bytes);
  }

  fs::path dir_;
  UniqueFd lock_fd_;
};

// ---- helpers: allocation --------------------------------------------------------------------
// Round robin over a range set: from the address after last_reserved_ip (or the first range's
// start), through each range's start..end, wrapping, never yielding a gateway; nullopt once it is
// back where it began.
class RangeIterator {
 public:
  RangeIterator(const RangeSet& set, std::optional<cni::IPAddress> last_reserved) : set_(set) {
    if (last_reserved) {
      for (std::size_t i = 0; i < set_.size(); ++i) {
        if (range_contains(set_[i], *last_reserved)) {
          index_ = i;
          current_ = last_reserved;
          return;
        }
      }
    }
    start_ = set_.front().start;
  }

  std::optional<std::pair<cni::IPAddress, const Range*>> next() {
    while (true) {
      const Range* range = &set_[index_];
      if (!current_) {
        current_ = range->start;
        start_ = current_;
        if (*current_ != range->gateway) return std::pair{*current_, range};
        continue;
      }
      if (*current_ == range->end) {
        index_ = (index_ + 1) % set_.size();
        range = &set_[index_];
        current_ = range->start;
      } else {
        current_ = next_ip(*current_);
      }
      if (!start_) {
        start_ = current_;
      } else if (*current_ == *start_) {
        return std::nullopt;
      }
      if (*current_ != range->gateway) return std::pair{*current_, range};
    }
  }

 private:
  const RangeSet& set_;
  std::size_t index_ = 0;
  std::optional<cni::IPAddress> current_;
  std::optional<cni::IPAddress> start_;
};

cni::IPConfig allocate(Store& store, const RangeSet& set, std::size_t range_id, const Call& call,
                       const std::optional<cni::IPAddress>& requested) {
  if (requested) {
    const Range* range = range_for(set, *requested);
    if (range == nullptr) fail(fmt::format("{} not in range set {}", requested->to_string(), range_set_string(set)));
    if (*requested == range->gateway) fail(fmt::format("requested ip {} is subnet's gateway", requested->to_string()));
    if (!store.reserve(call.container_id(), call.ifname(), *requested, range_id)) {
      fail(fmt::format("requested IP address {} is not available in range set {}", requested->to_string(), range_set_string(set)));
    }
    return {cni::IPNet(*requested, range->subnet.prefix()), range->gateway, std::nullopt};
  }
  // A second ADD for the same attachment is refused, as the spec asks.
  for (const auto& allocation : store.owned_by(call.container_id(), call.ifname(), true)) {
    if (range_for(set, allocation.ip) != nullptr) {
      fail(fmt::format("{} has been allocated to {}, duplicate allocation is not allowed", allocation.ip.to_string(),
                       call.container_id()));
    }
  }
  RangeIterator candidates(set, store.last_reserved(range_id));
  while (auto candidate = candidates.next()) {
    const auto& [ip, range] = *candidate;
    if (store.reserve(call.container_id(), call.ifname(), ip, range_id)) {
      return {cni::IPNet(ip, range->subnet.prefix()), range->gateway, std::nullopt};
    }
  }
  fail(fmt::format("no IP addresses available in range set: {}", range_set_string(set)));
}

struct Attachment {
  std::string container_id;
  std::string ifname;
  friend auto operator<=>(const Attachment&, const Attachment&) = default;
};

// cni.dev/valid-attachments: [{"containerID":..,"ifname":..}]; nullopt when the key is absent.
std::optional<std::set<Attachment>> valid_attachments(const Call& call) {
  const auto* value = call.conf().find(kValidAttachmentsKey);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) kGo.type_error(*value, "GCAttachment", "[]types.GCAttachment");
  std::set<Attachment> out;
  for (const auto& item : *value) {
    out.insert({kGo.string(item, "containerID", "GCAttachment.containerID"), kGo.string(item, "ifname", "GCAttachment.ifname")});
  }
  return out;
}

// ---- commands -----------------------------------------------------------------------------
class HostLocal final : public plexus::Plugin {
 public:
  static constexpr const char* kName = "host-local";
  static constexpr const char* kVersion = "1.1.1";

  cni::Result add(const Call& call) override {
    const auto config = load_config(call);
    cni::Result result;
    result.cni_version = call.version();
    if (!config.resolv_conf.empty()) result.dns = parse_resolv_conf(config.resolv_conf);

    Store store(config.data_dir);
    const auto unlock = store.lock();
    auto requested = config.requested;
    std::vector<cni::IPAddress> reserved;
    plexus::ScopeGuard release_reserved([&] {
      for (const auto& ip : reserved) store.release(ip);
    });
    for (std::size_t index = 0; index < config.range_sets.size(); ++index) {
      const auto& set = config.range_sets[index];
      std::optional<cni::IPAddress> wanted;
      const auto match = std::find_if(requested.begin(), requested.end(), [&](const cni::IPAddress& ip) {
        return range_for(set, ip) != nullptr;
      });
      if (match != requested.end()) {
        wanted = *match;
        // A requested IP is one request, however many times it was listed.
        requested.erase(std::remove(requested.begin(), requested.end(), *match), requested.end());
      }
      try {
        result.ips.push_back(allocate(store, set, index, call, wanted));
      } catch (const cni::Error& e) {
        fail(fmt::format("failed to allocate for range {}: {}", index, e.msg()));
      }
      reserved.push_back(result.ips.back().address.ip());
    }
    if (!requested.empty()) {
      std::string message = "failed to allocate all requested IPs:";
      std::vector<std::string> seen;
      for (const auto& ip : requested) {
        if (std::find(seen.begin(), seen.end(), ip.to_string()) != seen.end()) continue;
        seen.push_back(ip.to_string());
        message += " " + seen.back();
      }
      fail(message);
    }
    result.routes = config.routes;
    release_reserved.dismiss();
    return result;
  }

  void del(const Call& call) override {
    const auto config = load_config(call);
    Store store(config.data_dir);
    const auto unlock = store.lock();
    for (const auto& allocation : store.owned_by(call.container_id(), call.ifname())) store.release(allocation);
  }

  void check(const Call& call) override {
    const auto config = load_config(call);
    Store store(config.data_dir);
    const auto unlock = store.lock();
    if (store.owned_by(call.container_id(), call.ifname()).empty()) {
      fail(fmt::format("host-local: Failed to find address added by container {}", call.container_id()));
    }
  }

  // Not in the reference (it has no GC): frees every allocation whose attachment is not listed.
  void gc(const Call& call) override {
    const auto valid = valid_attachments(call);
    if (!valid) return;  // no list, no way to tell stale from live: keep everything
    const auto config = load_config(call);
    Store store(config.data_dir);
    const auto unlock = store.lock();
    for (const auto& allocation : store.allocations()) {
      const bool live = allocation.ifname
                            ? valid->contains({allocation.container_id, *allocation.ifname})
                            : std::any_of(valid->begin(), valid->end(), [&](const Attachment& a) {
                                return a.container_id == allocation.container_id;
                              });
      if (!live) store.release(allocation);
    }
  }
};

}  // namespace

PLEXUS_PLUGIN(HostLocal)
