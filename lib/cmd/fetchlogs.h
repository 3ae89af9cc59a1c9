#pragma once
// wp-fetchlogs: claim each server's live Squid log, bring every claimed file
// into the spool verified, then delete it on the server. The command line
// and the run over the fleet; one host's work is fetch/host_fetch.h.

#include <string>
#include <vector>

#include "cmd/host_options.h"
#include "cmd/options.h"

namespace wp {

/// What the wp-fetchlogs command line asked for.
struct FetchRequest {
    HostOptions select;            ///< -H, --hosts-file, -x, --where
    bool list = false;             ///< print the selection folded, fetch nothing
    std::string transfer = "auto"; ///< sftp, zstd or auto
    std::string ssh_config;        ///< empty: ~/.ssh/config
    bool accept_new = false;
    bool dry_run = false; ///< connect and list; claim, fetch and record nothing
    int jobs = 8;
    int timeout = 900; ///< seconds for one whole host
    /// Seconds a host's clock may be off ours, beyond the reading's
    /// uncertainty, before a warning that its hours may be misbilled.
    double max_clock_offset = 2.0;
};

/// Registers wp-fetchlogs' own options on its command line.
void add_fetchlogs_options(CLI::App& app, FetchRequest& request);

/// Runs wp-fetchlogs; returns the exit status (0, 1, 69).
int run_fetchlogs(const FetchRequest& request, const CommonOptions& options);

} // namespace wp
