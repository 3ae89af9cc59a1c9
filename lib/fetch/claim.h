#pragma once
// Claiming a host's live Squid log: the stamped name it is renamed to, the
// one-round-trip survey that claims it and lists every claimed file, and
// Squid's reopen afterwards.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "remote/ssh.h"

namespace wp {

/// The UTC stamp of a claim: 20261125T130000Z.
std::string format_claim_stamp(std::int64_t epoch);

/// The stamp part of a claimed file's name ("20261125T130000Z", or
/// "20261125T130000Z.2" for a second claim in the same second) when name is
/// exactly `<log_base>.wp-<stamp>` with a valid date and time; else empty.
std::string claimed_stamp(std::string_view log_base, std::string_view name);

/// A log path's directory ("/" for a file at the root) and file name.
std::pair<std::string, std::string> split_log_path(std::string_view log_path);

/// name inside dir, as split_log_path split it.
std::string join_path(const std::string& dir, const std::string& name);

/// What the remote survey says about a log's directory (and the host).
struct LogListing {
    std::optional<std::uint64_t> live_size; ///< the live log's size (before a claim), if it existed
    bool live_is_symlink = false;
    bool has_zstd = false;             ///< `zstd` is on the host's PATH
    std::string claimed_now;           ///< the name the live log was claimed under by this survey, or empty
    std::string rotate_outcome;        ///< after a claim: rotate_command's output line
    std::vector<std::string> claimed;  ///< valid claimed names (claimed_now too), oldest first
    std::vector<std::string> rejected; ///< names that matched the glob but are not ours
};

/// The shell command that surveys log_path's directory in one round trip:
/// first the host's clock (clock_command's line, before the records), then
/// the live log's size (or that it is a symbolic link); when it is a
/// non-empty regular file and claim_stamp is not empty, the claim (a rename
/// to `<log>.wp-<claim_stamp>`, or that plus `.N` when taken, never over an
/// existing name) and rotate_command; then every claimed file, and whether
/// zstd is there. Exit status 2 or 3 (before the `L` record): the listing
/// failed; any other failure: the claim did.
std::string survey_command(std::string_view log_path, std::string_view claim_stamp, std::string_view rotate_cmd,
                           std::int64_t wait_ms);

/// Parses survey_command's output after its clock line: NUL-terminated records, `L<size>` for the
/// live log, `S` when it is a symbolic link, `N<name>` for the claim made and
/// `R<outcome>` for its rotate, `C<name>` per claimed file, `Z` when zstd is
/// there. Error(65) when the output is not in that shape.
LogListing parse_listing(std::string_view output, std::string_view log_base);

/// The shell command that runs rotate_cmd, then waits (at most wait_ms) for
/// log_path to exist again; its output is read by parse_rotate_outcome.
std::string rotate_command(std::string_view rotate_cmd, std::string_view log_path, std::int64_t wait_ms);

/// How rotate_command went: empty when the log was reopened, else why not.
std::string parse_rotate_outcome(const ExecResult& result, std::string_view rotate_cmd, std::string_view log_path,
                                 std::int64_t wait_ms);

} // namespace wp
