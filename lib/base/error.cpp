#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace wp {

std::string escape_nul(const std::string& text) {
    if (text.find('\0') == std::string::npos) {
        return text;
    }
    std::string out;
    for (char c : text) {
        if (c == '\0') {
            out += "\\x00";
        } else {
            out += c;
        }
    }
    return out;
}

int exit_code_for_errno(int err) noexcept {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return exit_code::k_no_input;
    case EACCES:
    case EPERM:
    case EROFS:
        return exit_code::k_no_perm;
    case ENOSPC:
    case EDQUOT:
    case EIO:
        return exit_code::k_io;
    case EWOULDBLOCK:
        return exit_code::k_temp_fail;
    default:
        return exit_code::k_io;
    }
}

void fail_errno(int err, const std::string& what) {
    throw Error(exit_code_for_errno(err), fmt::format("{}: {}", what, std::strerror(err)));
}

} // namespace wp
