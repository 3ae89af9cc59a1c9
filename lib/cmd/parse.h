#pragma once
// wp-parse's command line: Squid logs in, hourly usage, ledger, archive and
// rejects out (billing/ingest.h does the work).

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
    bool keep = false;          ///< leave ingested spool files in place
    bool force_overlap = false; ///< bill a file that starts like a billed one
    bool rebuild_db = false;    ///< bill the archive alone into an empty database
};

/// Registers wp-parse's own options on its command line.
void add_parse_options(CLI::App& app, ParseRequest& request);

/// Runs wp-parse; returns the exit status (DESIGN.md's table).
int run_parse(const ParseRequest& request, const CommonOptions& options);

} // namespace wp
