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

#include "store/inventory.h"
#include "cmd/options.h"
#include "remote/ssh.h"

namespace wp {

/// What the wp-fetchlogs command line asked for.
struct FetchRequest {
    std::vector<std::string> hosts; ///< -H: only these (inactive ones too)
    std::string where;              ///< read-only SQL filter on servers
    std::string transfer = "auto";  ///< sftp, zstd or auto
    std::string ssh_config;         ///< empty: ~/.ssh/config
    bool accept_new = false;
    bool dry_run = false; ///< connect and list; claim, fetch and record nothing
    int jobs = 8;
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
/// the live log's size (or that it is a symbolic link); when it is a
/// non-empty regular file and claim_stamp is not empty, the claim (a rename
/// to `<log>.wp-<claim_stamp>`, or that plus `.N` when taken, never over an
/// existing name) and rotate_command; then every claimed file, and whether
/// zstd is there. Exit status 2 or 3 (before the `L` record): the listing
/// failed; any other failure: the claim did.
std::string survey_command(std::string_view log_path, std::string_view claim_stamp, std::string_view rotate_cmd,
                           std::int64_t wait_ms);

/// Parses survey_command's output: NUL-terminated records, `L<size>` for the
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

/// The spool file name for a claimed file's stamp: `<server>.<stamp>.log`.
std::string spool_file_name(std::string_view server, std::string_view stamp);

/// Size and SHA-256 as the remote host computed them.
struct RemoteDigest {
    std::uint64_t size = 0;
    std::string sha256;
};

/// The shell command whose output parse_remote_digest reads: the size of
/// path, then its SHA-256 by `openssl dgst` when the host has it, else by
/// `sha256sum`.
std::string digest_command(std::string_view path);

/// Parses digest_command's output: `wc -c`, then a line that starts with the
/// SHA-256 in hexadecimal (`sha256sum`, `openssl dgst -r`); nullopt when
/// malformed.
std::optional<RemoteDigest> parse_remote_digest(std::string_view output);

/// The shell command that sends path compressed (`zstd -1 -c`) on stdout and
/// meanwhile computes its size and SHA-256 as digest_command does, reported
/// on stderr in `wp-digest:` lines; exits with zstd's status.
std::string zstd_stream_command(std::string_view path);

/// Takes zstd_stream_command's two `wp-digest:` lines out of result.err and
/// parses them; nullopt when they are missing, more, or malformed.
std::optional<RemoteDigest> take_stream_digest(ExecResult& result);

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
    /// Starts a shell command, runs meanwhile (which may use this host), then
    /// waits for the command at most as long as meanwhile returned, and
    /// returns its result. If meanwhile throws, the command is ended.
    virtual ExecResult run_alongside(const std::string& command,
                                     const std::function<std::chrono::seconds()>& meanwhile) = 0;
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
    /// With dry_run: what a real run would do, one line each.
    std::vector<std::string> planned;
    /// "step: cause", or cause alone.
    std::string message() const;
};

/// Settings of fetch_host_logs that do not come from the server row.
struct HostFetchSettings {
    TransferMode mode = TransferMode::automatic;
    bool dry_run = false;                      ///< list only (HostReport::planned); spool_dir unused
    std::string spool_dir;                     ///< spool/<server>, checked and created
    std::chrono::milliseconds rotate_wait{10000}; ///< how long Squid may take to reopen its log
    std::chrono::seconds io_timeout{30};          ///< plus 1 s per 16 MiB: the host's checksum after a transfer
    std::function<std::int64_t()> clock;       ///< epoch seconds; default: now
    std::function<void(std::uint64_t)> on_bytes; ///< progress
};

/// One host, over an open connection: list, claim the live log and have it
/// reopened, then for each claimed file, oldest first: download, verify size
/// and SHA-256 against the host's own (digest_command), commit into the spool
/// (mode 0640), delete on the host. Stops at the first failure, keeping what
/// was verified and leaving the rest on the host. Throws nothing for a
/// host-level failure: the report says where and why.
HostReport fetch_host_logs(RemoteHost& host, const Server& server, const HostFetchSettings& settings);

/// Prepares spool/<server>: validates the name, creates the directory 0750,
/// refuses a symbolic link or non-directory, removes temporaries a killed
/// run left. Returns its path; Error on failure.
std::string prepare_spool_dir(const std::string& spool, const std::string& server);

/// Registers wp-fetchlogs' own options on its command line.
void add_fetchlogs_options(CLI::App& app, FetchRequest& request);

/// Runs wp-fetchlogs; returns the exit status (0, 1, 69).
int run_fetchlogs(const FetchRequest& request, const CommonOptions& options);

} // namespace wp
