#pragma once
// wp-rollup report: usage grouped by user, account, server, place, day or
// month, read from sum_usage_daily (one day hour by hour from usage), and the
// figures the public site shows.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/table.h"
#include "base/calendar.h"

namespace wp {

class Database;
class DayCalendar;

/// What a report groups by. `hour` reads one day of usage, the others the summary.
enum class ReportKey { user, account, server, country, city, provider, day, month, hour };

/// Keys from names such as {"account,month"} or {"account", "month"};
/// an unknown or repeated name is Error(64).
std::vector<ReportKey> parse_report_keys(const std::vector<std::string>& names);

/// The key's name, which is also its column's.
std::string_view report_key_name(ReportKey key);

/// Grouping, filters and limit of a report. Filters of one kind are OR-ed,
/// kinds are AND-ed; names that match nothing are Error(66).
struct ReportQuery {
    std::vector<ReportKey> keys; ///< none: one row for the whole selection
    std::vector<std::string> servers;
    std::vector<std::string> users;
    std::vector<std::string> accounts;
    std::vector<std::string> countries;
    std::optional<std::string> from;      ///< first day, YYYY-MM-DD
    std::optional<std::string> to;        ///< last day, inclusive
    std::optional<std::int64_t> hour_day; ///< with ReportKey::hour: the day (DayCalendar numbering)
    int top = 0;                          ///< > 0: the N rows with most billed bytes
};

/// One group: its key values (nullopt: no value, e.g. a user without account).
struct ReportRow {
    std::vector<std::optional<std::string>> keys;
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
    std::int64_t billed_bytes = 0;
    void add(const ReportRow& other);
};

/// Rows ordered by their keys (values before no value), or by billed bytes
/// (most first) with top; what top left out, and the total of everything.
struct ReportResult {
    std::vector<ReportRow> rows;
    ReportRow others;
    std::int64_t others_count = 0;
    ReportRow total;
};

/// Runs a report query.
ReportResult query_report(Database& db, const ReportQuery& query, const DayCalendar& calendar);

/// The public site's figures: servers, countries and cities of the active
/// servers, and proxied bytes of a month and of all time.
struct SiteTotals {
    std::int64_t servers = 0;
    std::int64_t countries = 0;
    std::int64_t cities = 0;
    std::string month; ///< YYYY-MM
    std::int64_t month_bytes = 0;
    std::int64_t total_bytes = 0;
};

SiteTotals site_totals(Database& db, const std::string& month);

/// Units of human-readable sizes.
enum class SizeUnits { iec, si };

/// `512 B`, `1.5 KiB`, `3.0 GiB` (iec) or `1.5 kB`, `3.0 GB` (si): one decimal.
std::string human_size(std::int64_t bytes, SizeUnits units);

/// Writes a report: an aligned table with human sizes, a row for what top
/// left out and a total row (format table), or exact bytes (tsv, csv, json).
void print_report(std::FILE* stream, const ReportQuery& query, const ReportResult& result, OutputFormat format,
                  SizeUnits units);

/// Writes the site figures in the same manner.
void print_site_totals(std::FILE* stream, const SiteTotals& totals, OutputFormat format, SizeUnits units);

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
