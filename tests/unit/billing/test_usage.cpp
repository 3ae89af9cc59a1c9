#include <gtest/gtest.h>

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
    std::vector<wp::UsageRow> rows = {{"alice", 3600, {2, 100, 200}}, {"-", 3600, {1, 10, 0}}};
    for (int i = 0; i < 2; ++i) {
        wp::Transaction tx(db);
        wp::UsageWriter w(db);
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
    EXPECT_EQ(st.column_int64(2), 4);
    EXPECT_EQ(st.column_int64(3), 200);
    EXPECT_EQ(st.column_int64(4), 400);
    EXPECT_FALSE(st.step());
}

} // namespace
