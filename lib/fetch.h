#pragma once
// wp-fetchlogs: claim each server's live Squid log, bring every claimed file
// into the spool verified, then delete it on the server.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inventory.h"
#include "options.h"
#include "ssh.h"

namespace wp {

/// What the wp-fetchlogs command line asked for.
struct FetchRequest {
    std::vector<std::string> hosts; ///< -H: only these (inactive ones too)
    std::string where;              ///< read-only SQL filter on servers
    std::string transfer = "auto";  ///< sftp, zstd or auto
    std::string ssh_config;         ///< empty: ~/.ssh/config
    bool accept_new = false;
    int jobs = 4;
    int timeout = 900; ///< seconds for one whole host
};

/// How claimed files are brought over.
enum class TransferMode { sftp, zstd, automatic };

/// Parses "sftp", "zstd", "auto" (Error(64) otherwise).
TransferMode parse_transfer_mode(std::string_view name);

/// The UTC stamp of a claim: 20261125T130000Z.
std::string format_claim_stamp(std::int64_t epoch);

/// The stamp part of a claimed file's name ("20261125T130000Z", or
/// "20261125T130000Z.2" for a second claim in the same second) when name is
/// exactly `<log_base>.wp-<stamp>` with a valid date and time; else empty.
std::string claimed_stamp(std::string_view log_base, std::string_view name);

/// What the remote listing says about a log's directory (and the host).
struct LogListing {
    std::optional<std::uint64_t> live_size; ///< the live log's size, if it exists
    bool live_is_symlink = false;
    bool has_zstd = false; ///< `zstd` is on the host's PATH
    std::vector<std::string> claimed;  ///< valid claimed names, oldest first
    std::vector<std::string> rejected; ///< names that matched the glob but are not ours
};

/// The shell command that lists log_path's directory for parse_listing.
std::string listing_command(std::string_view log_path);

/// Parses listing_command's output: NUL-terminated records, `L<size>` for the
/// live log, `S` when it is a symbolic link, `Z` when zstd is there,
/// `C<name>` per candidate. Error(65) when the output is not in that shape.
LogListing parse_listing(std::string_view output, std::string_view log_base);

/// The shell command that runs rotate_cmd, then waits (at most wait_ms) for
/// log_path to exist again; its output is read by parse_rotate_outcome.
std::string rotate_command(std::string_view rotate_cmd, std::string_view log_path, std::int64_t wait_ms);

/// How rotate_command went: empty when the log was reopened, else why not.
std::string parse_rotate_outcome(const ExecResult& result, std::string_view rotate_cmd, std::string_view log_path,
                                 std::int64_t wait_ms);

/// A name for this run's claim that none of the existing names has.
std::string next_claim_name(std::string_view log_base, std::string_view stamp,
                            const std::vector<std::string>& existing);

/// The spool file name for a claimed file's stamp: `<server>.<stamp>.log`.
std::string spool_file_name(std::string_view server, std::string_view stamp);

/// Size and SHA-256 as the remote host computed them.
struct RemoteDigest {
    std::uint64_t size = 0;
    std::string sha256;
};

/// The shell command whose output parse_remote_digest reads.
std::string digest_command(std::string_view path);

/// Parses `wc -c` then `sha256sum` output; nullopt when malformed.
std::optional<RemoteDigest> parse_remote_digest(std::string_view output);

/// What fetching needs from a host: a shell, and a way to read a file. An SSH
/// session in production, a local shell in unit tests.
class RemoteHost {
public:
    virtual ~RemoteHost() = default;
    /// Runs a shell command; with on_stdout, its output is streamed there.
    virtual ExecResult run(const std::string& command,
                           const std::function<void(std::string_view)>& on_stdout = {}) = 0;
    /// Reads a whole file over SFTP into sink.
    virtual void download(const std::string& path, const std::function<void(std::string_view)>& sink) = 0;
};

/// How one host's run ended.
enum class HostOutcome {
    ok,          ///< every claimed file is in the spool and gone from the host
    unreachable, ///< did not answer: counted quietly
    failed,      ///< answered, then failed at `step`: a warning
    interrupted, ///< stopped by Ctrl-C
};

/// One host's result.
struct HostReport {
    std::string server;
    HostOutcome outcome = HostOutcome::ok;
    std::string step;  ///< e.g. "download /var/log/squid/access.log.wp-20261125T130000Z"
    std::string cause; ///< e.g. "checksum mismatch (…)"
    int files = 0;     ///< claimed files brought into the spool (or found empty)
    std::uint64_t bytes = 0;
    /// "step: cause", or cause alone.
    std::string message() const;
};

/// Settings of fetch_host_logs that do not come from the server row.
struct HostFetchSettings {
    TransferMode mode = TransferMode::automatic;
    std::string spool_dir;                     ///< spool/<server>, checked and created
    std::chrono::milliseconds rotate_wait{10000}; ///< how long Squid may take to reopen its log
    std::function<std::int64_t()> clock;       ///< epoch seconds; default: now
    std::function<void(std::uint64_t)> on_bytes; ///< progress
};

/// One host, over an open connection: list, claim the live log and have it
/// reopened, then for each claimed file, oldest first: download, verify size
/// and SHA-256 against the host's own sha256sum, commit into the spool
/// (mode 0640), delete on the host. Stops at the first failure, keeping what
/// was verified and leaving the rest on the host. Throws nothing for a
/// host-level failure: the report says where and why.
HostReport fetch_host_logs(RemoteHost& host, const Server& server, const HostFetchSettings& settings);

/// Prepares spool/<server>: validates the name, creates the directory 0750,
/// refuses a symbolic link or non-directory, removes temporaries a killed
/// run left. Returns its path; Error on failure.
std::string prepare_spool_dir(const std::string& spool, const std::string& server);

/// Runs wp-fetchlogs; returns the exit status (0, 1, 69).
int run_fetchlogs(const FetchRequest& request, const CommonOptions& options);

} // namespace wp
