#pragma once
// wp-hosts: the inventory without SQL.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/host_options.h"
#include "cmd/options.h"
#include "health/health_check.h"
#include "store/inventory.h"

namespace wp {

/// wp-hosts check's thresholds as written (parsed by the check, so that a bad
/// one is UNKNOWN) and where its metrics go.
struct CheckRequest {
    std::string warn_fetch_age = "2h";
    std::string crit_fetch_age = "6h";
    std::string warn_failures = "1";
    std::string crit_failures = "3";
    std::string warn_clock = "2s";
    std::string crit_clock = "10s";
    std::string warn_spool_files = "none";
    std::string crit_spool_files = "none";
    std::string warn_spool_bytes = "none";
    std::string crit_spool_bytes = "none";
    std::string warn_spool_age = "2h";
    std::string crit_spool_age = "6h";
    std::string warn_rejects_held = "1";
    std::string crit_rejects_held = "none";
    std::string warn_summary_age = "2h";
    std::string crit_summary_age = "6h";
    std::string prometheus; ///< node_exporter textfile to write; empty: none
};

/// What the wp-hosts command line asked for.
struct HostsRequest {
    HostOptions select; ///< list: -H, --hosts-file, -x, --where
    std::string where;
    bool all = false;
    std::string format;
    std::vector<std::string> names;
    std::string import_file;
    Server server;         ///< for add
    ServerChanges changes; ///< for set (and the field options of add)
    CheckRequest check;
    std::string migrate_to; ///< migrate-db: the PostgreSQL database to copy into
};

/// Registers list/add/set/retire/import/status/show/check/migrate-db on app, filling request.
void add_hosts_commands(CLI::App& app, HostsRequest& request);

/// wp-hosts check: the pipeline judged, its status and its one line (UNKNOWN
/// for a bad threshold, a database that cannot be read, or --prometheus FILE
/// that cannot be written); the metrics file written when asked.
std::pair<CheckStatus, std::string> check_pipeline(const CheckRequest& request, const CommonOptions& options,
                                                   std::int64_t now);

/// Runs the selected subcommand; returns the exit status.
int run_hosts(CLI::App& app, const HostsRequest& request, const CommonOptions& options);

} // namespace wp
