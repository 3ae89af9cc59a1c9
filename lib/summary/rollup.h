#pragma once
// sum_usage_daily kept equal to the sums over usage, per day of the
// operator's time zone, refreshed for exactly the (server, day) pairs that
// wp-parse marked dirty.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/calendar.h"

struct sqlite3_context;
struct sqlite3_value;

namespace wp {

class Database;

/// rollup_day(hour) in SQL, the calendar's day number of a UTC second, for
/// as long as this lives.
class DayFunction {
public:
    DayFunction(Database& db, const DayCalendar& calendar);
    ~DayFunction();
    DayFunction(const DayFunction&) = delete;
    DayFunction& operator=(const DayFunction&) = delete;

private:
    static void call(sqlite3_context* ctx, int argc, sqlite3_value** argv);
    Database& m_db;
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

/// Error(64), naming both zones and the way out, when a summary built in
/// `built` is to be read or refreshed in the zone `asked`; nothing when they
/// match or nothing was built yet.
void check_summary_zone(const std::optional<std::string>& built, const std::string& asked);

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
    /// Rows where the class split does not add up (usage vs its classes, a
    /// class's bytes x factor vs its billed bytes, the summary vs its classes),
    /// each described with its server, user and hour or day.
    std::vector<std::string> split_errors;
};

/// Recomputes every day from usage and compares it with sum_usage_daily, and
/// checks the class split's identities, in one read transaction; pairs that
/// dirty marks still cover are skipped.
VerifyOutcome verify_summary(Database& db, const DayCalendar& calendar);

} // namespace wp
