#include "summary/report.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "base/calendar.h"
#include "base/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/inventory.h"
#include "summary/rollup.h"

namespace wp {

namespace {

struct KeyInfo {
    ReportKey key;
    std::string_view name;
    std::string_view sql; // over s (the summary or usage), u (users), v (servers)
    bool needs_users;
    bool needs_servers;
};

constexpr KeyInfo k_keys[] = {
    {ReportKey::user, "user", "u.name", true, false},
    {ReportKey::account, "account", "(SELECT name FROM accounts WHERE id = s.account_id)", false, false},
    {ReportKey::server, "server", "v.name", false, true},
    {ReportKey::country, "country", "v.country", false, true},
    {ReportKey::city, "city", "v.city", false, true},
    {ReportKey::provider, "provider", "v.provider", false, true},
    {ReportKey::day, "day", "s.day", false, false},
    {ReportKey::month, "month", "substr(s.day, 1, 7)", false, false},
    {ReportKey::hour, "hour", "s.hour", false, false},
};

const KeyInfo& info_of(ReportKey key) {
    return *std::find_if(std::begin(k_keys), std::end(k_keys), [key](const KeyInfo& k) { return k.key == key; });
}

// "?, ?, ?" for n bound values.
std::string placeholders(std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += i == 0 ? "?" : ", ?";
    }
    return out;
}

// Every name must match something: a typo must not print an empty invoice.
void check_names_exist(Database& db, std::string_view sql, const std::vector<std::string>& names,
                       std::string_view what) {
    auto st = db.prepare(sql);
    for (const auto& n : names) {
        st.bind(1, n);
        const bool found = st.step();
        st.reset();
        if (!found) {
            fail(exit_code::k_no_input, "no {} '{}' in database {}", what, n, db.path());
        }
    }
}

// Usage hours with the account each hour is billed to (an assignment holds
// from its hour until the user's next one; 0: no account) and the day of
// the report's calendar: ?1 and ?2 bound the hours.
constexpr std::string_view k_accounted_usage = R"SQL((
SELECT g.server_id, g.user_id, g.hour, {day_name} AS day,
       g.requests, g.bytes, g.billed_bytes,
       coalesce({account}, 0) AS account_id
FROM usage g WHERE g.hour >= ?1 AND g.hour < ?2))SQL";

std::string exact(std::int64_t n) {
    return std::to_string(n);
}

} // namespace

void ReportRow::add(const ReportRow& o) {
    requests += o.requests;
    bytes += o.bytes;
    billed_bytes += o.billed_bytes;
}

std::vector<ReportKey> parse_report_keys(const std::vector<std::string>& names) {
    std::vector<ReportKey> keys;
    for (const auto& list : names) {
        std::size_t pos = 0;
        while (pos <= list.size()) {
            const auto comma = std::min(list.find(',', pos), list.size());
            const std::string_view name = std::string_view(list).substr(pos, comma - pos);
            pos = comma + 1;
            const auto* k =
                std::find_if(std::begin(k_keys), std::end(k_keys), [name](const KeyInfo& i) { return i.name == name; });
            if (k == std::end(k_keys)) {
                fail(exit_code::k_usage,
                     "--by: unknown key '{}' (user, account, server, country, city, provider, day, month, hour)", name);
            }
            if (std::find(keys.begin(), keys.end(), k->key) != keys.end()) {
                fail(exit_code::k_usage, "--by: '{}' given twice", name);
            }
            keys.push_back(k->key);
        }
    }
    return keys;
}

std::string_view report_key_name(ReportKey key) {
    return info_of(key).name;
}

ReportResult query_report(Database& db, const ReportQuery& q, const DayCalendar& calendar) {
    const bool hourly = q.hour_day.has_value();
    const bool by_account =
        !q.accounts.empty() || std::find(q.keys.begin(), q.keys.end(), ReportKey::account) != q.keys.end();
    check_names_exist(db, "SELECT 1 FROM servers WHERE name = ?", q.servers, "server named");
    check_names_exist(db, "SELECT 1 FROM users WHERE name = ?", q.users, "user named");
    check_names_exist(db, "SELECT 1 FROM accounts WHERE name = ?", q.accounts, "account");
    // Codes are kept upper case; one written by hand in another case still counts.
    check_names_exist(db, "SELECT 1 FROM servers WHERE upper(country) = ? LIMIT 1", q.countries, "server in country");

    // A report by account reads the daily class split, which holds each
    // hour's usage under the account the user held then (0: none); one day
    // hour by hour reads the usage, each hour's account looked up.
    std::optional<DayFunction> day_function;
    std::int64_t first_hour = 0;
    std::int64_t end_hour = 0;
    std::string source = by_account ? "sum_usage_daily_class" : "sum_usage_daily";
    if (hourly) {
        source = std::string(k_accounted_usage);
        const bool utc = calendar.zone() == "UTC";
        source.replace(source.find("{day_name}"), 10,
                       day_name_sql(db, utc ? "(g.hour / 86400)" : "rollup_day(g.hour)"));
        source.replace(source.find("{account}"), 9, account_of_hour_sql("g"));
        if (!utc) {
            day_function.emplace(db, calendar);
        }
        first_hour = calendar.day_start(*q.hour_day);
        end_hour = calendar.day_start(*q.hour_day + 1);
    }

    // The SQL text is assembled from the fixed fragments above; every value is bound.
    bool users = false;
    bool servers = false;
    std::string select;
    std::string group;
    std::string order;
    for (std::size_t i = 0; i < q.keys.size(); ++i) {
        const KeyInfo& k = info_of(q.keys[i]);
        users = users || k.needs_users;
        servers = servers || k.needs_servers;
        select += fmt::format("{}, ", k.sql);
        group += fmt::format("{}{}", i ? ", " : "", i + 1);
        order += fmt::format("{}{} IS NULL, {}", i ? ", " : "", k.sql, k.sql);
    }
    std::string sql = fmt::format(
        "SELECT {}coalesce(sum(s.requests), 0), coalesce(sum(s.bytes), 0), coalesce(sum(s.billed_bytes), 0) "
        "FROM {} s",
        select, source);
    if (users) {
        sql += " JOIN users u ON u.id = s.user_id";
    }
    if (servers) {
        sql += " JOIN servers v ON v.id = s.server_id";
    }
    std::vector<std::string> texts;
    std::string where;
    auto add_filter = [&](std::string_view fragment, const std::vector<std::string>& values) {
        if (values.empty()) {
            return;
        }
        where += fmt::format(" AND {}({}))", fragment, placeholders(values.size()));
        texts.insert(texts.end(), values.begin(), values.end());
    };
    if (!hourly) {
        if (q.from) {
            where += " AND s.day >= ?";
            texts.push_back(*q.from);
        }
        if (q.to) {
            where += " AND s.day <= ?";
            texts.push_back(*q.to);
        }
    }
    add_filter("s.server_id IN (SELECT id FROM servers WHERE name IN ", q.servers);
    add_filter("s.user_id IN (SELECT id FROM users WHERE name IN ", q.users);
    add_filter("s.account_id IN (SELECT id FROM accounts WHERE name IN ", q.accounts);
    add_filter("s.server_id IN (SELECT id FROM servers WHERE upper(country) IN ", q.countries);
    if (!where.empty()) {
        sql += " WHERE" + where.substr(4);
    }
    if (!q.keys.empty()) {
        sql += " GROUP BY " + group + " ORDER BY ";
        sql += q.top > 0 ? "sum(s.billed_bytes) DESC, " + order : order;
    }

    auto st = db.prepare(sql);
    int index = 1;
    if (hourly) {
        st.bind(index++, first_hour);
        st.bind(index++, end_hour);
    }
    for (const auto& t : texts) {
        st.bind(index++, t);
    }

    ReportResult result;
    const int n = static_cast<int>(q.keys.size());
    while (st.step()) {
        ReportRow row;
        for (int i = 0; i < n; ++i) {
            if (st.is_null(i)) {
                row.keys.emplace_back();
            } else if (q.keys[static_cast<std::size_t>(i)] == ReportKey::hour) {
                row.keys.emplace_back(format_utc(st.column_int64(i)));
            } else {
                row.keys.emplace_back(st.column_text(i));
            }
        }
        row.requests = st.column_int64(n);
        row.bytes = st.column_int64(n + 1);
        row.billed_bytes = st.column_int64(n + 2);
        result.total.add(row);
        if (q.top > 0 && result.rows.size() >= static_cast<std::size_t>(q.top)) {
            result.others.add(row);
            ++result.others_count;
        } else {
            result.rows.push_back(std::move(row));
        }
    }
    return result;
}

SiteTotals site_totals(Database& db, const std::string& month) {
    SiteTotals t;
    t.month = month;
    auto places =
        db.prepare("SELECT count(*), count(DISTINCT country), "
                   "(SELECT count(*) FROM (SELECT DISTINCT country, city FROM servers "
                   "  WHERE active = 1 AND retired_at IS NULL AND city IS NOT NULL AND city <> '') AS places) "
                   "FROM servers WHERE active = 1 AND retired_at IS NULL");
    places.step();
    t.servers = places.column_int64(0);
    t.countries = places.column_int64(1);
    t.cities = places.column_int64(2);
    auto month_sum = db.prepare("SELECT coalesce(sum(bytes), 0) FROM sum_usage_daily WHERE day >= ? AND day <= ?");
    month_sum.bind(1, month + "-01").bind(2, month + "-31");
    month_sum.step();
    t.month_bytes = month_sum.column_int64(0);
    auto all = db.prepare("SELECT coalesce(sum(bytes), 0) FROM sum_usage_daily");
    all.step();
    t.total_bytes = all.column_int64(0);
    return t;
}

void print_report(std::FILE* stream, const ReportQuery& q, const ReportResult& result, OutputFormat format,
                  SizeUnits units) {
    const bool table = format == OutputFormat::table;
    std::vector<Table::Column> columns;
    for (const auto key : q.keys) {
        columns.push_back({std::string(report_key_name(key))});
    }
    columns.push_back({"requests", true});
    columns.push_back({"bytes", true});
    columns.push_back({"billed_bytes", true});
    Table out(columns);
    auto size = [&](std::int64_t n) { return table ? human_size(n, units) : exact(n); };
    auto add = [&](const ReportRow& row, std::vector<std::string> keys) {
        keys.resize(q.keys.size());
        keys.push_back(exact(row.requests));
        keys.push_back(size(row.bytes));
        keys.push_back(size(row.billed_bytes));
        out.add_row(std::move(keys));
    };
    for (const auto& row : result.rows) {
        std::vector<std::string> keys;
        for (const auto& k : row.keys) {
            keys.push_back(k ? *k : (table ? "-" : ""));
        }
        add(row, std::move(keys));
    }
    // A machine reader sums rows itself; a person wants the total.
    if (table && !q.keys.empty()) {
        if (result.others_count > 0) {
            add(result.others, {fmt::format("({} more)", result.others_count)});
        }
        add(result.total, {"total"});
    }
    out.print(stream, format);
}

void print_site_totals(std::FILE* stream, const SiteTotals& t, OutputFormat format, SizeUnits units) {
    const bool table = format == OutputFormat::table;
    auto size = [&](std::int64_t n) { return table ? human_size(n, units) : exact(n); };
    Table out({{"servers", true},
               {"countries", true},
               {"cities", true},
               {"month"},
               {"month_bytes", true},
               {"total_bytes", true}});
    out.add_row(
        {exact(t.servers), exact(t.countries), exact(t.cities), t.month, size(t.month_bytes), size(t.total_bytes)});
    out.print(stream, format);
}

} // namespace wp
