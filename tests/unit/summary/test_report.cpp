#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "base/calendar.h"
#include "base/error.h"
#include "store/db.h"
#include "summary/report.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

namespace {

using wp::ReportKey;

template <typename F> std::string captured(F&& write) {
    std::FILE* f = std::tmpfile();
    write(f);
    std::rewind(f);
    std::string out;
    char buf[4096];
    while (const auto n = std::fread(buf, 1, sizeof buf, f)) {
        out.append(buf, n);
    }
    std::fclose(f);
    return out;
}

class ReportDb : public ::testing::Test {
protected:
    ReportDb() : db(dir.path("wp.db")) {
        db.exec(R"SQL(
INSERT INTO servers(id, name, address, city, country, provider, active, retired_at, added_at) VALUES
  (1, 'tor1', 'a', 'Toronto', 'CA', 'ovh', 1, NULL, 0),
  (2, 'tor2', 'b', 'Toronto', 'CA', 'linode', 1, NULL, 0),
  (3, 'lon1', 'c', 'London', 'GB', 'ovh', 1, NULL, 0),
  (4, 'lon2', 'd', 'London', 'CA', NULL, 1, NULL, 0),
  (5, 'par1', 'e', 'Paris', 'FR', 'ovh', 0, NULL, 0),
  (6, 'ber1', 'f', 'Berlin', 'DE', 'ovh', 0, 100, 0);
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'dave'), (5, 'erin');
INSERT INTO accounts(id, name, added_at) VALUES (1, 'acme', 0), (2, 'zeta', 0);
INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) VALUES (1, 0, 1, 0), (2, 0, 1, 0), (4, 0, 2, 0);
INSERT INTO sum_usage_daily VALUES
  ('2026-09-30', 1, 1, 1, 100, 200),
  ('2026-10-01', 1, 1, 2, 1000, 2000),
  ('2026-10-01', 3, 2, 3, 3000, 3000),
  ('2026-10-02', 3, 3, 4, 4000, 8000),
  ('2026-10-15', 2, 4, 5, 5000, 0),
  ('2026-10-31', 4, 5, 6, 6000, 12000),
  ('2026-11-01', 6, 1, 7, 7000, 14000);
-- the daily class split (all 'unsplit') under each user's account: reports by account read it
INSERT INTO sum_usage_daily_class SELECT day, server_id, user_id,
  coalesce((SELECT account_id FROM account_assignments x WHERE x.user_id = s.user_id), 0), 1, requests, bytes,
  billed_bytes FROM sum_usage_daily s;
-- the same traffic hour by hour (each day's at its noon, UTC)
INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes)
  SELECT server_id, user_id, CAST(strftime('%s', day) AS INTEGER) + 43200, requests, bytes, billed_bytes FROM sum_usage_daily;
)SQL");
    }

    wp::ReportResult query(wp::ReportQuery q) { return wp::query_report(db, q, utc); }

    TempDir dir;
    wp::Database db;
    wp::DayCalendar utc;
};

TEST(ReportKeys, ParseListsAndRejectUnknownOrRepeated) {
    EXPECT_EQ(wp::parse_report_keys({"account,month"}), (std::vector<ReportKey>{ReportKey::account, ReportKey::month}));
    EXPECT_EQ(wp::parse_report_keys({"server", "day"}), (std::vector<ReportKey>{ReportKey::server, ReportKey::day}));
    EXPECT_TRUE(wp::parse_report_keys({}).empty());
    EXPECT_EQ(error_code_of([] { wp::parse_report_keys({"planet"}); }), 64);
    EXPECT_EQ(error_code_of([] { wp::parse_report_keys({"user,user"}); }), 64);
    EXPECT_EQ(error_code_of([] { wp::parse_report_keys({"user,"}); }), 64);
}

TEST_F(ReportDb, MonthByAccountListsUsersWithoutAccountLast) {
    wp::ReportQuery q;
    q.keys = {ReportKey::account};
    q.from = "2026-10-01";
    q.to = "2026-10-31";
    const auto r = query(q);
    ASSERT_EQ(r.rows.size(), 3u);
    EXPECT_EQ(r.rows[0].keys[0], "acme");
    EXPECT_EQ(r.rows[0].requests, 5);
    EXPECT_EQ(r.rows[0].bytes, 4000);
    EXPECT_EQ(r.rows[0].billed_bytes, 5000);
    EXPECT_EQ(r.rows[1].keys[0], "zeta");
    EXPECT_FALSE(r.rows[2].keys[0]); // carol and erin, no account
    EXPECT_EQ(r.rows[2].billed_bytes, 20000);
    EXPECT_EQ(r.total.requests, 20);
    EXPECT_EQ(r.total.bytes, 19000);
    EXPECT_EQ(r.others_count, 0);
}

TEST_F(ReportDb, SeveralKeysAndFilters) {
    wp::ReportQuery q;
    q.keys = {ReportKey::country, ReportKey::city, ReportKey::month};
    auto r = query(q);
    ASSERT_EQ(r.rows.size(), 5u);
    EXPECT_EQ(r.rows[0].keys, (std::vector<std::optional<std::string>>{"CA", "London", "2026-10"}));
    EXPECT_EQ(r.rows[1].keys, (std::vector<std::optional<std::string>>{"CA", "Toronto", "2026-09"}));

    q = {};
    q.keys = {ReportKey::user};
    q.servers = {"tor1", "lon1"};
    q.accounts = {"acme"};
    r = query(q);
    ASSERT_EQ(r.rows.size(), 2u);
    EXPECT_EQ(r.rows[0].keys[0], "alice");
    EXPECT_EQ(r.rows[0].requests, 3); // tor1 only; ber1's row is another server
    EXPECT_EQ(r.rows[1].keys[0], "bob");

    q = {};
    q.keys = {ReportKey::provider, ReportKey::day};
    q.countries = {"CA"};
    q.from = "2026-10-01";
    r = query(q);
    ASSERT_EQ(r.rows.size(), 3u);
    EXPECT_EQ(r.rows[0].keys, (std::vector<std::optional<std::string>>{"linode", "2026-10-15"}));
    EXPECT_EQ(r.rows[2].keys, (std::vector<std::optional<std::string>>{std::nullopt, "2026-10-31"}));

    q = {}; // no keys: one row for the selection
    q.users = {"carol"};
    r = query(q);
    ASSERT_EQ(r.rows.size(), 1u);
    EXPECT_EQ(r.rows[0].billed_bytes, 8000);
}

TEST_F(ReportDb, NamesThatMatchNothingAreInputMissing) {
    for (auto change :
         {+[](wp::ReportQuery& q) { q.servers = {"nosuch"}; }, +[](wp::ReportQuery& q) { q.users = {"mallory"}; },
          +[](wp::ReportQuery& q) {
              q.accounts = {"acme", "typo"};
          },
          +[](wp::ReportQuery& q) { q.countries = {"XX"}; }}) {
        wp::ReportQuery q;
        change(q);
        EXPECT_EQ(error_code_of([&] { query(q); }), 66);
    }
}

TEST_F(ReportDb, TopKeepsTheMostBilledAndCountsTheRest) {
    wp::ReportQuery q;
    q.keys = {ReportKey::user};
    q.top = 2;
    const auto r = query(q);
    ASSERT_EQ(r.rows.size(), 2u);
    EXPECT_EQ(r.rows[0].keys[0], "alice"); // 16200
    EXPECT_EQ(r.rows[1].keys[0], "erin");  // 12000
    EXPECT_EQ(r.others_count, 3);
    EXPECT_EQ(r.others.billed_bytes, 11000);
    EXPECT_EQ(r.total.billed_bytes, 39200);
}

TEST_F(ReportDb, HourByHourReadsUsageOfOneDay) {
    const std::int64_t oct01 = wp::parse_day("2026-10-01").value() * 86400;
    db.exec("DELETE FROM sum_usage_daily; DELETE FROM usage");
    auto st = db.prepare("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, 1).bind(2, 1).bind(3, oct01 - 3600).bind(4, 1).bind(5, 1).bind(6, 1).run(); // the day before
    st.bind(1, 1).bind(2, 1).bind(3, oct01).bind(4, 2).bind(5, 20).bind(6, 40).run();
    st.bind(1, 3).bind(2, 2).bind(3, oct01).bind(4, 3).bind(5, 30).bind(6, 30).run();
    st.bind(1, 3).bind(2, 2).bind(3, oct01 + 23 * 3600).bind(4, 4).bind(5, 40).bind(6, 40).run();
    wp::ReportQuery q; // what --by hour --day 2026-10-01 asks (tests/unit/cmd/test_report.cpp)
    q.keys = {ReportKey::hour};
    q.hour_day = wp::parse_day("2026-10-01");
    auto r = query(q);
    ASSERT_EQ(r.rows.size(), 2u);
    EXPECT_EQ(r.rows[0].keys[0], "2026-10-01T00:00:00Z");
    EXPECT_EQ(r.rows[0].requests, 5);
    EXPECT_EQ(r.rows[1].keys[0], "2026-10-01T23:00:00Z");
    // In Toronto the same day starts at 04:00Z.
    const wp::DayCalendar toronto("America/Toronto");
    r = wp::query_report(db, q, toronto);
    ASSERT_EQ(r.rows.size(), 1u);
    EXPECT_EQ(r.rows[0].keys[0], "2026-10-01T23:00:00Z");
}

TEST_F(ReportDb, SiteTotalsCountActiveServersOnly) {
    const auto t = wp::site_totals(db, "2026-10");
    EXPECT_EQ(t.servers, 4);   // par1 inactive, ber1 retired
    EXPECT_EQ(t.countries, 2); // CA, GB
    EXPECT_EQ(t.cities, 3);    // Toronto CA, London GB, London CA
    EXPECT_EQ(t.month_bytes, 19000);
    EXPECT_EQ(t.total_bytes, 26100); // retired servers' traffic still happened
}

TEST_F(ReportDb, PrintsTablesForPeopleAndExactBytesForPrograms) {
    wp::ReportQuery q;
    q.keys = {ReportKey::account};
    q.from = "2026-10-01";
    q.to = "2026-10-31";
    const auto r = query(q);
    auto print = [&](wp::OutputFormat f, wp::SizeUnits u = wp::SizeUnits::iec) {
        return captured([&](std::FILE* out) { wp::print_report(out, q, r, f, u); });
    };
    EXPECT_EQ(print(wp::OutputFormat::tsv), "account\trequests\tbytes\tbilled_bytes\n"
                                            "acme\t5\t4000\t5000\n"
                                            "zeta\t5\t5000\t0\n"
                                            "\t10\t10000\t20000\n");
    EXPECT_EQ(print(wp::OutputFormat::csv), "account,requests,bytes,billed_bytes\n"
                                            "acme,5,4000,5000\nzeta,5,5000,0\n,10,10000,20000\n");
    EXPECT_EQ(print(wp::OutputFormat::json),
              "{\"account\":\"acme\",\"requests\":5,\"bytes\":4000,\"billed_bytes\":5000}\n"
              "{\"account\":\"zeta\",\"requests\":5,\"bytes\":5000,\"billed_bytes\":0}\n"
              "{\"account\":null,\"requests\":10,\"bytes\":10000,\"billed_bytes\":20000}\n");
    EXPECT_EQ(print(wp::OutputFormat::table), "account  requests     bytes  billed_bytes\n"
                                              "acme            5   3.9 KiB       4.9 KiB\n"
                                              "zeta            5   4.9 KiB           0 B\n"
                                              "-              10   9.8 KiB      19.5 KiB\n"
                                              "total          20  18.6 KiB      24.4 KiB\n");
    EXPECT_NE(print(wp::OutputFormat::table, wp::SizeUnits::si).find("total          20  19.0 kB       25.0 kB\n"),
              std::string::npos);
}

TEST_F(ReportDb, TableShowsWhatTopLeftOut) {
    wp::ReportQuery q;
    q.keys = {ReportKey::user, ReportKey::month};
    q.top = 1;
    const auto r = query(q);
    const auto text =
        captured([&](std::FILE* out) { wp::print_report(out, q, r, wp::OutputFormat::table, wp::SizeUnits::iec); });
    EXPECT_NE(text.find("(6 more)"), std::string::npos) << text;
    EXPECT_NE(text.find("\ntotal "), std::string::npos) << text;
}

} // namespace
