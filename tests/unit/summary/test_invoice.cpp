#include <gtest/gtest.h>

#include <string>

#include "base/calendar.h"
#include "base/error.h"
#include "store/db.h"
#include "summary/invoice.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

namespace {

using wp::InvoiceCounts;

constexpr std::int64_t k_hour = 3600;
constexpr std::int64_t k_day = 86400;
constexpr std::int64_t k_oct = 1790812800;         // 2026-10-01T00:00Z
constexpr std::int64_t k_nov = 1793491200;         // 2026-11-01T00:00Z
constexpr std::int64_t k_nov_toronto = 1793505600; // 2026-11-01 00:00 EDT
constexpr std::int64_t k_dec_toronto = 1796101200; // 2026-12-01 00:00 EST

class InvoiceDb : public ::testing::Test {
protected:
    InvoiceDb() : db(dir.path("wp.db")) {
        db.exec(R"SQL(
INSERT INTO servers(id, name, address, country, added_at) VALUES (1, 'tor1', 'a', 'CA', 0), (2, 'lon1', 'b', 'GB', 0),
  (3, 'nowhere', 'c', NULL, 0);
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'dave'), (5, 'erin'), (6, 'frank'),
  (7, 'gina'), (8, 'hal');
INSERT INTO accounts(id, name, added_at) VALUES (1, 'acme', 0), (2, 'zeta', 0);
INSERT INTO billing_classes(id, name, factor) VALUES (2, 'cache', 1), (3, 'origin', 2), (4, 'free', 0);
)SQL");
    }

    void assign(std::int64_t user, std::int64_t from, std::optional<std::int64_t> account) {
        auto st =
            db.prepare("INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) VALUES (?, ?, ?, 0)");
        st.bind(1, user).bind(2, from).bind(3, account);
        st.run();
    }

    // One class row, and its usage row grown by as much.
    void use(std::int64_t server, std::int64_t user, std::int64_t hour, std::int64_t klass, std::int64_t requests,
             std::int64_t bytes, std::optional<std::int64_t> billed = std::nullopt) {
        const std::int64_t factor = klass == 2 ? 1 : klass == 3 ? 2 : 0;
        const std::int64_t b = billed.value_or(bytes * factor);
        auto c = db.prepare("INSERT INTO usage_classes VALUES (?, ?, ?, ?, ?, ?, ?)");
        c.bind(1, server).bind(2, user).bind(3, hour).bind(4, klass).bind(5, requests).bind(6, bytes).bind(7, b);
        c.run();
        usage_only(server, user, hour, requests, bytes, b);
    }

    void usage_only(std::int64_t server, std::int64_t user, std::int64_t hour, std::int64_t requests,
                    std::int64_t bytes, std::int64_t billed) {
        auto u = db.prepare("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET requests = requests "
                            "+ excluded.requests, bytes = bytes + excluded.bytes, billed_bytes = billed_bytes + "
                            "excluded.billed_bytes");
        u.bind(1, server).bind(2, user).bind(3, hour).bind(4, requests).bind(5, bytes).bind(6, billed);
        u.run();
    }

    // October 2026 in UTC: alice and bob on acme, bob to zeta on the 15th at
    // 00:00, carol never assigned, gina unassigned from the 10th, erin and
    // frank (from the 20th) on acme without usage; an unsplit row and a usage
    // row without class rows.
    void fill_october() {
        assign(1, 0, 1);
        assign(2, 0, 1);
        assign(2, k_oct + 14 * k_day, 2);
        assign(4, 0, 2);
        assign(5, 0, 1);
        assign(6, k_oct + 19 * k_day, 1);
        assign(7, 0, 1);
        assign(7, k_oct + 9 * k_day, std::nullopt);
        use(1, 1, k_oct, 2, 2, 100);
        use(1, 1, k_oct, 3, 1, 50);
        use(2, 1, k_oct + k_day + 5 * k_hour, 4, 3, 70);
        use(1, 1, k_oct + 2 * k_day, 1, 4, 300, 450);
        usage_only(2, 1, k_oct + 5 * k_day, 1, 20, 40);
        use(1, 2, k_oct + 13 * k_day + 23 * k_hour, 3, 1, 10);
        use(1, 2, k_oct + 14 * k_day, 2, 1, 1000);
        use(3, 2, k_oct + 20 * k_day, 3, 2, 40);
        use(2, 3, k_oct + 3 * k_day, 2, 5, 500);
        use(2, 4, k_oct + 4 * k_day, 2, 1, 7);
        use(1, 7, k_oct + 12 * k_day, 2, 1, 5);
        use(1, 1, k_oct - k_hour, 2, 9, 9999); // September
        use(1, 1, k_nov, 2, 9, 8888);          // November
    }

    wp::Invoice invoice(std::optional<std::string> account, const std::string& month = "2026-10") {
        return wp::compute_invoice(db, account, wp::month_period(month, utc), utc);
    }

    TempDir dir;
    wp::Database db;
    wp::DayCalendar utc;
};

std::vector<std::string> labels(const wp::Invoice& inv) {
    std::vector<std::string> out;
    for (const auto& c : inv.classes) {
        out.push_back(c.label);
    }
    return out;
}

std::vector<std::string> keys(const std::vector<wp::InvoiceLine>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) {
        out.push_back(l.key);
    }
    return out;
}

// Every line: the classes sum to the line, and a class with a factor bills
// its bytes times the factor.
void expect_split_sums(const wp::Invoice& inv) {
    std::vector<const wp::InvoiceLine*> all{&inv.total};
    for (const auto* list : {&inv.users, &inv.servers, &inv.countries, &inv.days}) {
        for (const auto& l : *list) {
            all.push_back(&l);
        }
    }
    for (const auto* l : all) {
        InvoiceCounts sum;
        ASSERT_EQ(l->by_class.size(), inv.classes.size());
        for (std::size_t i = 0; i < inv.classes.size(); ++i) {
            sum.add(l->by_class[i]);
            if (inv.classes[i].factor) {
                EXPECT_EQ(l->by_class[i].billed_bytes, l->by_class[i].bytes * *inv.classes[i].factor) << l->key;
            }
        }
        EXPECT_EQ(sum, l->total) << l->key;
    }
}

TEST(InvoicePeriod, MonthsOfUtcAndOfTorontoWithItsDstChange) {
    const wp::DayCalendar utc;
    const auto oct = wp::month_period("2026-10", utc);
    EXPECT_EQ(oct.start, k_oct);
    EXPECT_EQ(oct.end, k_nov);
    EXPECT_EQ(wp::day_name(oct.first_day), "2026-10-01");
    EXPECT_EQ(wp::day_name(oct.last_day), "2026-10-31");
    const wp::DayCalendar toronto("America/Toronto");
    const auto nov = wp::month_period("2026-11", toronto);
    EXPECT_EQ(nov.start, k_nov_toronto);
    EXPECT_EQ(nov.end, k_dec_toronto);
    EXPECT_EQ(nov.zone, "America/Toronto");
    EXPECT_EQ(wp::month_period("2024-02", utc).last_day - wp::month_period("2024-02", utc).first_day, 28);
    EXPECT_EQ(wp::day_name(wp::month_period("2026-12", utc).last_day), "2026-12-31");
    for (const char* bad :
         {"2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-10-01", "", "1969-12", "２026-10"}) {
        EXPECT_EQ(error_code_of([&] { wp::month_period(bad, utc); }), 64) << bad;
    }
    EXPECT_EQ(wp::current_period(k_oct + 3 * k_day, utc).month, "2026-10");
    // 2026-11-01T03:00Z is still October 31st in Toronto.
    EXPECT_EQ(wp::current_period(k_nov_toronto - k_hour, toronto).month, "2026-10");
}

TEST(InvoicePeriod, OnlyAClosedMonth) {
    const wp::DayCalendar utc;
    const auto oct = wp::month_period("2026-10", utc);
    EXPECT_EQ(error_code_of([&] { wp::check_closed(oct, k_nov); }), 0);
    EXPECT_EQ(error_code_of([&] { wp::check_closed(oct, k_nov - 1); }), 65);
    EXPECT_EQ(error_code_of([&] { wp::check_closed(oct, k_oct - 100 * k_day); }), 65);
    try {
        wp::check_closed(oct, k_oct);
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_STREQ(e.what(), "month 2026-10 is not closed yet (ends at the start of 2026-11-01 in UTC, "
                               "2026-11-01T00:00:00Z)");
    }
}

TEST(InvoiceNames, AccountNamesThatMayNameAFile) {
    for (const char* ok : {"acme", "a", "A.b_c@d+e-f", "9lives"}) {
        EXPECT_TRUE(wp::is_valid_account_name(ok)) << ok;
    }
    for (const char* bad : {"", ".hidden", "-x", "a/b", "..", "a b", "_unassigned", "é"}) {
        EXPECT_FALSE(wp::is_valid_account_name(bad)) << bad;
    }
}

TEST_F(InvoiceDb, AccountWithAUserMovedMidMonthUnsplitRowsAndUsersWithoutUsage) {
    fill_october();
    const auto inv = invoice("acme");
    EXPECT_EQ(inv.account, "acme");
    EXPECT_EQ(labels(inv), (std::vector<std::string>{"cache", "origin", "free", "unsplit"}));
    EXPECT_TRUE(inv.has_unsplit());
    // erin, frank and gina: held by acme in October without usage billed to it, so on no statement of it
    EXPECT_EQ(keys(inv.users), (std::vector<std::string>{"alice", "bob"}));
    const auto& alice = inv.users[0];
    EXPECT_EQ(alice.by_class[0], (InvoiceCounts{2, 100, 100}));
    EXPECT_EQ(alice.by_class[1], (InvoiceCounts{1, 50, 100}));
    EXPECT_EQ(alice.by_class[2], (InvoiceCounts{3, 70, 0}));
    EXPECT_EQ(alice.by_class[3], (InvoiceCounts{5, 320, 490})); // the unsplit row and the row without classes
    EXPECT_EQ(alice.total, (InvoiceCounts{11, 540, 690}));
    EXPECT_EQ(inv.users[1].total, (InvoiceCounts{1, 10, 20})); // bob until the 15th
    EXPECT_EQ(inv.total.total, (InvoiceCounts{12, 550, 710}));
    EXPECT_EQ(keys(inv.servers), (std::vector<std::string>{"lon1", "tor1"}));
    EXPECT_EQ(inv.servers[0].country, "GB");
    EXPECT_EQ(inv.servers[0].total, (InvoiceCounts{4, 90, 40}));
    EXPECT_EQ(inv.servers[1].total, (InvoiceCounts{8, 460, 670}));
    EXPECT_EQ(keys(inv.countries), (std::vector<std::string>{"CA", "GB"}));
    EXPECT_EQ(inv.countries[0].total, (InvoiceCounts{8, 460, 670}));
    ASSERT_EQ(inv.days.size(), 31u);
    EXPECT_EQ(inv.days[0].key, "2026-10-01");
    EXPECT_EQ(inv.days[0].total, (InvoiceCounts{3, 150, 200}));
    EXPECT_EQ(inv.days[1].total, (InvoiceCounts{3, 70, 0}));
    EXPECT_EQ(inv.days[2].total, (InvoiceCounts{4, 300, 450}));
    EXPECT_EQ(inv.days[5].total, (InvoiceCounts{1, 20, 40}));
    EXPECT_EQ(inv.days[13].total, (InvoiceCounts{1, 10, 20}));
    EXPECT_EQ(inv.days[14].total, InvoiceCounts{});
    expect_split_sums(inv);
}

TEST_F(InvoiceDb, TheOtherAccountHasTheMovedUsersSecondHalfAndNoUnsplitColumn) {
    fill_october();
    const auto inv = invoice("zeta");
    EXPECT_EQ(labels(inv), (std::vector<std::string>{"cache", "origin", "free"}));
    EXPECT_FALSE(inv.has_unsplit());
    EXPECT_EQ(keys(inv.users), (std::vector<std::string>{"bob", "dave"}));
    EXPECT_EQ(inv.users[0].total, (InvoiceCounts{3, 1040, 1080}));
    EXPECT_EQ(inv.total.total, (InvoiceCounts{4, 1047, 1087}));
    EXPECT_EQ(keys(inv.servers), (std::vector<std::string>{"lon1", "nowhere", "tor1"}));
    // A server without a country code goes last, keyed "".
    EXPECT_EQ(keys(inv.countries), (std::vector<std::string>{"CA", "GB", ""}));
    EXPECT_EQ(inv.countries[2].total, (InvoiceCounts{2, 40, 80}));
    EXPECT_EQ(inv.days[14].total, (InvoiceCounts{1, 1000, 1000}));
    expect_split_sums(inv);
}

TEST_F(InvoiceDb, UnassignedUsersHaveTheirOwnStatementAndNothingIsDropped) {
    fill_october();
    EXPECT_TRUE(wp::has_unassigned_usage(db, wp::month_period("2026-10", utc)));
    const auto inv = invoice(std::nullopt);
    EXPECT_FALSE(inv.account);
    EXPECT_EQ(keys(inv.users), (std::vector<std::string>{"carol", "gina"}));
    EXPECT_EQ(inv.total.total, (InvoiceCounts{6, 505, 505}));
    expect_split_sums(inv);
    // The three statements are the month's usage, to the byte.
    auto st = db.prepare("SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE hour >= ? AND hour < ?");
    st.bind(1, k_oct).bind(2, k_nov);
    ASSERT_TRUE(st.step());
    InvoiceCounts all = inv.total.total;
    all.add(invoice("acme").total.total);
    all.add(invoice("zeta").total.total);
    EXPECT_EQ(all, (InvoiceCounts{st.column_int64(0), st.column_int64(1), st.column_int64(2)}));
    EXPECT_FALSE(wp::has_unassigned_usage(db, wp::month_period("2026-08", utc)));
}

TEST_F(InvoiceDb, UnknownAccountAndClassRowsBeyondUsageAreErrors) {
    fill_october();
    EXPECT_EQ(error_code_of([&] { invoice("nobody"); }), 66);
    db.exec("UPDATE usage_classes SET bytes = bytes + 1 WHERE user_id = 4 AND class_id = 2");
    EXPECT_EQ(error_code_of([&] { invoice("zeta"); }), 65);
    EXPECT_EQ(error_code_of([&] { invoice("acme"); }), 0);
}

TEST_F(InvoiceDb, AnEmptyMonthStillListsItsDays) {
    fill_october();
    const auto inv = invoice("acme", "2026-08");
    EXPECT_EQ(inv.days.size(), 31u);
    EXPECT_TRUE(inv.servers.empty());
    EXPECT_TRUE(inv.users.empty());
    EXPECT_EQ(inv.total.total, InvoiceCounts{});
    EXPECT_TRUE(inv.classes.empty());
}

TEST_F(InvoiceDb, TorontoNovemberWithItsDstChangeAndAMoveAtLocalMidnight) {
    const wp::DayCalendar toronto("America/Toronto");
    const std::int64_t move = 1794718800; // 2026-11-15 00:00 EST
    assign(8, 0, 1);
    assign(8, move, 2);
    use(1, 8, k_nov_toronto - k_hour, 2, 1, 1);      // October 31st, 23:00 EDT
    use(1, 8, k_nov_toronto, 2, 1, 10);              // November 1st, 00:00 EDT
    use(1, 8, k_nov_toronto + k_day, 2, 1, 100);     // still November 1st, 23:00 EST: a 25-hour day
    use(1, 8, move - k_hour, 3, 1, 1000);            // November 14th, 23:00
    use(1, 8, move, 3, 1, 10000);                    // November 15th, 00:00: zeta's
    use(1, 8, k_dec_toronto - k_hour, 2, 1, 100000); // November 30th, 23:00 EST
    use(1, 8, k_dec_toronto, 2, 1, 1000000);         // December
    const auto period = wp::month_period("2026-11", toronto);
    const auto acme = wp::compute_invoice(db, std::string("acme"), period, toronto);
    ASSERT_EQ(acme.days.size(), 30u);
    EXPECT_EQ(acme.days[0].total, (InvoiceCounts{2, 110, 110}));
    EXPECT_EQ(acme.days[13].total, (InvoiceCounts{1, 1000, 2000}));
    EXPECT_EQ(acme.total.total, (InvoiceCounts{3, 1110, 2110}));
    expect_split_sums(acme);
    const auto zeta = wp::compute_invoice(db, std::string("zeta"), period, toronto);
    EXPECT_EQ(keys(zeta.users), (std::vector<std::string>{"hal"}));
    EXPECT_EQ(zeta.days[14].total, (InvoiceCounts{1, 10000, 20000}));
    EXPECT_EQ(zeta.days[29].total, (InvoiceCounts{1, 100000, 100000}));
    EXPECT_EQ(zeta.total.total, (InvoiceCounts{2, 110000, 120000}));
    expect_split_sums(zeta);
}

TEST_F(InvoiceDb, QuotaUseOfEveryAccountWithAQuota) {
    fill_october();
    db.exec("UPDATE accounts SET quota_bytes = 1000 WHERE name = 'acme'");
    const auto uses = wp::quota_usage(db, wp::month_period("2026-10", utc));
    ASSERT_EQ(uses.size(), 1u);
    EXPECT_EQ(uses[0].account, "acme");
    EXPECT_EQ(uses[0].quota_bytes, 1000);
    EXPECT_EQ(uses[0].billed_bytes, 710);
    db.exec("UPDATE accounts SET quota_bytes = 5 WHERE name = 'zeta'");
    const auto nov = wp::quota_usage(db, wp::month_period("2026-11", utc));
    ASSERT_EQ(nov.size(), 2u);
    EXPECT_EQ(nov[0].billed_bytes, 8888);
    EXPECT_EQ(nov[1].account, "zeta");
    EXPECT_EQ(nov[1].billed_bytes, 0);
}

} // namespace
