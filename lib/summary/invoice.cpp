#include "summary/invoice.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/calendar.h"
#include "base/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/inventory.h"
#include "summary/rollup.h"

namespace wp {

namespace {

std::string day_of_hour(std::string_view table, const DayCalendar& calendar) {
    return calendar.zone() == "UTC" ? fmt::format("({}.hour / 86400)", table)
                                    : fmt::format("rollup_day({}.hour)", table);
}

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_zero(const InvoiceCounts& c) {
    return c.requests == 0 && c.bytes == 0 && c.billed_bytes == 0;
}

InvoiceCounts minus(const InvoiceCounts& a, const InvoiceCounts& b) {
    return {a.requests - b.requests, a.bytes - b.bytes, a.billed_bytes - b.billed_bytes};
}

// (user, server, day): the figures' finest grain.
using CellKey = std::tuple<std::int64_t, std::int64_t, std::int64_t>;

struct Cell {
    std::map<std::int64_t, InvoiceCounts> by_class; // class id -> counts
    InvoiceCounts usage;
};

InvoiceCounts counts_at(Statement& st, int first) {
    return {st.column_int64(first), st.column_int64(first + 1), st.column_int64(first + 2)};
}

} // namespace

void InvoiceCounts::add(const InvoiceCounts& o) {
    requests += o.requests;
    bytes += o.bytes;
    billed_bytes += o.billed_bytes;
}

bool Invoice::has_unsplit() const {
    return !classes.empty() && !classes.back().factor;
}

InvoicePeriod month_period(std::string_view month, const DayCalendar& calendar) {
    const bool shaped = month.size() == 7 && month[4] == '-' && all_digits(month.substr(0, 4)) &&
                        all_digits(month.substr(5, 2)) && month.substr(0, 4) >= "1970";
    const auto first = shaped ? parse_day(fmt::format("{}-01", month)) : std::nullopt;
    if (!first) {
        fail(exit_code::k_usage, "--month: '{}' is not a month (YYYY-MM, 1970-01 or later)", month);
    }
    const int year = std::stoi(std::string(month.substr(0, 4)));
    const int mon = std::stoi(std::string(month.substr(5, 2)));
    const auto next =
        parse_day(mon == 12 ? fmt::format("{:04}-01-01", year + 1) : fmt::format("{:04}-{:02}-01", year, mon + 1));
    if (!next) {
        fail(exit_code::k_usage, "--month: '{}' is the last month the calendar holds", month);
    }
    InvoicePeriod p;
    p.month = std::string(month);
    p.zone = calendar.zone();
    p.first_day = *first;
    p.last_day = *next - 1;
    p.start = calendar.day_start(*first);
    p.end = calendar.day_start(*next);
    return p;
}

InvoicePeriod current_period(std::int64_t now, const DayCalendar& calendar) {
    return month_period(day_name(calendar.day_of(now)).substr(0, 7), calendar);
}

void check_closed(const InvoicePeriod& p, std::int64_t now) {
    if (p.end > now) {
        fail(exit_code::k_data, "month {} is not closed yet (ends at the start of {} in {}, {})", p.month,
             day_name(p.last_day + 1), p.zone, format_utc(p.end));
    }
}

bool is_valid_account_name(std::string_view name) {
    auto alnum = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    return !name.empty() && alnum(name.front()) && std::all_of(name.begin(), name.end(), [&](char c) {
        return alnum(c) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
    });
}

Invoice compute_invoice(Database& db, const std::optional<std::string>& account, const InvoicePeriod& period,
                        const DayCalendar& calendar) {
    if (calendar.zone() != period.zone) {
        fail(exit_code::k_software, "a statement of a {} month read in {} days", period.zone, calendar.zone());
    }
    std::optional<std::int64_t> account_id;
    if (account) {
        auto st = db.prepare("SELECT id FROM accounts WHERE name = ?");
        st.bind(1, *account);
        if (!st.step()) {
            fail(exit_code::k_no_input, "no account '{}' in database {}", *account, db.path());
        }
        account_id = st.column_int64(0);
    }
    std::optional<DayFunction> day_function;
    if (calendar.zone() != "UTC") {
        day_function.emplace(db, calendar);
    }

    Invoice inv;
    inv.account = account;
    inv.period = period;

    // The classes with a factor anyone used in the period: every statement of
    // a month has the same columns.
    std::map<std::int64_t, std::size_t> class_index; // class id -> column
    std::optional<std::int64_t> unsplit_id;
    {
        auto st =
            db.prepare("SELECT id, name, factor FROM billing_classes WHERE factor IS NULL OR id IN "
                       "(SELECT DISTINCT class_id FROM usage_classes WHERE hour >= ?1 AND hour < ?2) ORDER BY id");
        st.bind(1, period.start).bind(2, period.end);
        std::map<std::string, int> names;
        std::vector<std::tuple<std::int64_t, std::string, std::int64_t>> used;
        while (st.step()) {
            if (st.is_null(2)) {
                unsplit_id = st.column_int64(0);
                continue;
            }
            used.emplace_back(st.column_int64(0), st.column_text(1), st.column_int64(2));
            ++names[st.column_text(1)];
        }
        for (const auto& [id, name, factor] : used) {
            class_index[id] = inv.classes.size();
            inv.classes.push_back({names[name] > 1 ? fmt::format("{} x{}", name, factor) : name, factor});
        }
    }

    std::map<CellKey, Cell> cells;
    // Only a user once assigned to the account can have hours on it: a cheap
    // filter before the assignment of each hour is looked up.
    const std::string bound =
        account_id ? "hour >= ?1 AND hour < ?2 AND {t}.user_id IN (SELECT user_id FROM account_assignments WHERE "
                     "account_id = ?3)"
                   : "hour >= ?1 AND hour < ?2";
    auto bound_of = [&bound](std::string_view table) {
        std::string sql = bound;
        if (const auto pos = sql.find("{t}"); pos != std::string::npos) {
            sql.replace(pos, 3, table);
        }
        return sql;
    };
    {
        auto st = db.prepare(fmt::format(
            "SELECT c.user_id, c.server_id, {}, c.class_id, sum(c.requests), sum(c.bytes), sum(c.billed_bytes) "
            "FROM usage_classes c WHERE c.{} AND {} IS NOT DISTINCT FROM ?3 GROUP BY 1, 2, 3, 4",
            day_of_hour("c", calendar), bound_of("c"), account_of_hour_sql("c")));
        st.bind(1, period.start).bind(2, period.end).bind(3, account_id);
        while (st.step()) {
            cells[{st.column_int64(0), st.column_int64(1), st.column_int64(2)}].by_class[st.column_int64(3)] =
                counts_at(st, 4);
        }
    }
    {
        auto st = db.prepare(
            fmt::format("SELECT g.user_id, g.server_id, {}, sum(g.requests), sum(g.bytes), sum(g.billed_bytes) "
                        "FROM usage g WHERE g.{} AND {} IS NOT DISTINCT FROM ?3 GROUP BY 1, 2, 3",
                        day_of_hour("g", calendar), bound_of("g"), account_of_hour_sql("g")));
        st.bind(1, period.start).bind(2, period.end).bind(3, account_id);
        while (st.step()) {
            cells[{st.column_int64(0), st.column_int64(1), st.column_int64(2)}].usage = counts_at(st, 3);
        }
    }

    // Usage without (all of) its class rows is shown as unsplit: never dropped.
    const std::int64_t unsplit_key = unsplit_id.value_or(-1);
    bool unsplit = false;
    for (auto& [key, cell] : cells) {
        InvoiceCounts split;
        for (const auto& [id, counts] : cell.by_class) {
            split.add(counts);
        }
        const InvoiceCounts rest = minus(cell.usage, split);
        if (rest.requests < 0 || rest.bytes < 0 || rest.billed_bytes < 0) {
            fail(exit_code::k_data,
                 "usage of user #{} on server #{} on {} is less than the sum of its billing classes (wp-rollup "
                 "--verify checks the database)",
                 std::get<0>(key), std::get<1>(key), day_name(std::get<2>(key)));
        }
        if (!is_zero(rest)) {
            cell.by_class[unsplit_key].add(rest);
        }
        unsplit = unsplit || cell.by_class.count(unsplit_key) > 0;
    }
    if (unsplit) {
        class_index[unsplit_key] = inv.classes.size();
        inv.classes.push_back({"unsplit", std::nullopt});
    }

    const std::size_t n = inv.classes.size();
    auto blank = [n](std::string key) {
        InvoiceLine line;
        line.key = std::move(key);
        line.by_class.resize(n);
        return line;
    };
    auto add_to = [](InvoiceLine& line, std::size_t column, const InvoiceCounts& c) {
        line.by_class[column].add(c);
        line.total.add(c);
    };

    std::map<std::int64_t, InvoiceLine> users;
    std::map<std::int64_t, InvoiceLine> servers;
    std::map<std::string, InvoiceLine> countries;
    inv.total = blank("total");
    for (std::int64_t d = period.first_day; d <= period.last_day; ++d) {
        inv.days.push_back(blank(day_name(d)));
    }
    // The users with usage billed to the account in the period: a statement
    // depends on usage alone, so moving a user without usage in a closed
    // month changes none of its statements (wp-users(1)).
    auto user_name = db.prepare("SELECT name FROM users WHERE id = ?");
    auto server_row = db.prepare("SELECT name, coalesce(country, '') FROM servers WHERE id = ?");
    for (const auto& [key, cell] : cells) {
        const auto [user, server, day] = key;
        auto u = users.find(user);
        if (u == users.end()) {
            user_name.bind(1, user);
            u = users.emplace(user, blank(user_name.step() ? user_name.column_text(0) : fmt::format("#{}", user)))
                    .first;
            user_name.reset();
        }
        auto s = servers.find(server);
        if (s == servers.end()) {
            server_row.bind(1, server);
            const bool found = server_row.step();
            InvoiceLine line = blank(found ? server_row.column_text(0) : fmt::format("#{}", server));
            line.country = found ? server_row.column_text(1) : "";
            server_row.reset();
            s = servers.emplace(server, std::move(line)).first;
        }
        auto c = countries.find(s->second.country);
        if (c == countries.end()) {
            c = countries.emplace(s->second.country, blank(s->second.country)).first;
        }
        InvoiceLine& d = inv.days.at(static_cast<std::size_t>(day - period.first_day));
        for (const auto& [id, counts] : cell.by_class) {
            const std::size_t column = class_index.at(id);
            for (InvoiceLine* line : {&u->second, &s->second, &c->second, &d, &inv.total}) {
                add_to(*line, column, counts);
            }
        }
    }
    auto by_key = [](const InvoiceLine& a, const InvoiceLine& b) { return a.key < b.key; };
    for (auto& [id, line] : users) {
        inv.users.push_back(std::move(line));
    }
    for (auto& [id, line] : servers) {
        inv.servers.push_back(std::move(line));
    }
    for (auto& [code, line] : countries) {
        inv.countries.push_back(std::move(line));
    }
    std::sort(inv.users.begin(), inv.users.end(), by_key);
    std::sort(inv.servers.begin(), inv.servers.end(), by_key);
    // A server without a country code goes last.
    std::stable_partition(inv.countries.begin(), inv.countries.end(),
                          [](const InvoiceLine& l) { return !l.key.empty(); });
    return inv;
}

std::vector<std::string> account_names(Database& db) {
    std::vector<std::string> names;
    auto st = db.prepare("SELECT name FROM accounts ORDER BY name");
    while (st.step()) {
        names.push_back(st.column_text(0));
    }
    return names;
}

bool has_unassigned_usage(Database& db, const InvoicePeriod& period) {
    auto st = db.prepare(fmt::format("SELECT 1 FROM usage g WHERE g.hour >= ?1 AND g.hour < ?2 AND {} IS NULL LIMIT 1",
                                     account_of_hour_sql("g")));
    st.bind(1, period.start).bind(2, period.end);
    return st.step();
}

std::vector<QuotaUse> quota_usage(Database& db, const InvoicePeriod& period) {
    auto st = db.prepare(fmt::format(
        "SELECT a.name, a.quota_bytes, coalesce(s.billed, 0) FROM accounts a LEFT JOIN (SELECT account_id, "
        "sum(billed_bytes) AS billed FROM (SELECT {} AS account_id, g.billed_bytes FROM usage g WHERE g.hour >= ?1 "
        "AND g.hour < ?2) AS h GROUP BY account_id) s ON s.account_id = a.id WHERE a.quota_bytes IS NOT NULL ORDER BY "
        "a.name",
        account_of_hour_sql("g")));
    st.bind(1, period.start).bind(2, period.end);
    std::vector<QuotaUse> out;
    while (st.step()) {
        out.push_back({st.column_text(0), st.column_int64(1), st.column_int64(2)});
    }
    return out;
}

} // namespace wp
