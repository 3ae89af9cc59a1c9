#include "base/calendar.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sys/stat.h>

#include <fmt/format.h>

#include "base/error.h"

namespace wp {

namespace {

constexpr std::int64_t k_day_seconds = 86400;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

std::int64_t civil_day(int year, unsigned month, unsigned day) {
    using namespace std::chrono;
    return sys_days(year_month_day(std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)))
        .time_since_epoch()
        .count();
}

std::string zone_directory() {
    const char* dir = std::getenv("TZDIR");
    return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
}

// Names as the tz database spells them (America/Argentina/Buenos_Aires,
// Etc/GMT+5, America/Port-au-Prince): no dots, so no "..", no absolute path.
bool plausible_zone_name(std::string_view name) {
    if (name.empty() || name.size() > 128 || name.front() == '/' || name.back() == '/' ||
        name.find("//") != std::string_view::npos) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
               c == '+' || c == '-';
    });
}

bool is_tzif_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, sizeof magic);
    return in.gcount() == 4 && std::string_view(magic, 4) == "TZif";
}

// glibc converts in the zone named by TZ, so the calendar switches TZ around
// its conversions and restores it; wp-rollup converts on one thread only.
class ScopedZone {
public:
    explicit ScopedZone(const std::string& zone) {
        if (const char* old = std::getenv("TZ"); old != nullptr) {
            m_old = old;
        }
        ::setenv("TZ", (":" + zone).c_str(), 1);
        ::tzset();
    }
    ~ScopedZone() {
        if (m_old) {
            ::setenv("TZ", m_old->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    ScopedZone(const ScopedZone&) = delete;
    ScopedZone& operator=(const ScopedZone&) = delete;

private:
    std::optional<std::string> m_old;
};

// The local calendar date of t, in the zone TZ names now.
std::int64_t local_day(std::int64_t t) {
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::localtime_r(&tt, &tm);
    return civil_day(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday));
}

// The first instant the local clock shows day (or a later date). Offsets lie
// within -12h..+14h, so the search starts 16 hours before UTC midnight; an
// hourly walk, then 15-minute steps (every zone's transitions and offsets are
// quarter hours), then seconds for the odd historical offset.
std::int64_t find_day_start(std::int64_t day) {
    std::int64_t t = day * k_day_seconds - 16 * 3600;
    const std::int64_t limit = day * k_day_seconds + 16 * 3600;
    while (t < limit && local_day(t + 3600) < day) {
        t += 3600;
    }
    while (local_day(t + 900) < day) {
        t += 900;
    }
    std::int64_t lo = t;
    std::int64_t hi = t + 900;
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        (local_day(mid) < day ? lo : hi) = mid;
    }
    return hi;
}

} // namespace

std::int64_t now_epoch() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::tm utc_time(std::int64_t t) {
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    return tm;
}

// ---- days -------------------------------------------------------------------

std::string day_name(std::int64_t day) {
    using namespace std::chrono;
    const year_month_day ymd{sys_days{days{day}}};
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()));
}

std::optional<std::int64_t> parse_day(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    int parts[3] = {0, 0, 0};
    const std::size_t starts[3] = {0, 5, 8};
    const std::size_t lengths[3] = {4, 2, 2};
    for (int i = 0; i < 3; ++i) {
        for (std::size_t k = 0; k < lengths[i]; ++k) {
            const char c = text[starts[i] + k];
            if (c < '0' || c > '9') {
                return std::nullopt;
            }
            parts[i] = parts[i] * 10 + (c - '0');
        }
    }
    using namespace std::chrono;
    const year_month_day ymd{year(parts[0]), month(static_cast<unsigned>(parts[1])),
                             day(static_cast<unsigned>(parts[2]))};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return sys_days(ymd).time_since_epoch().count();
}

DayCalendar::DayCalendar(std::string zone) : m_zone(std::move(zone)) {
    // The tz database's other names of UTC are recorded as UTC, so a summary
    // built with one of them is not refused with another.
    for (const char* alias : {"Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}) {
        if (m_zone == alias) {
            m_zone = "UTC";
        }
    }
    if (m_zone == "UTC") {
        m_utc = true;
        return;
    }
    m_utc = false;
    const std::string dir = zone_directory();
    if (!plausible_zone_name(m_zone) || !is_tzif_file(dir + "/" + m_zone)) {
        fail(exit_code::k_usage, "unknown time zone '{}': not a zone of the tz database in {} (e.g. America/Toronto)",
             m_zone, dir);
    }
}

void DayCalendar::compute_starts(std::int64_t first_day, std::int64_t last_day) const {
    ScopedZone zone(m_zone);
    for (std::int64_t d = first_day; d <= last_day; ++d) {
        if (m_starts.find(d) == m_starts.end()) {
            m_starts.emplace(d, find_day_start(d));
        }
    }
}

std::int64_t DayCalendar::day_start(std::int64_t day) const {
    if (m_utc) {
        return day * k_day_seconds;
    }
    auto it = m_starts.find(day);
    if (it == m_starts.end()) {
        // Callers move through days in order: convert a batch per switch of TZ.
        compute_starts(day - 8, day + 56);
        it = m_starts.find(day);
    }
    return it->second;
}

std::int64_t DayCalendar::day_of(std::int64_t t) const {
    if (m_utc) {
        return floor_div(t, k_day_seconds);
    }
    if (t >= m_last_begin && t < m_last_end) {
        return m_last_day;
    }
    // The latest day that has started by t; with offsets within a day of UTC
    // that is one of the UTC day's neighbours.
    std::int64_t day = floor_div(t, k_day_seconds) + 2;
    while (day_start(day) > t) {
        --day;
    }
    m_last_day = day;
    m_last_begin = day_start(day);
    m_last_end = day_start(day + 1);
    return day;
}

} // namespace wp
