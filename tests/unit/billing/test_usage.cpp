#include <gtest/gtest.h>

#include <fmt/format.h>

#include "billing/billing.h"
#include "billing/usage.h"
#include "store/db.h"
#include "support/tmpdir.h"

namespace {

TEST(HourlyUsage, MergesPerUserAndHourAndDecodesNames) {
    wp::HourlyUsage u;
    auto add = [&](std::string_view user, std::int64_t hour, std::int64_t bytes, int factor) {
        auto& c = u.at(user, hour);
        c.requests += 1;
        c.bytes += bytes;
        c.billed_bytes += bytes * factor;
    };
    add("alice", 3600, 100, 2);
    add("alice", 3600, 50, 1);
    add("bob", 3600, 10, 0);
    add("alice", 7200, 5, 2);
    add("alice", 3600, 1, 2); // back to an earlier hour
    add("carol%20smith", 3600, 7, 1);
    add("carol smith", 3600, 3, 1); // same user, logged unescaped
    const auto rows = u.rows();
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0].user, "alice");
    EXPECT_EQ(rows[0].hour, 3600);
    EXPECT_EQ(rows[0].counts.requests, 3);
    EXPECT_EQ(rows[0].counts.bytes, 151);
    EXPECT_EQ(rows[0].counts.billed_bytes, 252);
    EXPECT_EQ(rows[1].hour, 7200);
    EXPECT_EQ(rows[2].user, "bob");
    EXPECT_EQ(rows[2].counts.billed_bytes, 0);
    EXPECT_EQ(rows[3].user, "carol smith");
    EXPECT_EQ(rows[3].counts.requests, 2);
    EXPECT_EQ(rows[3].counts.bytes, 10);
}

TEST(UsageWriter, UpsertsAddUpAndCreateUsers) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    db.exec("INSERT INTO servers(id, name, address, added_at) VALUES (7, 'tor1', 'a', 0)");
    const std::vector<wp::BillingClass> classes = {{"free", 0}, {"origin", 2}, {"cache", 1}};
    wp::UsageCounts alice{3, 150, 250};
    alice.classes[1] = {2, 100};
    alice.classes[2] = {1, 50};
    wp::UsageCounts nobody{1, 10, 0};
    nobody.classes[0] = {1, 10};
    std::vector<wp::UsageRow> rows = {{"alice", 3600, alice}, {"-", 3600, nobody}};
    for (int i = 0; i < 2; ++i) {
        wp::Transaction tx(db);
        wp::UsageWriter w(db, classes);
        w.add(7, rows);
        tx.commit();
    }
    auto st = db.prepare("SELECT u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g "
                         "JOIN users u ON u.id = g.user_id ORDER BY u.name");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "-");
    EXPECT_EQ(st.column_int64(2), 2);
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "alice");
    EXPECT_EQ(st.column_int64(1), 3600);
    EXPECT_EQ(st.column_int64(2), 6);
    EXPECT_EQ(st.column_int64(3), 300);
    EXPECT_EQ(st.column_int64(4), 500);
    EXPECT_FALSE(st.step());

    // Each class's row, billed at its factor, adding up across both writes.
    auto split = db.prepare("SELECT u.name, c.name, c.factor, g.requests, g.bytes, g.billed_bytes FROM usage_classes g "
                            "JOIN users u ON u.id = g.user_id JOIN billing_classes c ON c.id = g.class_id "
                            "ORDER BY u.name, c.name");
    std::vector<std::string> got;
    while (split.step()) {
        got.push_back(fmt::format("{} {} x{} {} {} {}", split.column_text(0), split.column_text(1),
                                  split.column_int64(2), split.column_int64(3), split.column_int64(4),
                                  split.column_int64(5)));
    }
    EXPECT_EQ(got,
              (std::vector<std::string>{"- free x0 2 20 0", "alice cache x1 2 100 100", "alice origin x2 4 200 400"}));
}

} // namespace
