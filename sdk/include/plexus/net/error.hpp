// libnl errors as std::error_code: a "libnl" category whose values are libnl's NLE_* codes
// (positive), whose message() is nl_geterror(), and which compares equal to the std::errc
// conditions it stands for, so a caller can tell "exists" from "not found" (DEL stays idempotent).
#pragma once

#include <string>
#include <system_error>

namespace plexus::net {

const std::error_category& netlink_category() noexcept;

// `nle` is what libnl returned: a negative (or positive) NLE_* code.
std::error_code make_netlink_error(int nle) noexcept;

// Throws std::system_error{make_netlink_error(nle), what}. what() reads "<what>: <nl_geterror>".
[[noreturn]] void throw_netlink_error(int nle, const std::string& what);

// What the Netlink operations throw: a std::system_error in netlink_category() that also keeps
// the kernel's own errno when the kernel refused the request (libnl folds several errnos into one
// NLE code, e.g. ENOENT, ENODEV and ESRCH all become NLE_OBJ_NOTFOUND).
class NetlinkError : public std::system_error {
 public:
  NetlinkError(int nle, int kernel_errno, const std::string& what);
  // The errno of the kernel's NLMSG_ERROR (positive), 0 when the failure was not the kernel's.
  int kernel_errno() const noexcept { return kernel_errno_; }
  // The cause as Go's syscall.Errno prints it ("file exists", "no such device"), which is what
  // the reference plugins' messages end with; code().message() when there is no kernel errno.
  std::string kernel_message() const;

 private:
  int kernel_errno_;
};

// Go's text for an errno: strerror with its first letter lower-cased ("file exists").
std::string errno_text(int error);

// True for NLE_EXIST (the kernel's EEXIST / EADDRINUSE), e.g. a second ADD of the same link,
// address or route.
bool is_exists(const std::error_code& code) noexcept;
// True for NLE_OBJ_NOTFOUND and NLE_NODEV (ENODEV, ENOENT, ESRCH) and NLE_NOADDR
// (EADDRNOTAVAIL: deleting an address that is not there): the thing is already gone.
bool is_not_found(const std::error_code& code) noexcept;

}  // namespace plexus::net
