#pragma once
// wp-rollup's command line: a refresh or a verification of the daily summary
// (summary/rollup.h), or a report (cmd/report.h).

#include <string>

#include <CLI/CLI.hpp>

#include "cmd/options.h"
#include "cmd/report.h"

namespace wp {

/// What the wp-rollup command line asked for.
struct RollupRequest {
    std::string tz; ///< empty: UTC for a refresh, the summary's zone for a report
    int days = 0;
    std::string since;
    bool rebuild = false;
    bool verify = false;
    bool dry_run = false;
    ReportRequest report;
};

/// Registers wp-rollup's options and its `report` subcommand on app.
void add_rollup_commands(CLI::App& app, RollupRequest& request);

/// Runs a refresh, a verification or a report; returns the exit status.
int run_rollup(CLI::App& app, const RollupRequest& request, const CommonOptions& options);

} // namespace wp
