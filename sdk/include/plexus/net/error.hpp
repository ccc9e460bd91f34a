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

// True for NLE_EXIST (the kernel's EEXIST / EADDRINUSE), e.g. a second ADD of the same link,
// address or route.
bool is_exists(const std::error_code& code) noexcept;
// True for NLE_OBJ_NOTFOUND and NLE_NODEV (ENODEV, ENOENT, ESRCH) and NLE_NOADDR
// (EADDRNOTAVAIL: deleting an address that is not there): the thing is already gone.
bool is_not_found(const std::error_code& code) noexcept;

}  // namespace plexus::net
