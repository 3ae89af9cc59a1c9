#pragma once
// wp-rollup: sum_usage_daily kept equal to the sums over usage, per day of the
// operator's time zone, refreshed for exactly the (server, day) pairs that
// wp-parse marked dirty.

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "options.h"
#include "report.h"

namespace wp {

class Database;

/// Days are numbered like std::chrono::sys_days: 0 is 1970-01-01. `YYYY-MM-DD`.
std::string day_name(std::int64_t day);
/// A strict `YYYY-MM-DD` (a real date), or nullopt.
std::optional<std::int64_t> parse_day(std::string_view text);

/// The calendar days of a time zone. A day runs from the first instant the
/// zone's clock shows its date to the first instant it shows a later one, so
/// days are contiguous: 24 hours, or 23/25 on a DST change (0 for a date a
/// zone skipped). A usage hour belongs to the day holding its first second.
/// Conversions set the process's TZ for a moment: use a calendar on one thread.
class DayCalendar {
public:
    /// "UTC" (Etc/UTC and the like are taken as "UTC"), or an IANA name of the
    /// system tz database (TZDIR, else /usr/share/zoneinfo); anything else is Error(64).
    explicit DayCalendar(std::string zone = "UTC");

    const std::string& zone() const { return m_zone; }
    /// First UTC epoch second of a day.
    std::int64_t day_start(std::int64_t day) const;
    /// The day holding UTC epoch second t.
    std::int64_t day_of(std::int64_t t) const;

private:
    void compute_starts(std::int64_t first_day, std::int64_t last_day) const;

    std::string m_zone;
    bool m_utc = true;
    mutable std::map<std::int64_t, std::int64_t> m_starts; // day -> start, filled in batches
    mutable std::int64_t m_last_day = 0;                   // day_of's cache of the last answer
    mutable std::int64_t m_last_begin = 1;
    mutable std::int64_t m_last_end = 0;
};

/// Which days a refresh recomputes besides the dirty ones.
struct RefreshWindow {
    bool rebuild = false;                  ///< every day, the summary rebuilt from scratch
    std::optional<std::int64_t> first_day; ///< every server, this day through today
};

/// One (server, day) whose summary rows are recomputed.
struct ServerDay {
    std::int64_t server_id = 0;
    std::int64_t day = 0;
    auto operator<=>(const ServerDay&) const = default;
};

/// What a refresh did.
struct RefreshOutcome {
    std::vector<ServerDay> recomputed; ///< in (server, day) order; empty for a rebuild
    std::int64_t marks_consumed = 0;
    std::int64_t rows_written = 0; ///< inserted or changed
    std::int64_t rows_removed = 0;
};

/// The zone sum_usage_daily was built in: the recorded one, else "UTC" when
/// the summary has rows (built before zones were recorded), else nullopt.
std::optional<std::string> summary_zone(Database& db);

/// (server, day) pairs that dirty marks ask to recompute: every day of the
/// calendar that a marked UTC day overlaps.
std::vector<ServerDay> pending_server_days(Database& db, const DayCalendar& calendar);

/// Recomputes sum_usage_daily for the dirty (server, day) pairs plus the
/// window, in one BEGIN IMMEDIATE transaction that also deletes exactly the
/// dirty marks it read and records the calendar's zone. A summary built in
/// another zone is Error(64) unless the window is a rebuild. With dry_run
/// nothing is written. `now` decides "today".
RefreshOutcome refresh_summary(Database& db, const DayCalendar& calendar, const RefreshWindow& window, std::int64_t now,
                               bool dry_run = false);

/// A summary row that differs from the sums over usage (nullopt: no row).
struct SummaryDifference {
    std::string day;
    std::int64_t server_id = 0;
    std::int64_t user_id = 0;
    std::optional<std::array<std::int64_t, 3>> summary; ///< requests, bytes, billed_bytes
    std::optional<std::array<std::int64_t, 3>> usage;
};

/// What verify_summary found.
struct VerifyOutcome {
    std::vector<SummaryDifference> differences;
    std::int64_t pending = 0; ///< (server, day) pairs waiting for a refresh, not compared
};

/// Recomputes every day from usage and compares it with sum_usage_daily, in
/// one read transaction; pairs that dirty marks still cover are skipped.
VerifyOutcome verify_summary(Database& db, const DayCalendar& calendar);

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
