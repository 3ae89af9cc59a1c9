#pragma once
// One host's part of wp-fetchlogs over an open connection: claim its live
// log, bring every claimed file into the spool verified, delete it there.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "remote/remote_host.h"
#include "store/host_status.h"
#include "store/inventory.h"

namespace wp {

/// How claimed files are brought over.
enum class TransferMode { sftp, zstd, automatic };

/// Parses "sftp", "zstd", "auto" (Error(64) otherwise).
TransferMode parse_transfer_mode(std::string_view name);

/// One host's fetch: the result every fan-out tool reports, and what only
/// fetching counts.
struct HostReport {
    /// ok: every claimed file is in the spool and gone from the host;
    /// failed (at step, because of cause); interrupted (Ctrl-C).
    HostResult result;
    int files = 0; ///< claimed files brought into the spool (or found empty)
    std::uint64_t bytes = 0;
    /// With dry_run: what a real run would do, one line each.
    std::vector<std::string> planned;
};

/// Settings of fetch_host_logs that do not come from the server row.
struct HostFetchSettings {
    TransferMode mode = TransferMode::automatic;
    bool dry_run = false;                         ///< list only (HostReport::planned); spool_dir unused
    std::string spool_dir;                        ///< spool/<server>, from prepare_spool_dir
    std::chrono::milliseconds rotate_wait{10000}; ///< how long Squid may take to reopen its log
    /// The longest a command on the host may run (a streamed one: stay
    /// silent); after an SFTP transfer, plus 1 s per 16 MiB for the host's
    /// checksum.
    std::chrono::seconds io_timeout{30};
    std::function<std::int64_t()> clock;         ///< epoch seconds; default: now
    std::function<void(std::uint64_t)> on_bytes; ///< progress
};

/// One host, over an open connection: list, claim the live log and have it
/// reopened, then for each claimed file, oldest first: download, verify size
/// and SHA-256 against the host's own (digest_command), commit into the spool
/// (mode 0640), delete on the host. Stops at the first failure, keeping what
/// was verified and leaving the rest on the host. Throws nothing for a
/// host-level failure: the report says where and why.
HostReport fetch_host_logs(RemoteHost& host, const Server& server, const HostFetchSettings& settings);

} // namespace wp
