#pragma once
// wp-rollup's command line: a refresh or a verification of the daily summary
// (summary/rollup.h), a report (cmd/report.h), a month's statements
// (summary/invoice.h, summary/statement.h) or the quota check.

#include <cstdint>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "cmd/options.h"
#include "cmd/report.h"
#include "health/health_check.h"

namespace wp {

/// What `wp-rollup invoice` was asked.
struct InvoiceRequest {
    std::string account;
    bool unassigned = false;
    bool all_accounts = false;
    std::string month;
    std::string format; ///< empty: table on a terminal, else tsv; html with --all-accounts
    bool si = false;
    bool iec = false;
    std::string output; ///< -o FILE ("-" or empty: stdout)
    std::string outdir; ///< with --all-accounts
};

/// What `wp-rollup quota` was asked: thresholds in percent of the quota.
struct QuotaRequest {
    std::string warn = "80";
    std::string crit = "100";
    bool si = false;
    bool iec = false;
};

/// What the wp-rollup command line asked for.
struct RollupRequest {
    std::string tz; ///< empty: UTC for a refresh, the summary's zone for a report
    int days = 0;
    std::string since;
    bool rebuild = false;
    bool verify = false;
    bool dry_run = false;
    ReportRequest report;
    InvoiceRequest invoice;
    QuotaRequest quota;
};

/// Registers wp-rollup's options and its `report`, `invoice` and `quota` subcommands on app.
void add_rollup_commands(CLI::App& app, RollupRequest& request);

/// Runs a refresh, a verification, a report, statements or the quota check;
/// returns the exit status.
int run_rollup(CLI::App& app, const RollupRequest& request, const CommonOptions& options);

/// Writes the statements an invoice request asks for, for months closed by
/// `now`, days in `zone` (empty: the summary's zone, else UTC); returns the
/// exit status.
int run_invoice(const InvoiceRequest& request, const std::string& zone, const CommonOptions& options, std::int64_t now);

/// Monitoring-plugin statuses of `wp-rollup quota`: those of every check.
using QuotaStatus = CheckStatus;

/// The quota check of the month holding `now`: its one status line (no
/// newline) and status. Never throws: a failure is UNKNOWN.
std::pair<QuotaStatus, std::string> check_quotas(const QuotaRequest& request, const std::string& zone,
                                                 const CommonOptions& options, std::int64_t now);

} // namespace wp
