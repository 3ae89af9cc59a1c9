#pragma once
// wp-rollup report's command line: its options, the query they ask for, and
// the run that prints it (summary/report.h holds the queries and the output).

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "summary/report.h"

namespace wp {

class Database;
class DayCalendar;

/// What `wp-rollup report` was asked on the command line.
struct ReportRequest {
    std::vector<std::string> by;
    std::vector<std::string> servers;
    std::vector<std::string> users;
    std::vector<std::string> accounts;
    std::vector<std::string> countries;
    std::string from;
    std::string to;
    std::string month;
    std::string day;
    int top = 0;
    bool totals = false;
    std::string format;
    bool si = false;
    bool iec = false;
};

/// Registers the report options on the `report` subcommand.
void add_report_options(CLI::App& report, ReportRequest& request);

/// Checks a request and builds its query (Error(64) for a bad combination).
ReportQuery report_query_for(const ReportRequest& request);

/// Runs `wp-rollup report` on an open database, printing to stdout; notes on
/// stderr when dirty days wait for a refresh. `now` decides "this month".
int run_report(Database& db, const ReportRequest& request, const DayCalendar& calendar, std::int64_t now);

} // namespace wp
