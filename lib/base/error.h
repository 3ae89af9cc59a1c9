#pragma once
// Errors that carry the exit status a tool ends with (each man page's EXIT STATUS lists them).

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace wp {

/// Exit statuses shared by every tool (sysexits.h numbering).
namespace exit_code {
inline constexpr int k_ok = 0;
inline constexpr int k_partial = 1;      ///< done in part: some hosts or files failed
inline constexpr int k_usage = 64;       ///< bad command line
inline constexpr int k_data = 65;        ///< input not understood
inline constexpr int k_no_input = 66;    ///< input missing
inline constexpr int k_unavailable = 69; ///< nothing reachable
inline constexpr int k_cant_create = 73; ///< cannot create output
inline constexpr int k_io = 74;          ///< I/O error
inline constexpr int k_software = 70;    ///< internal error (a bug)
inline constexpr int k_temp_fail = 75;   ///< lock held or temporary failure
inline constexpr int k_no_perm = 77;     ///< permission denied
inline constexpr int k_config = 78;      ///< configuration error
} // namespace exit_code

/// `\x00` for each NUL byte: what() is a C string, which would end there.
std::string escape_nul(const std::string& text);

/// An error a tool reports as `prog: message` and ends with `code`.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string& message) : std::runtime_error(escape_nul(message)), m_code(code) {}
    int code() const noexcept { return m_code; }

private:
    int m_code;
};

/// Throws wp::Error with a fmt-formatted message.
template <typename... Args> [[noreturn]] void fail(int code, fmt::format_string<Args...> format, Args&&... args) {
    throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

/// Exit status that fits an errno from a failed file operation.
int exit_code_for_errno(int err) noexcept;

/// `what: strerror(err)`, thrown with the exit status that fits err.
[[noreturn]] void fail_errno(int err, const std::string& what);

} // namespace wp
