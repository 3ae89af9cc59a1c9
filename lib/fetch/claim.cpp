#include "fetch/claim.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "store/host_clock.h"

namespace wp {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int two_digits(std::string_view s, std::size_t at) {
    return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

bool valid_stamp(std::string_view s) {
    // YYYYMMDDTHHMMSSZ
    if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
        return false;
    }
    for (std::size_t i = 0; i < 15; ++i) {
        if (i != 8 && !is_digit(s[i])) {
            return false;
        }
    }
    const int month = two_digits(s, 4);
    const int day = two_digits(s, 6);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && two_digits(s, 9) <= 23 && two_digits(s, 11) <= 59 &&
           two_digits(s, 13) <= 60;
}

// Oldest first: by stamp, then by the same-second counter.
std::pair<std::string, int> claim_order(std::string_view stamp) {
    const auto dot = stamp.find('.');
    if (dot == std::string_view::npos) {
        return {std::string(stamp), 0};
    }
    return {std::string(stamp.substr(0, dot)), std::stoi(std::string(stamp.substr(dot + 1)))};
}

} // namespace

std::pair<std::string, std::string> split_log_path(std::string_view log_path) {
    const auto slash = log_path.rfind('/');
    std::string dir(log_path.substr(0, slash));
    if (dir.empty()) {
        dir = "/";
    }
    return {dir, std::string(log_path.substr(slash + 1))};
}

std::string join_path(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string format_claim_stamp(std::int64_t epoch) {
    const std::tm tm = utc_time(epoch);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

std::string claimed_stamp(std::string_view log_base, std::string_view name) {
    const std::string prefix = fmt::format("{}.wp-", log_base);
    if (log_base.empty() || name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) {
        return {};
    }
    const std::string_view stamp = name.substr(prefix.size());
    if (!valid_stamp(stamp.substr(0, 16))) {
        return {};
    }
    if (stamp.size() > 16) {
        // A second claim in the same second: ".N", N in 1..999.
        const std::string_view n = stamp.substr(17);
        if (stamp[16] != '.' || n.empty() || n.size() > 3 || n[0] == '0' ||
            !std::all_of(n.begin(), n.end(), is_digit)) {
            return {};
        }
    }
    return std::string(stamp);
}

std::string survey_command(std::string_view log_path, std::string_view claim_stamp, std::string_view rotate_cmd,
                           std::int64_t wait_ms) {
    const auto [dir, base] = split_log_path(log_path);
    // $s unquoted: a padded `wc -c` (BSD) loses its blanks. The claim runs
    // only on a size that is a number above zero; the rotate command's own
    // output goes to stderr (see rotate_command), so that stdout carries
    // only the records.
    return fmt::format(
        "{clock}\n"
        "cd -- {dir} || exit 2\n"
        "if [ -h {b} ]; then printf 'S\\0'\n"
        "elif [ -f {b} ]; then\n"
        "  s=$(wc -c < {b}) || exit 3\n"
        "  printf 'L%s\\0' $s\n"
        "  if [ -n {stamp} ] && [ $s -gt 0 ] 2>/dev/null; then\n"
        "    n={b}.wp-{stamp}; i=0\n"
        "    while [ -e \"$n\" ] || [ -h \"$n\" ]; do\n"
        "      i=$((i+1))\n"
        "      if [ $i -gt 999 ]; then echo a thousand claims stamped {stamp}: try again in a second >&2; exit 1; fi\n"
        "      n={b}.wp-{stamp}.$i\n"
        "    done\n"
        "    mv -- {b} \"$n\" || exit 1\n"
        "    printf 'N%s\\0' \"$n\"\n"
        "    r=$({rotate})\n"
        "    printf 'R%s\\0' \"$r\"\n"
        "  fi\n"
        "fi\n"
        "for f in {b}.wp-*; do if [ -f \"$f\" ] && [ ! -h \"$f\" ]; then printf 'C%s\\0' \"$f\"; fi; done\n"
        "if command -v zstd >/dev/null 2>&1; then printf 'Z\\0'; fi\n",
        fmt::arg("clock", clock_command()), fmt::arg("dir", shell_quote(dir)), fmt::arg("b", shell_quote(base)),
        fmt::arg("stamp", shell_quote(claim_stamp)), fmt::arg("rotate", rotate_command(rotate_cmd, log_path, wait_ms)));
}

LogListing parse_listing(std::string_view output, std::string_view log_base) {
    LogListing listing;
    if (!output.empty() && output.back() != '\0') {
        fail(exit_code::k_data, "listing does not end with a NUL");
    }
    std::size_t pos = 0;
    while (pos < output.size()) {
        const auto end = output.find('\0', pos);
        const std::string_view record = output.substr(pos, end - pos);
        pos = end + 1;
        if (record.empty()) {
            fail(exit_code::k_data, "empty record in listing");
        }
        const std::string_view value = record.substr(1);
        switch (record[0]) {
        case 'L': {
            if (value.empty() || value.size() > 19 || !std::all_of(value.begin(), value.end(), is_digit) ||
                listing.live_size || listing.live_is_symlink) {
                fail(exit_code::k_data, "bad size '{}' in listing", escape_control(value));
            }
            listing.live_size = std::stoull(std::string(value));
            break;
        }
        case 'S':
            if (listing.live_size || listing.live_is_symlink) {
                fail(exit_code::k_data, "a second live log in listing");
            }
            listing.live_is_symlink = true;
            break;
        case 'Z':
            listing.has_zstd = true;
            break;
        case 'N':
            if (claimed_stamp(log_base, value).empty() || !listing.claimed_now.empty()) {
                fail(exit_code::k_data, "unexpected claim '{}' in listing", escape_control(value));
            }
            listing.claimed_now = value;
            break;
        case 'R':
            listing.rotate_outcome = value;
            break;
        case 'C':
            if (!claimed_stamp(log_base, value).empty()) {
                listing.claimed.emplace_back(value);
            } else {
                listing.rejected.emplace_back(value);
            }
            break;
        default:
            fail(exit_code::k_data, "unexpected record '{}' in listing", escape_control(record));
        }
    }
    std::sort(listing.claimed.begin(), listing.claimed.end(), [&](const auto& a, const auto& b) {
        return claim_order(claimed_stamp(log_base, a)) < claim_order(claimed_stamp(log_base, b));
    });
    if (!listing.claimed_now.empty() &&
        std::find(listing.claimed.begin(), listing.claimed.end(), listing.claimed_now) == listing.claimed.end()) {
        fail(exit_code::k_data, "the claimed {} is not in the listing", escape_control(listing.claimed_now));
    }
    return listing;
}

std::string rotate_command(std::string_view rotate_cmd, std::string_view log_path, std::int64_t wait_ms) {
    // One round trip: the rotate command, then a wait on the host itself.
    // Rotate's own output goes to stderr, so that stdout carries only ours.
    return fmt::format("/bin/sh -c {rot} >&2\n"
                       "s=$?\n"
                       "if [ $s -ne 0 ]; then echo rotate-failed $s; exit 0; fi\n"
                       "i=0\n"
                       "while [ ! -e {log} ]; do\n"
                       "  if [ $i -ge {n} ]; then echo not-reopened; exit 0; fi\n"
                       "  sleep 0.1 2>/dev/null || sleep 1\n"
                       "  i=$((i+1))\n"
                       "done\n"
                       "echo reopened\n",
                       fmt::arg("rot", shell_quote(rotate_cmd)), fmt::arg("log", shell_quote(log_path)),
                       fmt::arg("n", std::max<std::int64_t>(1, wait_ms / 100)));
}

std::string parse_rotate_outcome(const ExecResult& result, std::string_view rotate_cmd, std::string_view log_path,
                                 std::int64_t wait_ms) {
    if (!result.ok()) {
        return result.describe();
    }
    if (result.out == "reopened\n") {
        return {};
    }
    if (result.out == "not-reopened\n") {
        return fmt::format("{} did not reappear within {} ms of '{}': Squid has not reopened its log, so the "
                           "claimed files stay on the host",
                           log_path, wait_ms, rotate_cmd);
    }
    constexpr std::string_view k_failed = "rotate-failed ";
    if (result.out.rfind(k_failed, 0) == 0) {
        ExecResult rotate = result;
        rotate.exit_status = std::atoi(result.out.c_str() + k_failed.size());
        return fmt::format("'{}': {}", rotate_cmd, rotate.describe());
    }
    return fmt::format("unexpected output: {}", escape_control(result.out.substr(0, 200)));
}

} // namespace wp
