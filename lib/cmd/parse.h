#pragma once
// wp-parse: Squid logs in, hourly usage, ledger, archive and rejects out.

#include <string>
#include <vector>

#include "cmd/options.h"

namespace wp {

/// What the wp-parse command line asked for.
struct ParseRequest {
    std::vector<std::string> inputs; ///< files, directories, "-"; empty = the spool
    std::string server;              ///< --server: overrides the name derived from the path
    std::string format = "native";   ///< native, common, combined or a logformat string
    std::string output;              ///< -o FILE or "-": records only, nothing else touched
    bool json = false;
    int jobs = 1;
    double max_reject_ratio = 0.01;
    int zstd_level = 3;
    bool keep = false;               ///< leave ingested spool files in place
    bool force_overlap = false;      ///< bill a file that starts like a billed one
    bool rebuild_db = false;         ///< bill the archive alone into an empty database
};

/// Registers wp-parse's own options on its command line.
void add_parse_options(CLI::App& app, ParseRequest& request);

/// Runs wp-parse; returns the exit status (DESIGN.md's table).
int run_parse(const ParseRequest& request, const CommonOptions& options);

/// The server a log file belongs to: the directory holding it when that is a
/// server's folder inside the spool, else the file name up to its first '.'.
/// Empty when neither gives a valid server name.
std::string server_for_path(const std::string& path, const std::string& spool);

/// The log files an input names: itself, or every *.log, *.log.zst, *.log.gz
/// below a directory (symlinks are not followed), sorted.
std::vector<std::string> expand_input(const std::string& input);

} // namespace wp
