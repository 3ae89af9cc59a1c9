#pragma once
// Reports: usage grouped by user, account, server, place, day or month, read
// from sum_usage_daily (one day hour by hour from usage), and the figures the
// public site shows.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/calendar.h"
#include "base/table.h"
#include "base/units.h"

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
    /// Adds the counts of other (its keys are not looked at).
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

/// The site figures of `month` (YYYY-MM) and of all time.
SiteTotals site_totals(Database& db, const std::string& month);

/// Writes a report: an aligned table with human sizes, a row for what top
/// left out and a total row (format table), or exact bytes (tsv, csv, json).
void print_report(std::FILE* stream, const ReportQuery& query, const ReportResult& result, OutputFormat format,
                  SizeUnits units);

/// Writes the site figures in the same manner.
void print_site_totals(std::FILE* stream, const SiteTotals& totals, OutputFormat format, SizeUnits units);

} // namespace wp
