#include "rollup.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "error.h"
#include "fs.h"
#include "table.h"
#include "tool.h"

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

// ---- SQL ----------------------------------------------------------------------


// One (server, day): ?1 server, ?2/?3 the day's first and next day's first
// second, ?4 its name. The users of the server are walked by index seeks
// (a skip scan of the primary key), then each user's hours by a range seek,
// so the cost follows the server's users and the day's rows, never the table.
constexpr std::string_view k_upsert_server_day = R"SQL(
WITH RECURSIVE server_users(id) AS (
    SELECT (SELECT min(user_id) FROM usage WHERE server_id = ?1)
    UNION ALL
    SELECT (SELECT min(user_id) FROM usage WHERE server_id = ?1 AND user_id > server_users.id)
    FROM server_users WHERE server_users.id IS NOT NULL
)
INSERT INTO sum_usage_daily(day, server_id, user_id, requests, bytes, billed_bytes)
SELECT ?4, ?1, g.user_id, sum(g.requests), sum(g.bytes), sum(g.billed_bytes)
FROM server_users su CROSS JOIN usage g
WHERE su.id IS NOT NULL AND g.server_id = ?1 AND g.user_id = su.id AND g.hour >= ?2 AND g.hour < ?3
GROUP BY g.user_id
ON CONFLICT(day, server_id, user_id) DO UPDATE SET
    requests = excluded.requests, bytes = excluded.bytes, billed_bytes = excluded.billed_bytes
WHERE requests <> excluded.requests OR bytes <> excluded.bytes OR billed_bytes <> excluded.billed_bytes
)SQL";

constexpr std::string_view k_remove_gone = R"SQL(
DELETE FROM sum_usage_daily
WHERE day = ?4 AND server_id = ?1 AND NOT EXISTS (
    SELECT 1 FROM usage g
    WHERE g.server_id = ?1 AND g.user_id = sum_usage_daily.user_id AND g.hour >= ?2 AND g.hour < ?3)
)SQL";

// A whole server's days in one pass over its rows, grouped in the summary's
// key order. {day} is the day of `hour`: plain division for UTC, else
// rollup_day(), the calendar registered by DayFunction.
constexpr std::string_view k_server_days = R"SQL(
SELECT d, user_id, sum(requests), sum(bytes), sum(billed_bytes)
FROM (SELECT {day} AS d, user_id, requests, bytes, billed_bytes FROM usage WHERE server_id = ?1)
GROUP BY d, user_id
ORDER BY d, user_id
)SQL";

constexpr std::string_view k_rebuild_server = R"SQL(
INSERT INTO sum_usage_daily(day, server_id, user_id, requests, bytes, billed_bytes)
SELECT date(d * 86400, 'unixepoch'), ?1, user_id, r, b, bb FROM (
    SELECT {day} AS d, user_id, sum(requests) AS r, sum(bytes) AS b, sum(billed_bytes) AS bb
    FROM usage WHERE server_id = ?1
    GROUP BY d, user_id
    ORDER BY d, user_id)
)SQL";

// Usage hours are never before 1970, so integer division is the UTC day.
std::string with_day_of_hour(std::string_view sql, const DayCalendar& calendar) {
    std::string text(sql);
    const auto at = text.find("{day}");
    text.replace(at, 5, calendar.zone() == "UTC" ? "(hour / 86400)" : "rollup_day(hour)");
    return text;
}

// rollup_day(hour) in SQL for as long as this lives.
class DayFunction {
public:
    DayFunction(Database& db, const DayCalendar& calendar) : m_db(db) {
        const int rc = sqlite3_create_function_v2(
            db.handle(), "rollup_day", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
            const_cast<DayCalendar*>(&calendar), &call, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            db.throw_error(rc, "cannot register rollup_day()");
        }
    }
    ~DayFunction() {
        sqlite3_create_function_v2(m_db.handle(), "rollup_day", 1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr,
                                   nullptr);
    }
    DayFunction(const DayFunction&) = delete;
    DayFunction& operator=(const DayFunction&) = delete;

private:
    static void call(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
        const auto* calendar = static_cast<const DayCalendar*>(sqlite3_user_data(ctx));
        sqlite3_result_int64(ctx, calendar->day_of(sqlite3_value_int64(argv[0])));
    }
    Database& m_db;
};

// A read transaction: one snapshot for every query of a check.
class ReadSnapshot {
public:
    explicit ReadSnapshot(Database& db) : m_db(db) { m_db.exec("BEGIN"); }
    ~ReadSnapshot() { sqlite3_exec(m_db.handle(), "COMMIT", nullptr, nullptr, nullptr); }
    ReadSnapshot(const ReadSnapshot&) = delete;
    ReadSnapshot& operator=(const ReadSnapshot&) = delete;

private:
    Database& m_db;
};

struct DirtyMark {
    std::int64_t server_id;
    std::string day;
};

std::vector<DirtyMark> read_marks(Database& db) {
    std::vector<DirtyMark> marks;
    auto st = db.prepare("SELECT server_id, day FROM dirty_days ORDER BY server_id, day");
    while (st.step()) {
        marks.push_back({st.column_int64(0), st.column_text(1)});
    }
    return marks;
}

// Every calendar day that the hours of a marked UTC day fall in.
std::set<ServerDay> expand_marks(const std::vector<DirtyMark>& marks, const DayCalendar& calendar) {
    std::set<ServerDay> pairs;
    for (const auto& m : marks) {
        const auto utc_day = parse_day(m.day);
        if (!utc_day) {
            warn("dirty_days holds '{}' for server {}, which is not a date; ignored", m.day, m.server_id);
            continue;
        }
        const std::int64_t first_hour = *utc_day * k_day_seconds;
        const std::int64_t last = calendar.day_of(first_hour + 23 * 3600);
        for (std::int64_t d = calendar.day_of(first_hour); d <= last; ++d) {
            pairs.insert({m.server_id, d});
        }
    }
    return pairs;
}

std::vector<std::int64_t> server_ids(Database& db) {
    std::vector<std::int64_t> ids;
    auto st = db.prepare("SELECT id FROM servers ORDER BY id");
    while (st.step()) {
        ids.push_back(st.column_int64(0));
    }
    return ids;
}

std::optional<std::int64_t> single_int(Database& db, std::string_view sql) {
    auto st = db.prepare(sql);
    if (!st.step() || st.is_null(0)) {
        return std::nullopt;
    }
    return st.column_int64(0);
}

[[noreturn]] void zone_mismatch(const std::string& built, const std::string& asked) {
    fail(exit_code::k_usage,
         "the summary's days are in time zone {}, not {}: give --tz {} (or tz = {} in wp.conf), "
         "or rebuild it with --rebuild --tz {}",
         built, asked, built, built, asked);
}

// Recomputes (server, day) pairs with two persistent statements.
class ServerDayRefresher {
public:
    ServerDayRefresher(Database& db, const DayCalendar& calendar)
        : m_db(db), m_calendar(calendar), m_upsert(db, k_upsert_server_day), m_remove(db, k_remove_gone) {}

    void refresh(const ServerDay& p, RefreshOutcome& out) {
        const std::int64_t begin = m_calendar.day_start(p.day);
        const std::int64_t end = m_calendar.day_start(p.day + 1);
        const std::string name = day_name(p.day);
        m_upsert.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name);
        m_upsert.run();
        out.rows_written += m_db.changes();
        m_remove.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name);
        m_remove.run();
        out.rows_removed += m_db.changes();
    }

private:
    Database& m_db;
    const DayCalendar& m_calendar;
    Statement m_upsert;
    Statement m_remove;
};

} // namespace

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

// ---- summary ----------------------------------------------------------------

std::optional<std::string> summary_zone(Database& db) {
    {
        auto st = db.prepare("SELECT zone FROM rollup_state WHERE id = 1");
        if (st.step()) {
            return st.column_text(0);
        }
    }
    if (single_int(db, "SELECT 1 FROM sum_usage_daily LIMIT 1")) {
        return std::string("UTC");
    }
    return std::nullopt;
}

std::vector<ServerDay> pending_server_days(Database& db, const DayCalendar& calendar) {
    const auto pairs = expand_marks(read_marks(db), calendar);
    return {pairs.begin(), pairs.end()};
}

RefreshOutcome refresh_summary(Database& db, const DayCalendar& calendar, const RefreshWindow& window, std::int64_t now,
                               bool dry_run) {
    RefreshOutcome out;
    // BEGIN IMMEDIATE: wp-parse cannot commit usage or marks between our
    // reading the marks and deleting them; its next marks wait for our commit.
    Transaction tx(db);
    if (const auto built = summary_zone(db); built && *built != calendar.zone() && !window.rebuild) {
        zone_mismatch(*built, calendar.zone());
    }
    const auto marks = read_marks(db);
    out.marks_consumed = static_cast<std::int64_t>(marks.size());

    if (window.rebuild) {
        if (!dry_run) {
            db.exec("DELETE FROM sum_usage_daily");
            // Each server's rows go into every day of the summary: a cache that
            // holds the summary's pages being filled saves re-reading them.
            db.exec("PRAGMA cache_size = -16384");
            DayFunction day_function(db, calendar);
            Statement insert(db, with_day_of_hour(k_rebuild_server, calendar));
            for (const auto id : server_ids(db)) {
                insert.bind(1, id).run();
                out.rows_written += db.changes();
            }
            db.exec("PRAGMA cache_size = -2000");
        }
    } else {
        std::set<ServerDay> pairs = expand_marks(marks, calendar);
        if (window.first_day) {
            const std::int64_t today = calendar.day_of(now);
            const auto first_hour = single_int(db, "SELECT min(hour) FROM usage");
            const auto last_hour = single_int(db, "SELECT max(hour) FROM usage");
            // Days of the window without usage keep no summary rows.
            std::int64_t first = today + 1;
            std::int64_t last = today;
            if (first_hour && last_hour) {
                first = std::max(*window.first_day, calendar.day_of(*first_hour));
                last = std::min(today, calendar.day_of(*last_hour));
            }
            if (!dry_run) {
                auto clear = db.prepare("DELETE FROM sum_usage_daily WHERE day >= ? AND day <= ?");
                auto clear_days = [&](std::int64_t from, std::int64_t to) {
                    clear.bind(1, day_name(from)).bind(2, day_name(to)).run();
                    out.rows_removed += db.changes();
                };
                if (first > last) {
                    clear_days(*window.first_day, today);
                } else {
                    clear_days(*window.first_day, first - 1);
                    clear_days(last + 1, today);
                }
            }
            for (const auto id : server_ids(db)) {
                for (std::int64_t d = first; d <= last; ++d) {
                    pairs.insert({id, d});
                }
            }
        }
        out.recomputed.assign(pairs.begin(), pairs.end());
        if (!dry_run) {
            ServerDayRefresher refresher(db, calendar);
            for (const auto& p : out.recomputed) {
                refresher.refresh(p, out);
            }
        }
    }

    // Exactly the marks read above: wp-parse's later marks stay for the next run.
    auto consume = db.prepare("DELETE FROM dirty_days WHERE server_id = ? AND day = ?");
    for (const auto& m : marks) {
        consume.bind(1, m.server_id).bind(2, m.day).run();
    }
    auto state = db.prepare("INSERT INTO rollup_state(id, zone, rebuilt_at, refreshed_at) VALUES (1, ?1, ?2, ?3) "
                            "ON CONFLICT(id) DO UPDATE SET zone = excluded.zone, refreshed_at = excluded.refreshed_at, "
                            "rebuilt_at = coalesce(excluded.rebuilt_at, rebuilt_at)");
    state.bind(1, calendar.zone());
    if (window.rebuild) {
        state.bind(2, now);
    } else {
        state.bind(2, nullptr);
    }
    state.bind(3, now).run();
    if (!dry_run) {
        tx.commit();
    }
    return out;
}

VerifyOutcome verify_summary(Database& db, const DayCalendar& calendar) {
    VerifyOutcome out;
    ReadSnapshot snapshot(db);
    const auto pending = expand_marks(read_marks(db), calendar);
    out.pending = static_cast<std::int64_t>(pending.size());

    struct Row {
        std::string day;
        std::int64_t server_id;
        std::int64_t user_id;
        std::array<std::int64_t, 3> counts;
    };
    std::vector<Row> expected;
    {
        DayFunction day_function(db, calendar);
        Statement days(db, with_day_of_hour(k_server_days, calendar));
        for (const auto id : server_ids(db)) {
            days.bind(1, id);
            while (days.step()) {
                const std::int64_t d = days.column_int64(0);
                if (pending.count({id, d}) == 0) {
                    expected.push_back({day_name(d),
                                        id,
                                        days.column_int64(1),
                                        {days.column_int64(2), days.column_int64(3), days.column_int64(4)}});
                }
            }
            days.reset();
        }
    }
    auto key_less = [](const auto& a, const auto& b) {
        return std::tie(a.day, a.server_id, a.user_id) < std::tie(b.day, b.server_id, b.user_id);
    };
    std::sort(expected.begin(), expected.end(), key_less);

    auto summary = db.prepare("SELECT day, server_id, user_id, requests, bytes, billed_bytes FROM sum_usage_daily "
                              "ORDER BY day, server_id, user_id");
    auto e = expected.begin();
    auto emit_expected_until = [&](const Row* bound) {
        while (e != expected.end() && (bound == nullptr || key_less(*e, *bound))) {
            out.differences.push_back({e->day, e->server_id, e->user_id, std::nullopt, e->counts});
            ++e;
        }
    };
    while (summary.step()) {
        Row s{summary.column_text(0),
              summary.column_int64(1),
              summary.column_int64(2),
              {summary.column_int64(3), summary.column_int64(4), summary.column_int64(5)}};
        if (const auto d = parse_day(s.day); d && pending.count({s.server_id, *d}) != 0) {
            continue;
        }
        emit_expected_until(&s);
        if (e != expected.end() && !key_less(s, *e)) { // same key
            if (e->counts != s.counts) {
                out.differences.push_back({s.day, s.server_id, s.user_id, s.counts, e->counts});
            }
            ++e;
        } else {
            out.differences.push_back({s.day, s.server_id, s.user_id, s.counts, std::nullopt});
        }
    }
    emit_expected_until(nullptr);
    return out;
}

// ---- command line ---------------------------------------------------------------

namespace {

std::string name_of(Database& db, std::string_view table, std::int64_t id) {
    auto st = db.prepare(table == "servers" ? "SELECT name FROM servers WHERE id = ?"
                                            : "SELECT name FROM users WHERE id = ?");
    st.bind(1, id);
    return st.step() ? st.column_text(0) : fmt::format("#{}", id);
}

std::string describe(const std::optional<std::array<std::int64_t, 3>>& counts) {
    if (!counts) {
        return "no row";
    }
    return fmt::format("{} requests, {} bytes, {} billed", (*counts)[0], (*counts)[1], (*counts)[2]);
}

int run_verify(const RollupRequest& r, const CommonOptions& o) {
    auto db = open_for_reading(o.db);
    const DayCalendar calendar(r.tz.empty() ? "UTC" : r.tz);
    if (const auto built = summary_zone(*db); built && *built != calendar.zone()) {
        zone_mismatch(*built, calendar.zone());
    }
    // A sum that overflowed into a REAL (older versions), or a negative one,
    // is no bill whatever the summary says.
    for (const std::string_view table : {"usage", "sum_usage_daily"}) {
        auto bad = db->prepare(fmt::format(
            "SELECT count(*), min(CAST(bytes AS TEXT) || ' bytes, ' || CAST(billed_bytes AS TEXT) || ' billed, ' || "
            "CAST(requests AS TEXT) || ' requests') FROM {} WHERE typeof(requests) <> 'integer' OR typeof(bytes) <> "
            "'integer' OR typeof(billed_bytes) <> 'integer' OR requests < 0 OR bytes < 0 OR billed_bytes < 0",
            table));
        bad.step();
        if (bad.column_int64(0) > 0) {
            fail(exit_code::k_partial, "{} rows of {} hold values that are not 64-bit integers of 0 or more (e.g. {})",
                 bad.column_int64(0), table, bad.column_text(1));
        }
    }
    const auto outcome = verify_summary(*db, calendar);
    if (outcome.pending > 0) {
        info(0, "{} server-days wait for a refresh and were not compared", outcome.pending);
    }
    if (outcome.differences.empty()) {
        return exit_code::k_ok;
    }
    const std::size_t shown =
        verbosity() > 0 ? outcome.differences.size() : std::min<std::size_t>(100, outcome.differences.size());
    std::fflush(stdout);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto& d = outcome.differences[i];
        fmt::print(stderr, "{}: {} {} {}: summary {}; usage {}\n", program_name(), d.day,
                   escape_control(name_of(*db, "servers", d.server_id)),
                   escape_control(name_of(*db, "users", d.user_id)), describe(d.summary), describe(d.usage));
    }
    if (shown < outcome.differences.size()) {
        fmt::print(stderr, "{}: … and {} more (-v shows all)\n", program_name(), outcome.differences.size() - shown);
    }
    fmt::print(stderr, "{}: {} summary rows differ from usage; wp-rollup --rebuild (or --since DAY) recomputes them\n",
               program_name(), outcome.differences.size());
    return exit_code::k_partial;
}

int run_refresh(const RollupRequest& r, const CommonOptions& o) {
    const DayCalendar calendar(r.tz.empty() ? "UTC" : r.tz);
    const std::int64_t now = now_epoch();
    RefreshWindow window;
    window.rebuild = r.rebuild;
    if (r.days > 0) {
        window.first_day = calendar.day_of(now) - (r.days - 1);
    }
    if (!r.since.empty()) {
        const auto since = parse_day(r.since);
        if (!since) {
            fail(exit_code::k_usage, "--since: '{}' is not a day (YYYY-MM-DD)", r.since);
        }
        if (const auto today = calendar.day_of(now); *since > today) {
            // No day of usage can be there yet: a typo, not a refresh of nothing.
            fail(exit_code::k_usage, "--since: {} is in the future (today is {} in {})", r.since, day_name(today),
                 calendar.zone());
        }
        window.first_day = std::min(window.first_day.value_or(*since), *since);
    }
    // A refresh never creates a database: a mistyped --db is an error, not a
    // new empty database (wp-hosts and wp-parse create it).
    Database db(o.db, OpenMode::read_write);
    LockFile lock(o.db + ".rollup.lock");
    const auto outcome = refresh_summary(db, calendar, window, now, r.dry_run);
    if (r.dry_run) {
        if (window.rebuild) {
            fmt::print("rebuild\tevery day of every server, days in {}\n", calendar.zone());
        } else {
            Table table({{"server"}, {"day"}});
            for (const auto& p : outcome.recomputed) {
                table.add_row({name_of(db, "servers", p.server_id), day_name(p.day)});
            }
            table.print(stdout, OutputFormat::automatic);
        }
        return exit_code::k_ok;
    }
    info(1, "{} server-days recomputed, {} summary rows written, {} removed, {} dirty marks consumed (days in {})",
         window.rebuild ? std::string("all") : std::to_string(outcome.recomputed.size()), outcome.rows_written,
         outcome.rows_removed, outcome.marks_consumed, calendar.zone());
    return exit_code::k_ok;
}

} // namespace

void add_rollup_commands(CLI::App& app, RollupRequest& r) {
    app.require_subcommand(0, 1);
    setting(app.add_option("--tz", r.tz, "time zone of the summary's days, e.g. America/Toronto (default UTC)"));
    auto* days = app.add_option("--days", r.days, "also recompute the last N days, today included")
                     ->check(CLI::Range(1, 1000000));
    auto* since = app.add_option("--since", r.since, "also recompute every day from DAY (YYYY-MM-DD) to today");
    auto* rebuild = app.add_flag("--rebuild", r.rebuild, "rebuild the whole summary (the way to change --tz)");
    auto* verify = app.add_flag("--verify", r.verify, "recompute from usage and compare; change nothing");
    auto* dry_run = app.add_flag("-n,--dry-run", r.dry_run, "list the server-days a refresh would recompute");
    days->excludes(since);
    rebuild->excludes(days)->excludes(since);
    verify->excludes(days)->excludes(since)->excludes(rebuild)->excludes(dry_run);

    auto* report = app.add_subcommand("report", "usage by user, account, server, place, day or month");
    add_report_options(*report, r.report);

    // Shared options may follow `report`; refresh options there are a mistake.
    app.parse_complete_callback([&app, days, since, rebuild, verify, dry_run] {
        if (!app.got_subcommand("report")) {
            return;
        }
        for (const CLI::Option* opt : {days, since, rebuild, verify, dry_run}) {
            if (opt->count() > 0) {
                throw CLI::ValidationError(opt->get_name(), "refreshes the summary; it is not a report option");
            }
        }
    });
}

int run_rollup(CLI::App& app, const RollupRequest& r, const CommonOptions& o) {
    if (app.got_subcommand("report")) {
        auto db = open_for_reading(o.db);
        const auto built = summary_zone(*db);
        if (!r.tz.empty()) {
            const DayCalendar asked(r.tz); // an unknown zone is a usage error first
            if (built && *built != asked.zone()) {
                zone_mismatch(*built, asked.zone());
            }
        }
        const DayCalendar calendar(built.value_or(r.tz.empty() ? "UTC" : r.tz));
        return run_report(*db, r.report, calendar, now_epoch());
    }
    if (r.verify) {
        return run_verify(r, o);
    }
    return run_refresh(r, o);
}

} // namespace wp
