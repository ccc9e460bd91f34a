#include <plexus/net/error.hpp>

#include <netlink/errno.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace plexus::net {
namespace {

class NetlinkCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libnl"; }

  std::string message(int value) const override { return nl_geterror(value); }

  // Lets callers write `code == std::errc::file_exists` as well as use is_exists().
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (value) {
      case NLE_EXIST: return std::errc::file_exists;
      case NLE_OBJ_NOTFOUND:
      case NLE_NODEV: return std::errc::no_such_device;
      case NLE_NOADDR: return std::errc::address_not_available;
      case NLE_INVAL: return std::errc::invalid_argument;
      case NLE_RANGE: return std::errc::result_out_of_range;
      case NLE_BUSY: return std::errc::device_or_resource_busy;
      case NLE_PERM: return std::errc::operation_not_permitted;
      case NLE_NOACCESS: return std::errc::permission_denied;
      case NLE_OPNOTSUPP: return std::errc::operation_not_supported;
      case NLE_AF_NOSUPPORT: return std::errc::address_family_not_supported;
      case NLE_NOMEM: return std::errc::not_enough_memory;
      case NLE_AGAIN: return std::errc::resource_unavailable_try_again;
      case NLE_INTR: return std::errc::interrupted;
      default: return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& netlink_category() noexcept {
  static const NetlinkCategory category;
  return category;
}

std::error_code make_netlink_error(int nle) noexcept { return {std::abs(nle), netlink_category()}; }

void throw_netlink_error(int nle, const std::string& what) {
  throw std::system_error(make_netlink_error(nle), what);
}

NetlinkError::NetlinkError(int nle, int kernel_errno, const std::string& what)
    : std::system_error(make_netlink_error(nle), what), kernel_errno_(kernel_errno) {}

std::string NetlinkError::kernel_message() const {
  return kernel_errno_ != 0 ? errno_text(kernel_errno_) : code().message();
}

std::string errno_text(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool is_exists(const std::error_code& code) noexcept {
  return code.category() == netlink_category() && code.value() == NLE_EXIST;
}

bool is_not_found(const std::error_code& code) noexcept {
  if (code.category() != netlink_category()) return false;
  return code.value() == NLE_OBJ_NOTFOUND || code.value() == NLE_NODEV || code.value() == NLE_NOADDR;
}

}  // namespace plexus::net
