#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

// Epoch seconds used below, from `date -u -d … +%s`:
//   2026-10-01T00Z 1790812800   2026-10-15T00Z 1792022400   2026-10-20T08Z 1792483200
//   2026-11-01T00Z 1793491200   2026-11-20T12Z 1795176000   2026-12-01T00Z 1796083200
//   2026-12-03T09Z 1796288400   2026-12-05T10Z 1796464800   2026-12-07T17:20Z 1796664000
//   2027-01-01T00Z 1798761600

namespace {

using wp::Accounts;
using wp::AssignmentRequest;

constexpr std::int64_t k_now = 1796664000;

class AccountsDb : public ::testing::Test {
protected:
    AccountsDb() : db(dir.path("wp.db")) {
        db.exec(R"SQL(
INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', 'a', 0);
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol');
INSERT INTO accounts(id, name, quota_bytes, added_at) VALUES (1, 'acme', 500000000000, 0), (2, 'zeta', NULL, 0);
INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) VALUES
  (1, 0, 1, 10), (2, 0, 1, 10), (2, 1796288400, 2, 20);
INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) VALUES
  (1, 1, 1792483200, 2, 100, 200),
  (1, 1, 1795176000, 3, 300, 300),
  (1, 2, 1795176000, 1, 10, 20),
  (1, 2, 1796464800, 4, 40, 80);
)SQL");
    }

    std::string rows(const std::string& sql) {
        auto st = db.prepare(sql);
        std::string out;
        while (st.step()) {
            for (int c = 0; c < st.column_count(); ++c) {
                out += (c ? "|" : "") + (st.is_null(c) ? std::string("NULL") : st.column_text(c));
            }
            out += "\n";
        }
        return out;
    }

    std::string assignments() {
        return rows("SELECT u.name, a.from_hour, coalesce(ac.name, '-') FROM account_assignments a "
                    "JOIN users u ON u.id = a.user_id LEFT JOIN accounts ac ON ac.id = a.account_id "
                    "ORDER BY u.name, a.from_hour");
    }

    TempDir dir;
    wp::Database db;
    Accounts accounts{db, k_now};
};

TEST(AccountNames, TheCharactersOfTheSchemasCheck) {
    for (const char* good : {"acme", "Acme-2", "a.b_c@d+e", "9lives"}) {
        EXPECT_EQ(wp::check_account_name(good), "") << good;
    }
    for (const char* bad : {"", "-acme", ".acme", "a b", "a,b", "a/b", "caf\xc3\xa9", "a\nb"}) {
        EXPECT_NE(wp::check_account_name(bad), "") << bad;
    }
    EXPECT_EQ(wp::check_account_name("bad name!"),
              "'bad name!' is not an account name: letters, digits and . _ @ + -, starting with a letter or digit");
}

TEST(HourTimes, DatesAndHoursInUtcOrWithAnOffset) {
    std::string why;
    EXPECT_EQ(wp::parse_hour_time("2026-12-01", why), 1796083200);
    EXPECT_EQ(wp::parse_hour_time("2026-12-03T09", why), 1796288400);
    EXPECT_EQ(wp::parse_hour_time("2026-12-03T09:00", why), 1796288400);
    EXPECT_EQ(wp::parse_hour_time("2026-12-03T09:00:00Z", why), 1796288400);
    EXPECT_EQ(wp::parse_hour_time("2026-12-03T10:00+01:00", why), 1796288400);
    EXPECT_EQ(wp::parse_hour_time("2026-12-03T04:00:00-05:00", why), 1796288400);
    EXPECT_EQ(wp::parse_hour_time("1970-01-01", why), 0);
}

TEST(HourTimes, RefusalsSayWhy) {
    std::string why;
    EXPECT_FALSE(wp::parse_hour_time("2026-12-03T09:30", why));
    EXPECT_EQ(why, "'2026-12-03T09:30' is 2026-12-03T09:30:00Z UTC, not on a whole hour (usage is kept per hour)");
    EXPECT_FALSE(wp::parse_hour_time("2026-12-03T09:00+05:30", why));
    EXPECT_EQ(why,
              "'2026-12-03T09:00+05:30' is 2026-12-03T03:30:00Z UTC, not on a whole hour (usage is kept per hour)");
    EXPECT_FALSE(wp::parse_hour_time("1969-12-31T23", why));
    EXPECT_EQ(why, "'1969-12-31T23' is before 1970-01-01");
    for (const char* bad : {"", "yesterday", "2026-02-30", "2026-12-03 09", "2026-12-03T24", "2026-12-03T9",
                            "2026-12-03T09:60", "2026-12-03T09Zx", "2026-12-03T09+1", "2026-12-03Z"}) {
        EXPECT_FALSE(wp::parse_hour_time(bad, why)) << bad;
    }
    EXPECT_EQ(why, "'2026-12-03Z' is not a time: YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]], UTC unless followed by Z or "
                   "+HH:MM/-HH:MM");
}

TEST(UtcMonths, StartsAndNames) {
    EXPECT_EQ(wp::utc_month_start(k_now), 1796083200);
    EXPECT_EQ(wp::next_utc_month_start(k_now), 1798761600);
    EXPECT_EQ(wp::next_utc_month_start(1793491200), 1796083200);
    EXPECT_EQ(wp::utc_month_name(1796083200 - 1), "2026-11");
}

TEST_F(AccountsDb, ListUsersWithCurrentAccountSeenHoursAndTotals) {
    const auto users = accounts.list_users();
    ASSERT_EQ(users.size(), 3u);
    EXPECT_EQ(users[0].name, "alice");
    EXPECT_EQ(users[0].account, "acme");
    EXPECT_EQ(users[0].first_seen, 1792483200);
    EXPECT_EQ(users[0].last_seen, 1795176000);
    EXPECT_EQ(users[0].totals.requests, 5);
    EXPECT_EQ(users[0].totals.bytes, 400);
    EXPECT_EQ(users[0].totals.billed_bytes, 500);
    EXPECT_EQ(users[1].name, "bob");
    EXPECT_EQ(users[1].account, "zeta"); // moved on 2026-12-03
    EXPECT_EQ(users[1].first_seen, 1795176000);
    EXPECT_EQ(users[1].last_seen, 1796464800);
    EXPECT_EQ(users[1].totals.billed_bytes, 100);
    EXPECT_EQ(users[2].name, "carol");
    EXPECT_EQ(users[2].account, std::nullopt);
    EXPECT_EQ(users[2].first_seen, std::nullopt);
    EXPECT_EQ(users[2].totals.requests, 0);
}

TEST_F(AccountsDb, UserDetailHasHistoryAndUsagePerAccountHeld) {
    const auto bob = accounts.user_detail("bob");
    ASSERT_EQ(bob.history.size(), 2u);
    EXPECT_EQ(bob.history[0].from_hour, 0);
    EXPECT_EQ(bob.history[0].account, "acme");
    EXPECT_EQ(bob.history[0].set_at, 10);
    EXPECT_EQ(bob.history[1].from_hour, 1796288400);
    EXPECT_EQ(bob.history[1].account, "zeta");
    ASSERT_EQ(bob.by_account.size(), 2u);
    EXPECT_EQ(bob.by_account[0].account, "acme");
    EXPECT_EQ(bob.by_account[0].totals.bytes, 10);
    EXPECT_EQ(bob.by_account[0].totals.billed_bytes, 20);
    EXPECT_EQ(bob.by_account[1].account, "zeta");
    EXPECT_EQ(bob.by_account[1].totals.requests, 4);
    EXPECT_EQ(bob.by_account[1].totals.billed_bytes, 80);
    EXPECT_EQ(error_code_of([&] { accounts.user_detail("nobody"); }), 66);
}

TEST_F(AccountsDb, AccountOfAnHourIsTheLatestAssignmentNotAfterIt) {
    auto account_of = [&](std::int64_t user, std::int64_t hour) {
        return rows("SELECT coalesce(" + wp::account_of_hour_sql("g") + ", '-') FROM (SELECT " + std::to_string(user) +
                    " AS user_id, " + std::to_string(hour) + " AS hour) g");
    };
    EXPECT_EQ(account_of(2, 1796288400 - 3600), "1\n"); // bob: acme until his December move
    EXPECT_EQ(account_of(2, 1796288400), "2\n");        // zeta from its hour on
    EXPECT_EQ(account_of(3, 1796288400), "-\n");        // carol: never assigned
    EXPECT_EQ(account_of(1, 0), "1\n");                 // alice: held from hour 0
}

TEST_F(AccountsDb, AssignCreatesUserAndAccountAndIsIdempotent) {
    auto out = accounts.assign({"dave", "newco", 1796464800, false});
    EXPECT_TRUE(out.changed);
    EXPECT_TRUE(out.created_user);
    EXPECT_TRUE(out.created_account);
    EXPECT_EQ(out.previous, std::nullopt);
    out = accounts.assign({"dave", "newco", 1796464800, false});
    EXPECT_FALSE(out.changed);
    out = accounts.assign({"dave", "newco", 1796464800 + 3600, false}); // newco holds then already
    EXPECT_FALSE(out.changed);
    out = accounts.assign({"dave", "zeta", 1796464800, false});
    EXPECT_TRUE(out.changed);
    EXPECT_TRUE(out.replaced);
    EXPECT_EQ(out.previous, "newco");
    EXPECT_EQ(rows("SELECT name, quota_bytes, added_at FROM accounts WHERE name = 'newco'"), "newco|NULL|1796664000\n");
    EXPECT_EQ(assignments(), "alice|0|acme\nbob|0|acme\nbob|1796288400|zeta\ndave|1796464800|zeta\n");
    EXPECT_EQ(rows("SELECT set_at FROM account_assignments WHERE user_id = (SELECT id FROM users WHERE name = "
                   "'dave')"),
              "1796664000\n");
    EXPECT_EQ(error_code_of([&] { accounts.assign({"dave", "bad name", 1796464800, false}); }), 64);
}

TEST_F(AccountsDb, ClosedMonthsAreRefusedUnlessAmended) {
    try {
        accounts.assign({"alice", "beta", 1792022400, false});
        FAIL() << "no refusal";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_EQ(std::string(e.what()),
                  "alice: from 2026-10-15T00:00:00Z would change the invoices of closed months 2026-10, 2026-11 (UTC), "
                  "where the user has usage; give --amend-closed to change them anyway");
    }
    EXPECT_EQ(rows("SELECT count(*) FROM accounts WHERE name = 'beta'"), "0\n");
    EXPECT_EQ(assignments(), "alice|0|acme\nbob|0|acme\nbob|1796288400|zeta\n");

    const auto out = accounts.assign({"alice", "beta", 1792022400, true});
    EXPECT_TRUE(out.changed);
    EXPECT_EQ(out.previous, "acme");
    EXPECT_EQ(out.closed_months_changed, (std::vector<std::string>{"2026-10", "2026-11"}));

    // bob unassigned from November: his December move bounds it, so only November changes
    const auto bob = accounts.assign({"bob", std::nullopt, 1793491200, true});
    EXPECT_EQ(bob.closed_months_changed, (std::vector<std::string>{"2026-11"}));
    EXPECT_EQ(assignments(),
              "alice|0|acme\nalice|1792022400|beta\nbob|0|acme\nbob|1793491200|-\nbob|1796288400|zeta\n");

    // a user without usage there changes no statement: never refused
    EXPECT_TRUE(accounts.assign({"carol", "acme", 1792022400, false}).changed);
    // the current month and later are open
    EXPECT_TRUE(accounts.assign({"carol", "zeta", 1796083200, false}).changed);
    EXPECT_TRUE(accounts.assign({"carol", "acme", 1798761600, false}).changed);
}

TEST_F(AccountsDb, StatementsInTheSummarysZoneCloseWhenItsMonthEnds) {
    // Statements in Toronto: 2026-12-01T02:00Z is still November there.
    db.exec("INSERT INTO rollup_state(id, zone, refreshed_at) VALUES (1, 'America/Toronto', 0);"
            "INSERT INTO usage VALUES (1, 3, 1796090400, 1, 5, 10)");
    EXPECT_EQ(error_code_of([&] { accounts.assign({"carol", "zeta", 1796083200, false}); }), 65);
    try {
        accounts.assign({"carol", "zeta", 1796083200, false});
    } catch (const wp::Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "carol: from 2026-12-01T00:00:00Z would change the invoices of closed month 2026-11 "
                  "(America/Toronto), where the user has usage; give --amend-closed to change them anyway");
    }
    // from Toronto's first hour of December on, open
    EXPECT_TRUE(accounts.assign({"carol", "zeta", 1796101200, false}).changed);
}

TEST_F(AccountsDb, AClosedMonthIsNamedInTheCalendarItIsClosedIn) {
    // Statements in Kolkata (UTC+5:30): 2026-11-30T20:00Z is already December there,
    // but still November in UTC, whose statement would change.
    db.exec("INSERT INTO rollup_state(id, zone, refreshed_at) VALUES (1, 'Asia/Kolkata', 0);"
            "INSERT INTO usage VALUES (1, 3, 1796068800, 1, 5, 10)");
    try {
        accounts.assign({"carol", "zeta", 1796068800, false});
        FAIL() << "no refusal";
    } catch (const wp::Error& e) {
        EXPECT_EQ(std::string(e.what()), "carol: from 2026-11-30T20:00:00Z would change the invoices of closed month "
                                         "2026-11 (UTC), where the user has usage; give --amend-closed to change them "
                                         "anyway");
    }
    // bob's November hour is closed in both calendars
    const auto out = accounts.assign({"bob", "zeta", 1793491200, true});
    EXPECT_EQ(out.closed_months_changed, (std::vector<std::string>{"2026-11 (UTC)", "2026-11 (Asia/Kolkata)"}));
}

TEST_F(AccountsDb, ImportReportsEveryBadRowAndWritesNothing) {
    const std::string before = assignments();
    const std::string csv = "user,account,from\n"
                            "alice,acme,2026-12-05T10\n"
                            "\"eve, the \"\"quoted\"\"\",zeta,2026-12-05\n"
                            ",acme\n"
                            "frank,bad name!\n"
                            "gina,acme,2026-12-05T10:30\n"
                            "hank\n"
                            "alice,zeta,2026-12-05T10:00:00Z\n"
                            "bob,zeta,2026-11-01\n";
    const auto out = accounts.import_csv(csv, "in.csv", 1796662800, false);
    ASSERT_EQ(out.problems.size(), 6u);
    const std::vector<std::string> expected = {
        "4 user a user name cannot be empty",
        "5 account 'bad name!' is not an account name: letters, digits and . _ @ + -, starting with a letter or digit",
        "6 from '2026-12-05T10:30' is 2026-12-05T10:30:00Z UTC, not on a whole hour (usage is kept per hour)",
        "7 row 1 field, expected user,account[,from]",
        "8 from line 2 already assigns this user from 2026-12-05T10:00:00Z",
        "9 from from 2026-11-01T00:00:00Z would change the invoices of closed month 2026-11 (UTC), where the user "
        "has usage; give --amend-closed to change them anyway",
    };
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& p = out.problems[i];
        EXPECT_EQ(std::to_string(p.line) + " " + p.column + " " + p.why, expected[i]);
    }
    EXPECT_TRUE(out.rows.empty());
    EXPECT_EQ(assignments(), before);
    EXPECT_EQ(rows("SELECT count(*) FROM users"), "3\n");

    const auto capped = accounts.import_csv(csv, "in.csv", 1796662800, false, 2);
    EXPECT_EQ(capped.problems.size(), 2u);
    EXPECT_EQ(capped.problems_left_out, 4u);
}

TEST_F(AccountsDb, ImportAppliesQuotedRowsDefaultsAndUnassignment) {
    const std::string csv = "\"eve, the \"\"quoted\"\"\",zeta,2026-12-05\r\n"
                            "bob,,2026-12-05T10\r\n"
                            "frank,acme\r\n";
    const auto out = accounts.import_csv(csv, "in.csv", 1796662800, false);
    ASSERT_TRUE(out.problems.empty());
    ASSERT_EQ(out.rows.size(), 3u);
    EXPECT_EQ(out.rows[0].request.user, "bob");
    EXPECT_EQ(out.rows[0].outcome.previous, "zeta");
    EXPECT_EQ(assignments(), "alice|0|acme\nbob|0|acme\nbob|1796288400|zeta\nbob|1796464800|-\n"
                             "eve, the \"quoted\"|1796428800|zeta\nfrank|1796662800|acme\n");
}

TEST_F(AccountsDb, AccountsWithQuotaAndCurrentUsers) {
    accounts.assign({"dave", "acme", 1796464800, false});
    const auto list = accounts.list_accounts();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].name, "acme");
    EXPECT_EQ(list[0].quota_bytes, 500000000000);
    EXPECT_EQ(list[0].users, (std::vector<std::string>{"alice", "dave"}));
    EXPECT_EQ(list[1].name, "zeta");
    EXPECT_EQ(list[1].quota_bytes, std::nullopt);
    EXPECT_EQ(list[1].users, (std::vector<std::string>{"bob"}));
}

TEST_F(AccountsDb, QuotaIsSetAndCleared) {
    accounts.set_quota("zeta", 1649267441664);
    EXPECT_EQ(rows("SELECT name, quota_bytes FROM accounts ORDER BY name"), "acme|500000000000\nzeta|1649267441664\n");
    accounts.set_quota("acme", std::nullopt);
    EXPECT_EQ(rows("SELECT name, quota_bytes FROM accounts ORDER BY name"), "acme|NULL\nzeta|1649267441664\n");
    EXPECT_EQ(error_code_of([&] { accounts.set_quota("nobody", 1); }), 66);
    EXPECT_EQ(error_code_of([&] { accounts.set_quota("zeta", 0); }), 64);
}

} // namespace
