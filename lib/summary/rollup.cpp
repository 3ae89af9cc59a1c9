#include "summary/rollup.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include <sqlite3.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

constexpr std::int64_t k_day_seconds = 86400;

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
WHERE sum_usage_daily.requests <> excluded.requests OR sum_usage_daily.bytes <> excluded.bytes
   OR sum_usage_daily.billed_bytes <> excluded.billed_bytes
)SQL";

constexpr std::string_view k_remove_gone = R"SQL(
DELETE FROM sum_usage_daily
WHERE day = ?4 AND server_id = ?1 AND NOT EXISTS (
    SELECT 1 FROM usage g
    WHERE g.server_id = ?1 AND g.user_id = sum_usage_daily.user_id AND g.hour >= ?2 AND g.hour < ?3)
)SQL";

// The class split of one (server, day), the same parameters (?2 and ?3
// unused by the delete): replaced whole, its rows are a user's few classes,
// each hour under the account the user held then (0: none), so that reports
// by account read the summary.
constexpr std::string_view k_remove_server_day_classes = R"SQL(
DELETE FROM sum_usage_daily_class WHERE day = ?4 AND server_id = ?1
)SQL";

constexpr std::string_view k_insert_server_day_classes = R"SQL(
WITH RECURSIVE server_users(id) AS (
    SELECT (SELECT min(user_id) FROM usage_classes WHERE server_id = ?1)
    UNION ALL
    SELECT (SELECT min(user_id) FROM usage_classes WHERE server_id = ?1 AND user_id > server_users.id)
    FROM server_users WHERE server_users.id IS NOT NULL
)
INSERT INTO sum_usage_daily_class(day, server_id, user_id, account_id, class_id, requests, bytes, billed_bytes)
SELECT ?4, ?1, g.user_id, coalesce({account}, 0) AS account,
       g.class_id, sum(g.requests), sum(g.bytes), sum(g.billed_bytes)
FROM server_users su CROSS JOIN usage_classes g
WHERE su.id IS NOT NULL AND g.server_id = ?1 AND g.user_id = su.id AND g.hour >= ?2 AND g.hour < ?3
GROUP BY g.user_id, account, g.class_id
)SQL";

constexpr std::string_view k_rebuild_server_classes = R"SQL(
INSERT INTO sum_usage_daily_class(day, server_id, user_id, account_id, class_id, requests, bytes, billed_bytes)
SELECT {day_name}, ?1, user_id, account, class_id, r, b, bb FROM (
    SELECT {day} AS d, g.user_id, coalesce({account}, 0) AS account,
           g.class_id, sum(g.requests) AS r, sum(g.bytes) AS b, sum(g.billed_bytes) AS bb
    FROM usage_classes g WHERE g.server_id = ?1
    GROUP BY d, g.user_id, account, g.class_id
    ORDER BY d, g.user_id, account, g.class_id) AS days
)SQL";

// A whole server's days in one pass over its rows, grouped in the summary's
// key order. {day} is the day of `hour`: plain division for UTC, else
// rollup_day(), the calendar registered by DayFunction.
constexpr std::string_view k_server_days = R"SQL(
SELECT d, user_id, sum(requests), sum(bytes), sum(billed_bytes)
FROM (SELECT {day} AS d, user_id, requests, bytes, billed_bytes FROM usage WHERE server_id = ?1) AS hours
GROUP BY d, user_id
ORDER BY d, user_id
)SQL";

constexpr std::string_view k_rebuild_server = R"SQL(
INSERT INTO sum_usage_daily(day, server_id, user_id, requests, bytes, billed_bytes)
SELECT {day_name}, ?1, user_id, r, b, bb FROM (
    SELECT {day} AS d, user_id, sum(requests) AS r, sum(bytes) AS b, sum(billed_bytes) AS bb
    FROM usage WHERE server_id = ?1
    GROUP BY d, user_id
    ORDER BY d, user_id) AS days
)SQL";

// {account} becomes the account of the hour of row g (store/accounts).
std::string with_account(std::string_view sql) {
    std::string text(sql);
    for (auto at = text.find("{account}"); at != std::string::npos; at = text.find("{account}")) {
        text.replace(at, 9, account_of_hour_sql("g"));
    }
    return text;
}

// Usage hours are never before 1970, so integer division is the UTC day.
// {day_name}, where there is one, names day number d.
std::string with_day_of_hour(const Database& db, std::string_view sql, const DayCalendar& calendar) {
    std::string text = with_account(sql);
    const auto at = text.find("{day}");
    text.replace(at, 5, calendar.zone() == "UTC" ? "(hour / 86400)" : "rollup_day(hour)");
    if (const auto name = text.find("{day_name}"); name != std::string::npos) {
        text.replace(name, 10, day_name_sql(db, "d"));
    }
    return text;
}

struct DirtyMark {
    std::int64_t server_id;
    std::string day;
};

// On PostgreSQL the marks read are locked until the refresh commits: another
// collector's refresh takes the others (SKIP LOCKED), and wp-parse's mark of
// a day being refreshed waits (its upsert locks the row) and stays marked.
std::vector<DirtyMark> read_marks(Database& db, bool lock = false) {
    std::vector<DirtyMark> marks;
    auto st = db.prepare(lock && db.dialect() == Dialect::postgresql
                             ? "SELECT server_id, day FROM dirty_days ORDER BY server_id, day FOR UPDATE SKIP LOCKED"
                             : "SELECT server_id, day FROM dirty_days ORDER BY server_id, day");
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

// Recomputes (server, day) pairs with two persistent statements.
class ServerDayRefresher {
public:
    ServerDayRefresher(Database& db, const DayCalendar& calendar)
        : m_db(db), m_calendar(calendar), m_upsert(db, k_upsert_server_day), m_remove(db, k_remove_gone),
          m_remove_classes(db, k_remove_server_day_classes),
          m_insert_classes(db, with_account(k_insert_server_day_classes)) {
        if (db.dialect() == Dialect::postgresql) {
            // Two collectors' refreshes of one (server, day) take turns; the
            // pairs come in order, so two refreshes never wait on each other.
            m_lock = db.prepare("SELECT pg_advisory_xact_lock(CAST(?1 AS integer), CAST(?2 AS integer))");
        }
    }

    void refresh(const ServerDay& p, RefreshOutcome& out) {
        if (m_db.dialect() == Dialect::postgresql) {
            m_lock.bind(1, p.server_id).bind(2, p.day).run();
        }
        const std::int64_t begin = m_calendar.day_start(p.day);
        const std::int64_t end = m_calendar.day_start(p.day + 1);
        const std::string name = day_name(p.day);
        m_upsert.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name);
        m_upsert.run();
        out.rows_written += m_db.changes();
        m_remove.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name);
        m_remove.run();
        out.rows_removed += m_db.changes();
        m_remove_classes.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name).run();
        m_insert_classes.bind(1, p.server_id).bind(2, begin).bind(3, end).bind(4, name).run();
    }

private:
    Database& m_db;
    const DayCalendar& m_calendar;
    Statement m_upsert;
    Statement m_remove;
    Statement m_remove_classes;
    Statement m_insert_classes;
    Statement m_lock;
};

// Counts of one row, or of the class rows that add up to it.
using Counts = std::array<std::int64_t, 3>;

std::string counts_text(const std::optional<Counts>& c, std::string_view none) {
    return c ? fmt::format("{}/{}/{}", (*c)[0], (*c)[1], (*c)[2]) : std::string(none);
}

// Walks a table and its class table, both in primary-key order, and calls
// `differ` for every key whose row differs from the sum of its class rows
// (one side missing included); `on_class` sees every class row. Cost: one
// ordered pass over each, no join.
template <typename Key, typename ReadKey, typename OnClass, typename Differ>
void merge_totals(Statement& totals, Statement& classes, ReadKey read_key, int first_count, OnClass on_class,
                  Differ differ) {
    auto counts_at = [](Statement& st, int i) {
        return Counts{st.column_int64(i), st.column_int64(i + 1), st.column_int64(i + 2)};
    };
    bool has_total = totals.step();
    bool has_class = classes.step();
    while (has_total || has_class) {
        // The smaller key of the two rows at hand.
        Key key = has_total ? read_key(totals) : read_key(classes);
        if (has_total && has_class) {
            Key class_key = read_key(classes);
            if (class_key < key) {
                key = std::move(class_key);
            }
        }
        std::optional<Counts> total;
        if (has_total && read_key(totals) == key) {
            total = counts_at(totals, first_count);
            has_total = totals.step();
        }
        std::optional<Counts> sum;
        while (has_class && read_key(classes) == key) {
            const Counts c = counts_at(classes, first_count + 1);
            on_class(classes, key, c);
            if (!sum) {
                sum = c;
            } else {
                for (std::size_t i = 0; i < c.size(); ++i) {
                    // A sum past 2^63 (a damaged table) stays at the top: it cannot match.
                    if (__builtin_add_overflow((*sum)[i], c[i], &(*sum)[i])) {
                        (*sum)[i] = std::numeric_limits<std::int64_t>::max();
                    }
                }
            }
            has_class = classes.step();
        }
        if (total != sum) {
            differ(key, total, sum);
        }
    }
}

// The identities of the class split, each broken row described: usage equals
// the sum of its class rows, a class with a factor bills bytes x factor, and
// the daily summary equals the sum of its daily class rows (days a refresh
// still owes skipped).
void check_class_split(Database& db, const std::set<ServerDay>& pending, std::vector<std::string>& errors) {
    std::map<std::int64_t, std::pair<std::string, std::optional<std::int64_t>>> classes;
    {
        auto st = db.prepare("SELECT id, name, factor FROM billing_classes");
        while (st.step()) {
            classes[st.column_int64(0)] = {st.column_text(1),
                                           st.is_null(2) ? std::nullopt : std::optional(st.column_int64(2))};
        }
    }
    auto server_name = db.prepare("SELECT name FROM servers WHERE id = ?");
    auto user_name = db.prepare("SELECT name FROM users WHERE id = ?");
    auto name_of = [](Statement& st, std::int64_t id) {
        st.bind(1, id);
        std::string name = st.step() ? st.column_text(0) : fmt::format("#{}", id);
        st.reset();
        return name;
    };

    using HourKey = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
    auto usage = db.prepare("SELECT server_id, user_id, hour, requests, bytes, billed_bytes FROM usage "
                            "ORDER BY server_id, user_id, hour");
    auto usage_classes = db.prepare("SELECT server_id, user_id, hour, class_id, requests, bytes, billed_bytes "
                                    "FROM usage_classes ORDER BY server_id, user_id, hour, class_id");
    merge_totals<HourKey>(
        usage, usage_classes,
        [](Statement& st) {
            return HourKey{st.column_int64(0), st.column_int64(1), st.column_int64(2)};
        },
        3,
        [&](Statement& st, const HourKey& k, const Counts& c) {
            const auto it = classes.find(st.column_int64(3));
            std::int64_t billed = 0;
            if (it == classes.end() || !it->second.second ||
                (!__builtin_mul_overflow(c[1], *it->second.second, &billed) && billed == c[2])) {
                return;
            }
            errors.push_back(fmt::format("usage of server {}, user {}, hour {}: class {} x{} holds {} bytes but {} "
                                         "billed",
                                         name_of(server_name, std::get<0>(k)), name_of(user_name, std::get<1>(k)),
                                         format_utc(std::get<2>(k)), it->second.first, *it->second.second, c[1], c[2]));
        },
        [&](const HourKey& k, const std::optional<Counts>& total, const std::optional<Counts>& sum) {
            errors.push_back(fmt::format("usage of server {}, user {}, hour {}: requests/bytes/billed {}, its "
                                         "classes {}",
                                         name_of(server_name, std::get<0>(k)), name_of(user_name, std::get<1>(k)),
                                         format_utc(std::get<2>(k)), counts_text(total, "-"),
                                         counts_text(sum, "no class rows")));
        });

    using DayKey = std::tuple<std::string, std::int64_t, std::int64_t>;
    auto daily = db.prepare("SELECT day, server_id, user_id, requests, bytes, billed_bytes FROM sum_usage_daily "
                            "ORDER BY day, server_id, user_id");
    auto daily_classes =
        db.prepare("SELECT day, server_id, user_id, class_id, requests, bytes, billed_bytes "
                   "FROM sum_usage_daily_class ORDER BY day, server_id, user_id, account_id, class_id");
    merge_totals<DayKey>(
        daily, daily_classes,
        [](Statement& st) {
            return DayKey{st.column_text(0), st.column_int64(1), st.column_int64(2)};
        },
        3, [](Statement&, const DayKey&, const Counts&) {},
        [&](const DayKey& k, const std::optional<Counts>& total, const std::optional<Counts>& sum) {
            if (const auto d = parse_day(std::get<0>(k)); d && pending.count({std::get<1>(k), *d}) != 0) {
                return;
            }
            errors.push_back(fmt::format("summary of {}, server {}, user {}: requests/bytes/billed {}, its classes {}",
                                         std::get<0>(k), name_of(server_name, std::get<1>(k)),
                                         name_of(user_name, std::get<2>(k)), counts_text(total, "-"),
                                         counts_text(sum, "no class rows")));
        });
}

// The daily class split recomputed from the hours, each under the account
// the user held then, in the summary's key order.
constexpr std::string_view k_expected_class_split = R"SQL(
SELECT {day} AS d, g.server_id, g.user_id, coalesce({account}, 0) AS account,
       g.class_id, sum(g.requests), sum(g.bytes), sum(g.billed_bytes)
FROM usage_classes g
GROUP BY d, g.server_id, g.user_id, account, g.class_id
ORDER BY d, g.server_id, g.user_id, account, g.class_id
)SQL";

// sum_usage_daily_class against its recomputation: every (day, server, user,
// account, class) row, so that an hour filed under the wrong account (a move
// whose days were never refreshed) is found too. Days a refresh owes skipped.
void check_account_split(Database& db, const DayCalendar& calendar, const std::set<ServerDay>& pending,
                         std::vector<std::string>& errors) {
    using Key = std::tuple<std::string, std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
    const DayFunction day_function(db, calendar);
    Statement expected(db, with_day_of_hour(db, k_expected_class_split, calendar));
    auto summary = db.prepare("SELECT day, server_id, user_id, account_id, class_id, requests, bytes, billed_bytes "
                              "FROM sum_usage_daily_class ORDER BY day, server_id, user_id, account_id, class_id");
    auto name =
        db.prepare("SELECT (SELECT name FROM servers WHERE id = ?1), (SELECT name FROM users WHERE id = ?2), "
                   "(SELECT name FROM accounts WHERE id = ?3), (SELECT name FROM billing_classes WHERE id = ?4)");
    auto counts_at = [](Statement& st) { return Counts{st.column_int64(5), st.column_int64(6), st.column_int64(7)}; };
    auto key_of = [](Statement& st, bool numbered_day) {
        return Key{numbered_day ? day_name(st.column_int64(0)) : st.column_text(0), st.column_int64(1),
                   st.column_int64(2), st.column_int64(3), st.column_int64(4)};
    };
    auto report = [&](const Key& k, const std::optional<Counts>& have, const std::optional<Counts>& want) {
        const auto& [day, server, user, account, klass] = k;
        if (const auto d = parse_day(day); d && pending.count({server, *d}) != 0) {
            return;
        }
        name.bind(1, server).bind(2, user).bind(3, account).bind(4, klass);
        name.step();
        errors.push_back(fmt::format("summary of {}, server {}, user {}, account {}, class {}: {}; usage {}", day,
                                     name.column_optional_text(0).value_or(fmt::format("#{}", server)),
                                     name.column_optional_text(1).value_or(fmt::format("#{}", user)),
                                     account == 0 ? std::string("(none)")
                                                  : name.column_optional_text(2).value_or(fmt::format("#{}", account)),
                                     name.column_optional_text(3).value_or(fmt::format("#{}", klass)),
                                     counts_text(have, "no row"), counts_text(want, "no row")));
        name.reset();
    };
    bool has_want = expected.step();
    bool has_have = summary.step();
    while (has_want || has_have) {
        Key want_key;
        Key have_key;
        if (has_want) {
            want_key = key_of(expected, true);
        }
        if (has_have) {
            have_key = key_of(summary, false);
        }
        if (has_want && (!has_have || want_key < have_key)) {
            report(want_key, std::nullopt, counts_at(expected));
            has_want = expected.step();
        } else if (!has_want || have_key < want_key) {
            report(have_key, counts_at(summary), std::nullopt);
            has_have = summary.step();
        } else {
            if (counts_at(summary) != counts_at(expected)) {
                report(have_key, counts_at(summary), counts_at(expected));
            }
            has_want = expected.step();
            has_have = summary.step();
        }
    }
}

} // namespace

DayFunction::DayFunction(Database& db, const DayCalendar& calendar) : m_db(db) {
    if (db.dialect() == Dialect::postgresql) {
        // rollup_day() is a function of the schema there, reading wp.zone.
        db.prepare("SELECT set_config('wp.zone', ?1, false)").bind(1, calendar.zone()).run();
        return;
    }
    const int rc =
        sqlite3_create_function_v2(db.handle(), "rollup_day", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                   const_cast<DayCalendar*>(&calendar), &call, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        db.throw_error(rc, "cannot register rollup_day()");
    }
}

DayFunction::~DayFunction() {
    if (m_db.dialect() == Dialect::postgresql) {
        return;
    }
    sqlite3_create_function_v2(m_db.handle(), "rollup_day", 1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr,
                               nullptr);
}

void DayFunction::call(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
    const auto* calendar = static_cast<const DayCalendar*>(sqlite3_user_data(ctx));
    sqlite3_result_int64(ctx, calendar->day_of(sqlite3_value_int64(argv[0])));
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

void check_summary_zone(const std::optional<std::string>& built, const std::string& asked) {
    if (built && *built != asked) {
        fail(exit_code::k_usage,
             "the summary's days are in time zone {}, not {}: give --tz {} (or tz = {} in wp.conf), "
             "or rebuild it with --rebuild --tz {}",
             *built, asked, *built, *built, asked);
    }
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
    if (!window.rebuild) {
        check_summary_zone(summary_zone(db), calendar.zone());
    }
    const auto marks = read_marks(db, true);
    out.marks_consumed = static_cast<std::int64_t>(marks.size());

    if (window.rebuild) {
        if (!dry_run) {
            if (db.dialect() == Dialect::postgresql) {
                // No other refresh writes the summary while it is rebuilt.
                db.exec("LOCK TABLE sum_usage_daily, sum_usage_daily_class IN EXCLUSIVE MODE");
            }
            db.exec("DELETE FROM sum_usage_daily");
            db.exec("DELETE FROM sum_usage_daily_class");
            // Each server's rows go into every day of the summary: a cache that
            // holds the summary's pages being filled saves re-reading them.
            if (db.dialect() == Dialect::sqlite) {
                db.exec("PRAGMA cache_size = -16384");
            }
            DayFunction day_function(db, calendar);
            Statement insert(db, with_day_of_hour(db, k_rebuild_server, calendar));
            Statement insert_classes(db, with_day_of_hour(db, k_rebuild_server_classes, calendar));
            for (const auto id : server_ids(db)) {
                insert.bind(1, id).run();
                out.rows_written += db.changes();
                insert_classes.bind(1, id).run();
            }
            if (db.dialect() == Dialect::sqlite) {
                db.exec("PRAGMA cache_size = -2000");
            }
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
                auto clear_classes = db.prepare("DELETE FROM sum_usage_daily_class WHERE day >= ? AND day <= ?");
                auto clear_days = [&](std::int64_t from, std::int64_t to) {
                    clear.bind(1, day_name(from)).bind(2, day_name(to)).run();
                    out.rows_removed += db.changes();
                    clear_classes.bind(1, day_name(from)).bind(2, day_name(to)).run();
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
                            "rebuilt_at = coalesce(excluded.rebuilt_at, rollup_state.rebuilt_at)");
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
        Statement days(db, with_day_of_hour(db, k_server_days, calendar));
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
    check_class_split(db, pending, out.split_errors);
    check_account_split(db, calendar, pending, out.split_errors);
    return out;
}

} // namespace wp
