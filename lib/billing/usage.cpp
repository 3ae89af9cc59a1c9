#include "billing/usage.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "base/error.h"
#include "base/text.h"
#include "billing/billing.h"
#include "billing/squid_log.h"
#include "store/db.h"

namespace wp {

UsageCounts& HourlyUsage::at(std::string_view logged_user, std::int64_t hour) {
    if (m_last != nullptr && hour == m_last_hour && logged_user == m_last_user) {
        return *m_last;
    }
    // Users interleave line by line: a small direct-mapped table of recent
    // users saves hashing the whole name on most lines.
    Recent& recent = m_recent[recent_slot(logged_user)];
    if (recent.hours == nullptr || *recent.name != logged_user) {
        auto it = m_users.find(logged_user);
        if (it == m_users.end()) {
            it = m_users.emplace(std::string(logged_user), Hours{}).first;
        }
        recent.name = &it->first; // map nodes do not move
        recent.hours = &it->second;
    }
    Hours& hours = *recent.hours;
    UsageCounts* found = nullptr;
    for (auto h = hours.rbegin(); h != hours.rend(); ++h) { // recent hours last
        if (h->first == hour) {
            found = &h->second;
            break;
        }
    }
    if (found == nullptr) {
        hours.emplace_back(hour, UsageCounts{});
        found = &hours.back().second;
    }
    m_last_user.assign(logged_user);
    m_last_hour = hour;
    m_last = found;
    return *found;
}

std::vector<UsageRow> HourlyUsage::rows() const {
    std::map<std::pair<std::string, std::int64_t>, UsageCounts> merged;
    for (const auto& [logged, hours] : m_users) {
        const std::string user = decode_user(logged);
        for (const auto& [hour, counts] : hours) {
            merged[{user, hour}].add(counts);
        }
    }
    std::vector<UsageRow> out;
    out.reserve(merged.size());
    for (const auto& [key, counts] : merged) {
        out.push_back({key.first, key.second, counts});
    }
    return out;
}

std::size_t HourlyUsage::recent_slot(std::string_view user) {
    std::size_t h = user.size() * 0x9e3779b1u;
    for (std::size_t i = user.size() > 4 ? user.size() - 4 : 0; i < user.size(); ++i)
        h = h * 31 + static_cast<unsigned char>(user[i]);
    if (!user.empty()) h += static_cast<unsigned char>(user.front()) * 0x85ebca6bu;
    return (h ^ (h >> 9)) % k_recent;
}

void HourlyUsage::clear() {
    m_users.clear();
    m_recent.fill({});
    m_last = nullptr;
    m_last_hour = -1;
    m_last_user.clear();
}

UsageWriter::UsageWriter(Database& db, const std::vector<BillingClass>& classes)
    : m_db(db), m_classes(classes), m_class_ids(classes.size(), 0) {}

std::int64_t UsageWriter::class_id(std::size_t index) {
    if (index >= m_class_ids.size()) {
        fail(exit_code::k_software, "usage counted in billing class {} of {}", index, m_class_ids.size());
    }
    if (m_class_ids[index] != 0) {
        return m_class_ids[index];
    }
    // A class is its name and factor: a factor changed in the rules is a new
    // class, so rows billed before keep the factor they were billed at.
    const BillingClass& c = m_classes[index];
    m_db.prepare("INSERT INTO billing_classes(name, factor) VALUES (?, ?) ON CONFLICT(name, factor) DO NOTHING")
        .bind(1, c.name)
        .bind(2, c.factor)
        .run();
    auto sel = m_db.prepare("SELECT id FROM billing_classes WHERE name = ? AND factor = ?");
    sel.bind(1, c.name).bind(2, c.factor);
    sel.step();
    m_class_ids[index] = sel.column_int64(0);
    return m_class_ids[index];
}

std::int64_t UsageWriter::user_id(const std::string& logged) {
    if (auto it = m_user_ids.find(logged); it != m_user_ids.end()) {
        return it->second;
    }
    // PostgreSQL's text holds UTF-8 only: a name with other bytes (a Latin-1
    // login) is billed under the name with those bytes written \xNN.
    const std::string name = m_db.dialect() == Dialect::postgresql ? utf8_with_escapes(logged) : logged;
    // Looked up first: an insert that finds the name would still use up an
    // id of PostgreSQL's sequence.
    auto sel = m_db.prepare("SELECT id FROM users WHERE name = ?");
    sel.bind(1, name);
    if (!sel.step()) {
        sel.reset();
        auto ins = m_db.prepare("INSERT INTO users(name) VALUES (?) ON CONFLICT(name) DO NOTHING");
        ins.bind(1, name).run();
        sel.bind(1, name);
        sel.step();
    }
    const std::int64_t id = sel.column_int64(0);
    m_user_ids.emplace(logged, id);
    return id;
}

void UsageWriter::add(std::int64_t server_id, const std::vector<UsageRow>& rows) {
    auto up = m_db.prepare(
        "INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(server_id, user_id, hour) DO UPDATE SET requests = usage.requests + excluded.requests, "
        "bytes = usage.bytes + excluded.bytes, billed_bytes = usage.billed_bytes + excluded.billed_bytes");
    auto up_class = m_db.prepare(
        "INSERT INTO usage_classes(server_id, user_id, hour, class_id, requests, bytes, billed_bytes) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT(server_id, user_id, hour, class_id) DO UPDATE SET "
        "requests = usage_classes.requests + excluded.requests, bytes = usage_classes.bytes + excluded.bytes, "
        "billed_bytes = usage_classes.billed_bytes + excluded.billed_bytes");
    // New users and classes first, in one order (names sorted, classes by
    // index): two collectors adding the same ones never wait on each other
    // in a cycle (PostgreSQL would end one of them as a deadlock).
    std::set<std::string_view> names;
    std::set<std::size_t> used_classes;
    for (const auto& r : rows) {
        names.insert(r.user);
        for (std::size_t i = 0; i < r.counts.classes.size(); ++i) {
            if (r.counts.classes[i].requests != 0) {
                used_classes.insert(i);
            }
        }
    }
    for (const auto name : names) {
        user_id(std::string(name));
    }
    for (const auto i : used_classes) {
        class_id(i);
    }
    if (m_db.dialect() == Dialect::postgresql) {
        add_in_arrays(server_id, rows);
        return;
    }
    for (const auto& r : rows) {
        const std::int64_t user = user_id(r.user);
        up.bind(1, server_id).bind(2, user).bind(3, r.hour);
        up.bind(4, r.counts.requests).bind(5, r.counts.bytes).bind(6, r.counts.billed_bytes);
        up.run();
        for (std::size_t i = 0; i < r.counts.classes.size(); ++i) {
            const ClassCounts& c = r.counts.classes[i];
            if (c.requests == 0) {
                continue; // every billed line is a request: nothing in this class
            }
            // bytes x factor is at most the row's billed bytes, which fit.
            const std::int64_t billed = c.bytes * m_classes[i].factor;
            up_class.bind(1, server_id).bind(2, user).bind(3, r.hour).bind(4, class_id(i));
            up_class.bind(5, c.requests).bind(6, c.bytes).bind(7, billed);
            up_class.run();
        }
    }
}

// On PostgreSQL a row per statement is a round trip per row: the rows go
// as arrays of integers (bound values, as text) that unnest() turns back
// into rows, in statements of at most k_array_rows rows.
void UsageWriter::add_in_arrays(std::int64_t server_id, const std::vector<UsageRow>& rows) {
    constexpr std::size_t k_array_rows = 5000;
    auto up = m_db.prepare(
        "INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) "
        "SELECT ?1, u, h, r, b, bb FROM unnest(CAST(?2 AS bigint[]), CAST(?3 AS bigint[]), CAST(?4 AS bigint[]), "
        "CAST(?5 AS bigint[]), CAST(?6 AS bigint[])) AS t(u, h, r, b, bb) "
        "ON CONFLICT(server_id, user_id, hour) DO UPDATE SET requests = usage.requests + excluded.requests, "
        "bytes = usage.bytes + excluded.bytes, billed_bytes = usage.billed_bytes + excluded.billed_bytes");
    auto up_class = m_db.prepare(
        "INSERT INTO usage_classes(server_id, user_id, hour, class_id, requests, bytes, billed_bytes) "
        "SELECT ?1, u, h, c, r, b, bb FROM unnest(CAST(?2 AS bigint[]), CAST(?3 AS bigint[]), CAST(?4 AS bigint[]), "
        "CAST(?5 AS bigint[]), CAST(?6 AS bigint[]), CAST(?7 AS bigint[])) AS t(u, h, c, r, b, bb) "
        "ON CONFLICT(server_id, user_id, hour, class_id) DO UPDATE SET "
        "requests = usage_classes.requests + excluded.requests, bytes = usage_classes.bytes + excluded.bytes, "
        "billed_bytes = usage_classes.billed_bytes + excluded.billed_bytes");
    // One array literal per column: '{1,2,3}'.
    struct Columns {
        std::vector<std::string> text;
        std::size_t rows = 0;
        explicit Columns(std::size_t n) : text(n, "{") {}
        void add(std::initializer_list<std::int64_t> values) {
            std::size_t i = 0;
            for (const auto v : values) {
                text[i] += rows == 0 ? fmt::format("{}", v) : fmt::format(",{}", v);
                ++i;
            }
            ++rows;
        }
        void write(Statement& st, std::int64_t server) {
            if (rows == 0) {
                return;
            }
            st.bind(1, server);
            for (std::size_t i = 0; i < text.size(); ++i) {
                st.bind(static_cast<int>(i) + 2, text[i] + "}");
            }
            st.run();
            text.assign(text.size(), "{");
            rows = 0;
        }
    };
    Columns usage(5);
    Columns classes(6);
    for (const auto& r : rows) {
        const std::int64_t user = user_id(r.user);
        usage.add({user, r.hour, r.counts.requests, r.counts.bytes, r.counts.billed_bytes});
        for (std::size_t i = 0; i < r.counts.classes.size(); ++i) {
            const ClassCounts& c = r.counts.classes[i];
            if (c.requests == 0) {
                continue; // every billed line is a request: nothing in this class
            }
            // bytes x factor is at most the row's billed bytes, which fit.
            classes.add({user, r.hour, class_id(i), c.requests, c.bytes, c.bytes * m_classes[i].factor});
        }
        if (usage.rows == k_array_rows) {
            usage.write(up, server_id);
        }
        if (classes.rows >= k_array_rows) {
            classes.write(up_class, server_id);
        }
    }
    usage.write(up, server_id);
    classes.write(up_class, server_id);
}

} // namespace wp
