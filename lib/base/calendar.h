#pragma once
// Days and the clock: day numbers, their names, and the calendar days of a
// time zone (the summary's and the reports' days).

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace wp {

/// Current UTC time in epoch seconds (one place, so tests can reason about it).
std::int64_t now_epoch();

/// The broken-down UTC time of epoch second t (gmtime_r).
std::tm utc_time(std::int64_t t);

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

} // namespace wp
