#include "store/accounts.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/error.h"
#include "store/inventory.h"

namespace wp {

namespace {

constexpr std::int64_t k_hour = 3600;

// The account in effect for a user at an hour, as the column of a query
// whose ?1 is the hour and whose row has the user's id as u.id.
constexpr std::string_view k_current_account_of_u = R"SQL(
(SELECT ac.name FROM account_assignments a LEFT JOIN accounts ac ON ac.id = a.account_id
 WHERE a.user_id = u.id AND a.from_hour <= ?1 ORDER BY a.from_hour DESC LIMIT 1))SQL";

// Users with their current account and usage totals; ?1 is now.
constexpr std::string_view k_user_summaries = R"SQL(
SELECT u.id, u.name, {current}, t.first_hour, t.last_hour,
       coalesce(t.requests, 0), coalesce(t.bytes, 0), coalesce(t.billed_bytes, 0)
FROM users u LEFT JOIN (
    SELECT user_id, min(hour) AS first_hour, max(hour) AS last_hour,
           sum(requests) AS requests, sum(bytes) AS bytes, sum(billed_bytes) AS billed_bytes
    FROM usage {usage_filter} GROUP BY user_id) t ON t.user_id = u.id
{user_filter} ORDER BY u.name)SQL";

UserSummary read_summary(Statement& st) {
    UserSummary s;
    s.id = st.column_int64(0);
    s.name = st.column_text(1);
    s.account = st.column_optional_text(2);
    if (!st.is_null(3)) {
        s.first_seen = st.column_int64(3);
        s.last_seen = st.column_int64(4);
    }
    s.totals = {st.column_int64(5), st.column_int64(6), st.column_int64(7)};
    return s;
}

// Digits of text[pos, pos + n) as a number, or -1.
int digits(std::string_view text, std::size_t pos, std::size_t n) {
    if (pos + n > text.size()) {
        return -1;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

// A change that would reach into closed months without leave to.
struct ClosedMonthRefusal {
    std::string why;
};

// "2026-10, 2026-11", or "1990-01 … 2026-11 (443 months)" when long.
std::string month_list(const std::vector<std::string>& months) {
    if (months.size() <= 6) {
        return fmt::format("{}", fmt::join(months, ", "));
    }
    return fmt::format("{} … {} ({} months)", months.front(), months.back(), months.size());
}

// The zone statements are issued in: the one wp-rollup built the summary in, else UTC.
std::string billing_zone(Database& db) {
    auto st = db.prepare("SELECT zone FROM rollup_state WHERE id = 1");
    return st.step() ? st.column_text(0) : std::string("UTC");
}

// The first second of the month holding `t` in the calendar's zone.
std::int64_t zone_month_start(const DayCalendar& calendar, std::int64_t t) {
    const std::string today = day_name(calendar.day_of(t));
    return calendar.day_start(*parse_day(today.substr(0, 8) + "01"));
}

std::optional<std::int64_t> find_id(Database& db, std::string_view sql, const std::string& name) {
    auto st = db.prepare(sql);
    st.bind(1, name);
    if (!st.step()) {
        return std::nullopt;
    }
    return st.column_int64(0);
}

} // namespace

std::string check_account_name(std::string_view name) {
    if (name.empty()) {
        return "an account name cannot be empty";
    }
    const auto allowed = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '@' || c == '+' ||
               c == '-';
    };
    const bool ascii = std::all_of(name.begin(), name.end(), [](char c) { return (c & 0x80) == 0; });
    if (!ascii || !std::all_of(name.begin(), name.end(), allowed) ||
        std::isalnum(static_cast<unsigned char>(name[0])) == 0) {
        return fmt::format("'{}' is not an account name: letters, digits and . _ @ + -, starting with a letter or "
                           "digit",
                           name);
    }
    return {};
}

std::string check_user_name(std::string_view name) {
    if (name.empty()) {
        return "a user name cannot be empty";
    }
    if (name.find('\0') != std::string_view::npos) {
        return "a user name cannot hold a NUL byte";
    }
    return {};
}

std::optional<std::int64_t> parse_hour_time(std::string_view text, std::string& why) {
    const auto not_a_time = [&]() -> std::optional<std::int64_t> {
        why = fmt::format("'{}' is not a time: YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]], UTC unless followed by Z "
                          "or +HH:MM/-HH:MM",
                          text);
        return std::nullopt;
    };
    const auto day = parse_day(text.substr(0, 10));
    if (!day) {
        return not_a_time();
    }
    std::int64_t t = *day * 86400;
    if (text.size() == 10) {
        return t;
    }
    if (text[10] != 'T') {
        return not_a_time();
    }
    std::size_t pos = 11;
    int fields[3] = {0, 0, 0};
    const int limits[3] = {24, 60, 60};
    for (int i = 0; i < 3; ++i) {
        if (i > 0 && (pos >= text.size() || text[pos] != ':')) {
            break;
        }
        pos += i > 0 ? 1 : 0;
        fields[i] = digits(text, pos, 2);
        if (fields[i] < 0 || fields[i] >= limits[i]) {
            return not_a_time();
        }
        pos += 2;
    }
    t += fields[0] * k_hour + fields[1] * 60 + fields[2];
    if (pos < text.size() && text[pos] == 'Z') {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        const int sign = text[pos] == '+' ? 1 : -1;
        const int hours = digits(text, pos + 1, 2);
        const int minutes = digits(text, pos + 4, 2);
        if (hours < 0 || hours > 23 || pos + 3 >= text.size() || text[pos + 3] != ':' || minutes < 0 || minutes > 59) {
            return not_a_time();
        }
        t -= sign * (hours * k_hour + minutes * 60);
        pos += 6;
    }
    if (pos != text.size()) {
        return not_a_time();
    }
    if (t < 0) {
        why = fmt::format("'{}' is before 1970-01-01", text);
        return std::nullopt;
    }
    if (t % k_hour != 0) {
        why = fmt::format("'{}' is {} UTC, not on a whole hour (usage is kept per hour)", text, format_utc(t));
        return std::nullopt;
    }
    return t;
}

std::int64_t utc_month_start(std::int64_t t) {
    const std::tm tm = utc_time(t);
    return *parse_day(fmt::format("{:04}-{:02}-01", tm.tm_year + 1900, tm.tm_mon + 1)) * 86400;
}

std::int64_t next_utc_month_start(std::int64_t t) {
    const std::tm tm = utc_time(t);
    const int year = tm.tm_year + 1900 + (tm.tm_mon == 11 ? 1 : 0);
    const int month = tm.tm_mon == 11 ? 1 : tm.tm_mon + 2;
    return *parse_day(fmt::format("{:04}-{:02}-01", year, month)) * 86400;
}

std::string utc_month_name(std::int64_t t) {
    const std::tm tm = utc_time(t);
    return fmt::format("{:04}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1);
}

std::vector<std::string> Accounts::user_names() {
    auto st = m_db.prepare("SELECT name FROM users ORDER BY name");
    std::vector<std::string> names;
    while (st.step()) {
        names.push_back(st.column_text(0));
    }
    return names;
}

std::vector<UserSummary> Accounts::list_users() {
    auto st = m_db.prepare(fmt::format(k_user_summaries, fmt::arg("current", k_current_account_of_u),
                                       fmt::arg("usage_filter", ""), fmt::arg("user_filter", "")));
    st.bind(1, m_now);
    std::vector<UserSummary> users;
    while (st.step()) {
        users.push_back(read_summary(st));
    }
    return users;
}

UserDetail Accounts::user_detail(const std::string& name) {
    const auto id = find_id(m_db, "SELECT id FROM users WHERE name = ?", name);
    if (!id) {
        fail(exit_code::k_no_input, "no user named {}", name);
    }
    UserDetail detail;
    {
        auto st = m_db.prepare(fmt::format(k_user_summaries, fmt::arg("current", k_current_account_of_u),
                                           fmt::arg("usage_filter", "WHERE user_id = ?2"),
                                           fmt::arg("user_filter", "WHERE u.id = ?2")));
        st.bind(1, m_now).bind(2, *id);
        st.step();
        detail.summary = read_summary(st);
    }
    auto history =
        m_db.prepare("SELECT a.from_hour, ac.name, a.set_at FROM account_assignments a "
                     "LEFT JOIN accounts ac ON ac.id = a.account_id WHERE a.user_id = ? ORDER BY a.from_hour");
    history.bind(1, *id);
    while (history.step()) {
        detail.history.push_back({history.column_int64(0), history.column_optional_text(1), history.column_int64(2)});
    }
    // No account first on both engines (PostgreSQL sorts NULL last).
    auto by_account = m_db.prepare(R"SQL(
SELECT account, r, b, bb FROM (
SELECT (SELECT ac.name FROM account_assignments a LEFT JOIN accounts ac ON ac.id = a.account_id
        WHERE a.user_id = g.user_id AND a.from_hour <= g.hour ORDER BY a.from_hour DESC LIMIT 1) AS account,
       sum(g.requests) AS r, sum(g.bytes) AS b, sum(g.billed_bytes) AS bb
FROM usage g WHERE g.user_id = ? GROUP BY account) AS by_account ORDER BY account IS NOT NULL, account)SQL");
    by_account.bind(1, *id);
    while (by_account.step()) {
        detail.by_account.push_back(
            {by_account.column_optional_text(0),
             {by_account.column_int64(1), by_account.column_int64(2), by_account.column_int64(3)}});
    }
    return detail;
}

AssignmentOutcome Accounts::apply(const AssignmentRequest& r) {
    AssignmentOutcome out;
    if (auto why = check_user_name(r.user); !why.empty()) {
        fail(exit_code::k_usage, "{}", why);
    }
    if (r.account) {
        if (auto why = check_account_name(*r.account); !why.empty()) {
            fail(exit_code::k_usage, "{}", why);
        }
    }
    if (r.from_hour < 0 || r.from_hour % k_hour != 0) {
        fail(exit_code::k_software, "assignment from {}: not on an hour", r.from_hour);
    }
    auto user_id = find_id(m_db, "SELECT id FROM users WHERE name = ?", r.user);
    if (!user_id) {
        auto ins = m_db.prepare("INSERT INTO users(name) VALUES (?) RETURNING id");
        ins.bind(1, r.user);
        ins.step();
        user_id = ins.column_int64(0);
        ins.reset();
        out.created_user = true;
    }
    std::optional<std::int64_t> account_id;
    if (r.account) {
        account_id = find_id(m_db, "SELECT id FROM accounts WHERE name = ?", *r.account);
    }

    // What holds at from_hour now, and until when the new assignment would hold.
    auto current = m_db.prepare("SELECT a.from_hour, a.account_id, ac.name FROM account_assignments a "
                                "LEFT JOIN accounts ac ON ac.id = a.account_id "
                                "WHERE a.user_id = ?1 AND a.from_hour <= ?2 ORDER BY a.from_hour DESC LIMIT 1");
    current.bind(1, *user_id).bind(2, r.from_hour);
    std::optional<std::int64_t> previous_id;
    if (current.step()) {
        out.replaced = current.column_int64(0) == r.from_hour;
        if (!current.is_null(1)) {
            previous_id = current.column_int64(1);
        }
        out.previous = current.column_optional_text(2);
    }
    if (r.account ? (account_id && previous_id == account_id) : !previous_id) {
        out.replaced = false;
        return out; // already so: nothing to write
    }
    auto next = m_db.prepare("SELECT min(from_hour) FROM account_assignments WHERE user_id = ? AND from_hour > ?");
    next.bind(1, *user_id).bind(2, r.from_hour);
    next.step();
    const std::optional<std::int64_t> until = next.is_null(0) ? std::nullopt : std::optional(next.column_int64(0));

    // Statements are issued in the summary's zone (wp-rollup --tz), or in UTC:
    // an hour is in a closed month while either calendar's current month has
    // not begun at it. Only usage makes a statement change.
    const DayCalendar calendar(billing_zone(m_db));
    const bool utc_only = calendar.zone() == "UTC";
    const std::int64_t utc_open = utc_month_start(m_now);
    const std::int64_t zone_open = zone_month_start(calendar, m_now);
    const std::int64_t open_from = std::max(utc_open, zone_open);
    const std::int64_t closed_end = std::min(until.value_or(open_from), open_from);
    if (r.from_hour < closed_end) {
        auto hours = m_db.prepare("SELECT DISTINCT hour FROM usage WHERE user_id = ?1 AND hour >= ?2 AND hour < ?3 "
                                  "ORDER BY 1");
        hours.bind(1, *user_id).bind(2, r.from_hour).bind(3, closed_end);
        // Each used hour names the month that is closed in each calendar it is closed in.
        std::vector<std::string> utc_months;
        std::vector<std::string> zone_months;
        auto note = [](std::vector<std::string>& months, std::string month) {
            if (months.empty() || months.back() != month) {
                months.push_back(std::move(month));
            }
        };
        while (hours.step()) {
            const std::int64_t h = hours.column_int64(0);
            if (h < utc_open) {
                note(utc_months, utc_month_name(h));
            }
            if (!utc_only && h < zone_open) {
                note(zone_months, day_name(calendar.day_of(h)).substr(0, 7));
            }
        }
        std::vector<std::string> labels;
        std::string list;
        if (utc_only) {
            labels = utc_months;
            list = month_list(utc_months) + " (UTC)";
        } else {
            for (const auto& m : utc_months) {
                labels.push_back(m + " (UTC)");
            }
            for (const auto& m : zone_months) {
                labels.push_back(fmt::format("{} ({})", m, calendar.zone()));
            }
            if (!utc_months.empty()) {
                list = month_list(utc_months) + " (UTC)";
            }
            if (!zone_months.empty()) {
                list += fmt::format("{}{} ({})", list.empty() ? "" : ", ", month_list(zone_months), calendar.zone());
            }
        }
        if (!labels.empty() && !r.amend_closed) {
            throw ClosedMonthRefusal{fmt::format("from {} would change the invoices of closed month{} {}, where the "
                                                 "user has usage; give --amend-closed to change them anyway",
                                                 format_utc(r.from_hour), labels.size() == 1 ? "" : "s", list)};
        }
        out.closed_months_changed = std::move(labels);
    }

    if (r.account && !account_id) {
        auto ins = m_db.prepare("INSERT INTO accounts(name, added_at) VALUES (?, ?) RETURNING id");
        ins.bind(1, *r.account).bind(2, m_now);
        ins.step();
        account_id = ins.column_int64(0);
        ins.reset();
        out.created_account = true;
    }
    auto upsert = m_db.prepare("INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) "
                               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user_id, from_hour) DO UPDATE SET "
                               "account_id = excluded.account_id, set_at = excluded.set_at");
    upsert.bind(1, *user_id).bind(2, r.from_hour).bind(3, account_id).bind(4, m_now);
    upsert.run();
    // The summary holds each hour under its account: the (server, UTC day)
    // pairs whose hours moved are marked for wp-rollup's next refresh.
    // In (server, day) order, as wp-parse and wp-rollup take marks, so that
    // two of them never wait on each other in a cycle.
    auto dirty = m_db.prepare(fmt::format("INSERT INTO dirty_days(server_id, day) SELECT server_id, d FROM ("
                                          "SELECT DISTINCT server_id, {} AS d FROM usage WHERE user_id = ?1 "
                                          "AND hour >= ?2 AND (CAST(?3 AS bigint) IS NULL OR hour < ?3)) AS m "
                                          "WHERE true ORDER BY server_id, d "
                                          "ON CONFLICT(server_id, day) DO UPDATE SET day = excluded.day",
                                          day_name_sql(m_db, "(hour / 86400)")));
    dirty.bind(1, *user_id).bind(2, r.from_hour).bind(3, until);
    dirty.run();
    out.changed = true;
    return out;
}

AssignmentOutcome Accounts::assign(const AssignmentRequest& request) {
    Transaction tx(m_db);
    try {
        auto out = apply(request);
        tx.commit();
        return out;
    } catch (const ClosedMonthRefusal& refusal) {
        fail(exit_code::k_data, "{}: {}", request.user, refusal.why);
    }
}

ImportOutcome Accounts::import_csv(std::string_view text, std::string_view source, std::int64_t default_from,
                                   bool amend_closed, std::size_t max_problems) {
    auto records = parse_csv(text, source);
    ImportOutcome out;
    const auto problem = [&](int line, std::string column, std::string why) {
        if (out.problems.size() < max_problems) {
            out.problems.push_back({line, std::move(column), std::move(why)});
        } else {
            ++out.problems_left_out;
        }
    };
    if (!records.empty()) {
        auto header = records[0].fields;
        for (auto& field : header) {
            std::transform(field.begin(), field.end(), field.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            field.erase(0, field.find_first_not_of(' '));
            field.erase(field.find_last_not_of(' ') + 1);
        }
        if (header == std::vector<std::string>{"user", "account"} ||
            header == std::vector<std::string>{"user", "account", "from"}) {
            records.erase(records.begin());
        }
    }

    // (user, from_hour) -> the line that asked for it
    std::map<std::pair<std::string, std::int64_t>, std::pair<int, std::optional<std::string>>> seen;
    std::vector<ImportedRow> rows;
    for (const auto& rec : records) {
        if (rec.fields.size() < 2 || rec.fields.size() > 3) {
            problem(rec.line, "row",
                    fmt::format("{} field{}, expected user,account[,from]", rec.fields.size(),
                                rec.fields.size() == 1 ? "" : "s"));
            continue;
        }
        ImportedRow row;
        row.line = rec.line;
        row.request.user = rec.fields[0];
        row.request.amend_closed = amend_closed;
        bool good = true;
        if (auto why = check_user_name(row.request.user); !why.empty()) {
            problem(rec.line, "user", why);
            good = false;
        }
        if (!rec.fields[1].empty()) {
            row.request.account = rec.fields[1];
            if (auto why = check_account_name(rec.fields[1]); !why.empty()) {
                problem(rec.line, "account", why);
                good = false;
            }
        }
        row.request.from_hour = default_from;
        if (rec.fields.size() == 3 && !rec.fields[2].empty()) {
            std::string why;
            if (auto from = parse_hour_time(rec.fields[2], why)) {
                row.request.from_hour = *from;
            } else {
                problem(rec.line, "from", why);
                good = false;
            }
        }
        if (!good) {
            continue;
        }
        const auto [it, added] =
            seen.try_emplace({row.request.user, row.request.from_hour}, std::pair{rec.line, row.request.account});
        if (!added) {
            if (it->second.second != row.request.account) {
                problem(rec.line, "from",
                        fmt::format("line {} already assigns this user from {}", it->second.first,
                                    format_utc(row.request.from_hour)));
            }
            continue; // the same assignment twice is the same assignment
        }
        rows.push_back(std::move(row));
    }

    std::stable_sort(rows.begin(), rows.end(), [](const ImportedRow& a, const ImportedRow& b) {
        return std::tie(a.request.user, a.request.from_hour) < std::tie(b.request.user, b.request.from_hour);
    });
    Transaction tx(m_db);
    for (auto& row : rows) {
        try {
            row.outcome = apply(row.request);
        } catch (const ClosedMonthRefusal& refusal) {
            problem(row.line, "from", refusal.why);
        }
    }
    if (out.problems.empty() && out.problems_left_out == 0) {
        tx.commit();
        out.rows = std::move(rows);
    }
    std::stable_sort(out.problems.begin(), out.problems.end(),
                     [](const ImportProblem& a, const ImportProblem& b) { return a.line < b.line; });
    return out;
}

std::vector<AccountSummary> Accounts::list_accounts() {
    std::vector<AccountSummary> accounts;
    std::map<std::int64_t, std::size_t> index;
    auto st = m_db.prepare("SELECT id, name, quota_bytes FROM accounts ORDER BY name");
    while (st.step()) {
        AccountSummary a;
        a.id = st.column_int64(0);
        a.name = st.column_text(1);
        if (!st.is_null(2)) {
            a.quota_bytes = st.column_int64(2);
        }
        index[a.id] = accounts.size();
        accounts.push_back(std::move(a));
    }
    auto users = m_db.prepare("SELECT u.name, (SELECT a.account_id FROM account_assignments a WHERE a.user_id = u.id "
                              "AND a.from_hour <= ?1 ORDER BY a.from_hour DESC LIMIT 1) AS account_id "
                              "FROM users u ORDER BY u.name");
    users.bind(1, m_now);
    while (users.step()) {
        if (!users.is_null(1)) {
            if (auto it = index.find(users.column_int64(1)); it != index.end()) {
                accounts[it->second].users.push_back(users.column_text(0));
            }
        }
    }
    return accounts;
}

void Accounts::set_quota(const std::string& account, std::optional<std::int64_t> quota_bytes) {
    if (quota_bytes && *quota_bytes <= 0) {
        fail(exit_code::k_usage, "a quota must be more than 0 bytes ('none' clears it)");
    }
    Transaction tx(m_db);
    auto st = m_db.prepare("UPDATE accounts SET quota_bytes = ? WHERE name = ?");
    st.bind(1, quota_bytes).bind(2, account);
    st.run();
    if (m_db.changes() == 0) {
        fail(exit_code::k_no_input, "no account named {}", account);
    }
    tx.commit();
}

std::string account_of_hour_sql(std::string_view table) {
    return fmt::format("(SELECT a.account_id FROM account_assignments a WHERE a.user_id = {0}.user_id "
                       "AND a.from_hour <= {0}.hour ORDER BY a.from_hour DESC LIMIT 1)",
                       table);
}

} // namespace wp
