#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "base/calendar.h"
#include "base/error.h"
#include "store/db.h"
#include "summary/rollup.h"
#include "support/tmpdir.h"

namespace {

using Counts = std::array<std::int64_t, 3>;
using SummaryKey = std::tuple<std::string, std::int64_t, std::int64_t>; // day, server, user
using Summary = std::map<SummaryKey, Counts>;

constexpr std::int64_t k_hour = 3600;
constexpr std::int64_t k_day = 86400;
// 2026-03-08 and 2026-11-01: America/Toronto's DST days (clocks at 02:00 local).
constexpr std::int64_t k_mar07 = 1772841600; // 2026-03-07T00:00:00Z
constexpr std::int64_t k_mar08 = 1772928000;
constexpr std::int64_t k_nov01 = 1793491200;
constexpr std::int64_t k_dst_start = k_mar08 + 7 * k_hour; // 02:00 EST
constexpr std::int64_t k_dst_end = k_nov01 + 6 * k_hour;   // 02:00 EDT

std::int64_t day_number(const char* day) {
    return wp::parse_day(day).value();
}

std::string utc_day(std::int64_t t) {
    return wp::day_name(t / k_day);
}

// Toronto's 2026 calendar written out by hand: the oracle for the zone tests.
std::string toronto_day(std::int64_t t) {
    const std::int64_t offset = (t >= k_dst_start && t < k_dst_end) ? -4 * k_hour : -5 * k_hour;
    return wp::day_name((t + offset) / k_day);
}

class RollupDb : public ::testing::Test {
protected:
    RollupDb() : db(dir.path("wp.db")) {
        db.exec("INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', 'a', 0), (2, 'lon1', 'b', 0)");
        db.exec("INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), "
                "(3, 'carol')");
    }

    // Adds to usage as wp-parse does: upsert and, unless told not to, a dirty mark.
    void add_usage(std::int64_t server, std::int64_t user, std::int64_t hour, Counts c, bool mark = true) {
        auto st = db.prepare(
            "INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(server_id, user_id, hour) DO UPDATE SET requests = requests + excluded.requests, "
            "bytes = bytes + excluded.bytes, billed_bytes = billed_bytes + excluded.billed_bytes");
        st.bind(1, server).bind(2, user).bind(3, hour).bind(4, c[0]).bind(5, c[1]).bind(6, c[2]).run();
        if (mark) {
            mark_dirty(server, utc_day(hour));
        }
    }

    void mark_dirty(std::int64_t server, const std::string& day) {
        auto st = db.prepare("INSERT INTO dirty_days(server_id, day) VALUES (?, ?) ON CONFLICT DO NOTHING");
        st.bind(1, server).bind(2, day).run();
    }

    Summary summary() {
        Summary out;
        auto st = db.prepare("SELECT day, server_id, user_id, requests, bytes, billed_bytes FROM sum_usage_daily");
        while (st.step()) {
            out[{st.column_text(0), st.column_int64(1), st.column_int64(2)}] = {st.column_int64(3), st.column_int64(4),
                                                                                st.column_int64(5)};
        }
        return out;
    }

    // The oracle: every usage row summed per (day by day_of, server, user), in plain C++.
    Summary sums_over_usage(const std::function<std::string(std::int64_t)>& day_of) {
        Summary out;
        auto st = db.prepare("SELECT server_id, user_id, hour, requests, bytes, billed_bytes FROM usage");
        while (st.step()) {
            auto& c = out[{day_of(st.column_int64(2)), st.column_int64(0), st.column_int64(1)}];
            c[0] += st.column_int64(3);
            c[1] += st.column_int64(4);
            c[2] += st.column_int64(5);
        }
        return out;
    }

    std::int64_t count(const char* sql) {
        auto st = db.prepare(sql);
        st.step();
        return st.column_int64(0);
    }

    wp::RefreshOutcome refresh(const wp::DayCalendar& cal, wp::RefreshWindow window = {},
                               std::int64_t now = k_nov01 + 10 * k_day) {
        return wp::refresh_summary(db, cal, window, now);
    }

    TempDir dir;
    wp::Database db;
    wp::DayCalendar utc;
};

TEST(RollupDays, NamesAndParsesStrictly) {
    EXPECT_EQ(wp::day_name(0), "1970-01-01");
    EXPECT_EQ(wp::day_name(20520), "2026-03-08");
    EXPECT_EQ(wp::parse_day("2026-03-08"), 20520);
    EXPECT_EQ(wp::parse_day("2024-02-29"), wp::parse_day("2024-03-01").value() - 1);
    for (const char* bad : {"2026-02-29", "2026-13-01", "2026-3-08", "2026-03-08T", "20260308", "", "abcd-ef-gh"}) {
        EXPECT_FALSE(wp::parse_day(bad)) << bad;
    }
}

TEST(RollupCalendar, UtcDaysAreMidnightToMidnight) {
    const wp::DayCalendar cal;
    EXPECT_EQ(cal.zone(), "UTC");
    EXPECT_EQ(wp::DayCalendar("Etc/UTC").zone(), "UTC"); // one zone, one name
    EXPECT_EQ(cal.day_start(day_number("2026-03-08")), k_mar08);
    EXPECT_EQ(cal.day_of(k_mar08), day_number("2026-03-08"));
    EXPECT_EQ(cal.day_of(k_mar08 - 1), day_number("2026-03-07"));
}

TEST(RollupCalendar, TorontoDstDaysHave23And25Hours) {
    const wp::DayCalendar cal("America/Toronto");
    const auto mar08 = day_number("2026-03-08");
    const auto nov01 = day_number("2026-11-01");
    EXPECT_EQ(cal.day_start(mar08), k_mar08 + 5 * k_hour); // midnight EST
    EXPECT_EQ(cal.day_start(mar08 + 1) - cal.day_start(mar08), 23 * k_hour);
    EXPECT_EQ(cal.day_start(mar08 + 2) - cal.day_start(mar08 + 1), 24 * k_hour);
    EXPECT_EQ(cal.day_start(nov01), k_nov01 + 4 * k_hour); // midnight EDT
    EXPECT_EQ(cal.day_start(nov01 + 1) - cal.day_start(nov01), 25 * k_hour);
    EXPECT_EQ(cal.day_of(k_mar08 + 5 * k_hour - 1), mar08 - 1);
    EXPECT_EQ(cal.day_of(k_mar08 + 5 * k_hour), mar08);
    EXPECT_EQ(cal.day_of(k_nov01 + 29 * k_hour - 1), nov01);
    EXPECT_EQ(cal.day_of(k_nov01 + 29 * k_hour), nov01 + 1);
    // Every hour of March and November against the hand-written calendar.
    for (std::int64_t t = k_mar07 - 10 * k_day; t < k_nov01 + 20 * k_day; t += k_hour) {
        if (t == k_mar07 + 30 * k_day) {
            t = k_nov01 - 20 * k_day; // skip the summer
        }
        ASSERT_EQ(wp::day_name(cal.day_of(t)), toronto_day(t)) << t;
    }
}

TEST(RollupCalendar, HalfHourZoneStartsDaysAtHalfPast) {
    const wp::DayCalendar cal("Asia/Kolkata"); // UTC+05:30, no DST
    const auto mar08 = day_number("2026-03-08");
    EXPECT_EQ(cal.day_start(mar08), k_mar08 - 5 * k_hour - 1800);
    EXPECT_EQ(cal.day_of(k_mar08 - 6 * k_hour), mar08 - 1); // 18:00Z = 23:30 local
    EXPECT_EQ(cal.day_of(k_mar08 - 5 * k_hour), mar08);     // 19:00Z = 00:30 local
}

TEST(RollupCalendar, UnknownZonesAreUsageErrors) {
    for (const char* zone : {"Nowhere/Atlantis", "../../etc/passwd", "/etc/localtime", "America/", "", "America"}) {
        try {
            wp::DayCalendar cal(zone);
            ADD_FAILURE() << "accepted " << zone;
        } catch (const wp::Error& e) {
            EXPECT_EQ(e.code(), 64) << zone;
            EXPECT_NE(std::string(e.what()).find("time zone"), std::string::npos) << e.what();
        }
    }
}

TEST_F(RollupDb, RefreshesExactlyTheDirtyServerDaysAndConsumesTheirMarks) {
    add_usage(1, 1, k_mar07 + 1 * k_hour, {3, 1000, 2000});
    add_usage(1, 1, k_mar07 + 2 * k_hour, {1, 10, 20});
    add_usage(1, 2, k_mar08 + 5 * k_hour, {2, 500, 500});
    add_usage(2, 3, k_mar08 + 23 * k_hour, {7, 70, 0});
    const auto out = refresh(utc);
    EXPECT_EQ(out.marks_consumed, 3);
    EXPECT_EQ(out.recomputed.size(), 3u);
    EXPECT_EQ(summary(), sums_over_usage(utc_day));
    EXPECT_EQ((summary().at({"2026-03-07", 1, 1})), (Counts{4, 1010, 2020}));
    EXPECT_EQ(count("SELECT count(*) FROM dirty_days"), 0);

    // A change without a mark is not looked at: only marked pairs are recomputed.
    add_usage(1, 1, k_mar07 + 3 * k_hour, {1, 1, 1}, false);
    add_usage(2, 3, k_mar08 + 1 * k_hour, {1, 5, 5});
    const auto second = refresh(utc);
    ASSERT_EQ(second.recomputed.size(), 1u);
    EXPECT_EQ(second.recomputed[0], (wp::ServerDay{2, day_number("2026-03-08")}));
    EXPECT_EQ((summary().at({"2026-03-07", 1, 1})), (Counts{4, 1010, 2020}));
    EXPECT_EQ((summary().at({"2026-03-08", 2, 3})), (Counts{8, 75, 5}));
}

TEST_F(RollupDb, LateLogsDaysLaterLandInTheirOwnDay) {
    for (int d = 0; d < 10; ++d) {
        add_usage(1, 1, k_mar07 + d * k_day + 12 * k_hour, {1, 100, 200});
    }
    refresh(utc);
    // Server 2 was down for a week; its file arrives now, stamped a week ago.
    add_usage(2, 2, k_mar07 + 2 * k_day + 22 * k_hour, {5, 5000, 10000});
    add_usage(1, 1, k_mar07 + 2 * k_day + 12 * k_hour, {1, 1, 1}); // and a straggler for a day already summed
    const auto out = refresh(utc);
    EXPECT_EQ(out.recomputed.size(), 2u);
    const auto s = summary();
    EXPECT_EQ((s.at({"2026-03-09", 2, 2})), (Counts{5, 5000, 10000}));
    EXPECT_EQ((s.at({"2026-03-09", 1, 1})), (Counts{2, 101, 201}));
    EXPECT_EQ(s, sums_over_usage(utc_day));
}

TEST_F(RollupDb, RowsGoWhenTheirUsageIsGone) {
    add_usage(1, 1, k_mar08 + 3 * k_hour, {1, 10, 10});
    add_usage(1, 2, k_mar08 + 3 * k_hour, {1, 20, 20});
    refresh(utc);
    ASSERT_EQ(summary().size(), 2u);
    db.exec("DELETE FROM usage WHERE user_id = 2"); // e.g. a refund done by hand
    mark_dirty(1, "2026-03-08");
    const auto out = refresh(utc);
    EXPECT_EQ(out.rows_removed, 1);
    EXPECT_EQ(summary(), sums_over_usage(utc_day));
    EXPECT_EQ(summary().size(), 1u);
}

TEST_F(RollupDb, TorontoSummaryFollowsDstAndMapsUtcMarksToEveryLocalDayTheyTouch) {
    // One request per hour for user 1 on server 1 around both changes.
    for (std::int64_t t = k_mar07; t < k_mar07 + 4 * k_day; t += k_hour) {
        add_usage(1, 1, t, {1, 10, 20});
    }
    for (std::int64_t t = k_nov01 - k_day; t < k_nov01 + 3 * k_day; t += k_hour) {
        add_usage(1, 1, t, {1, 10, 20});
    }
    const wp::DayCalendar toronto("America/Toronto");
    refresh(toronto);
    const auto s = summary();
    EXPECT_EQ(s, sums_over_usage(toronto_day));
    EXPECT_EQ((s.at({"2026-03-08", 1, 1})[0]), 23);
    EXPECT_EQ((s.at({"2026-03-09", 1, 1})[0]), 24);
    EXPECT_EQ((s.at({"2026-11-01", 1, 1})[0]), 25);
    EXPECT_EQ((s.at({"2026-11-02", 1, 1})[0]), 24);
    EXPECT_EQ(wp::summary_zone(db), "America/Toronto");

    // 2026-03-09T02:00Z is 03-08 22:00 EDT; its UTC day overlaps two Toronto days: both are recomputed.
    add_usage(1, 2, k_mar08 + k_day + 2 * k_hour, {1, 1, 1});
    const auto out = refresh(toronto);
    EXPECT_EQ(out.recomputed,
              (std::vector<wp::ServerDay>{{1, day_number("2026-03-08")}, {1, day_number("2026-03-09")}}));
    EXPECT_EQ((summary().at({"2026-03-08", 1, 2})), (Counts{1, 1, 1}));
    EXPECT_EQ(summary(), sums_over_usage(toronto_day));
}

TEST_F(RollupDb, AnotherZoneIsRefusedUnlessRebuilt) {
    add_usage(1, 1, k_mar08 + 2 * k_hour, {1, 10, 10});
    refresh(utc);
    const wp::DayCalendar toronto("America/Toronto");
    add_usage(1, 1, k_mar08 + 3 * k_hour, {1, 10, 10});
    try {
        refresh(toronto);
        FAIL() << "refreshed a UTC summary in Toronto days";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 64);
        EXPECT_NE(std::string(e.what()).find("--rebuild"), std::string::npos) << e.what();
    }
    EXPECT_EQ(count("SELECT count(*) FROM dirty_days"), 1); // nothing consumed
    wp::RefreshWindow rebuild;
    rebuild.rebuild = true;
    refresh(toronto, rebuild);
    EXPECT_EQ(wp::summary_zone(db), "America/Toronto");
    EXPECT_EQ(summary(), sums_over_usage(toronto_day));
    EXPECT_EQ((summary().at({"2026-03-07", 1, 1})), (Counts{2, 20, 20})); // 02:00Z and 03:00Z are 03-07 EST
    EXPECT_EQ(count("SELECT count(*) FROM dirty_days"), 0);
}

TEST_F(RollupDb, AWindowRecomputesUnmarkedDaysAndDropsRowsWithoutUsage) {
    for (int d = 0; d < 5; ++d) {
        add_usage(1, 1, k_mar07 + d * k_day, {1, 1, 1});
    }
    refresh(utc);
    db.exec("UPDATE usage SET bytes = 99");                                      // changed behind wp-rollup's back
    db.exec("INSERT INTO sum_usage_daily VALUES ('2026-03-20', 2, 3, 1, 1, 1)"); // a stray row, no usage
    wp::RefreshWindow window;
    window.first_day = day_number("2026-03-09");
    const auto out = refresh(utc, window, k_mar07 + 20 * k_day);
    EXPECT_EQ(out.recomputed.size(), 6u); // 03-09..03-11 for both servers
    const auto s = summary();
    EXPECT_EQ((s.at({"2026-03-08", 1, 1})[1]), 1); // outside the window
    EXPECT_EQ((s.at({"2026-03-09", 1, 1})[1]), 99);
    EXPECT_EQ((s.at({"2026-03-11", 1, 1})[1]), 99);
    EXPECT_EQ(s.count({"2026-03-20", 2, 3}), 0u);
}

TEST_F(RollupDb, RebuildEqualsRefreshAndVerifyAgrees) {
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
        auto next = [&rng](std::int64_t n) { return static_cast<std::int64_t>(rng() % static_cast<unsigned>(n)); };
        add_usage(1 + next(2), 1 + next(3), k_mar07 + next(600) * k_hour, {1, next(10000), next(20000)});
    }
    const wp::DayCalendar toronto("America/Toronto");
    refresh(toronto);
    const auto refreshed = summary();
    EXPECT_EQ(refreshed, sums_over_usage(toronto_day));
    EXPECT_TRUE(wp::verify_summary(db, toronto).differences.empty());
    wp::RefreshWindow rebuild;
    rebuild.rebuild = true;
    refresh(toronto, rebuild);
    EXPECT_EQ(summary(), refreshed);
}

TEST_F(RollupDb, VerifyReportsEachDifferenceAndSkipsPendingDays) {
    add_usage(1, 1, k_mar07, {1, 10, 20});
    add_usage(1, 2, k_mar07, {2, 30, 40});
    add_usage(2, 3, k_mar08, {3, 50, 60});
    refresh(utc);
    db.exec("UPDATE sum_usage_daily SET bytes = 11 WHERE user_id = 1");
    db.exec("DELETE FROM sum_usage_daily WHERE user_id = 2");
    db.exec("INSERT INTO sum_usage_daily VALUES ('2026-03-09', 2, 3, 1, 1, 1)");
    auto out = wp::verify_summary(db, utc);
    ASSERT_EQ(out.differences.size(), 3u);
    EXPECT_EQ(out.differences[0].user_id, 1);
    EXPECT_EQ(out.differences[0].summary, (Counts{1, 11, 20}));
    EXPECT_EQ(out.differences[0].usage, (Counts{1, 10, 20}));
    EXPECT_EQ(out.differences[1].user_id, 2);
    EXPECT_FALSE(out.differences[1].summary);
    EXPECT_EQ(out.differences[2].day, "2026-03-09");
    EXPECT_FALSE(out.differences[2].usage);
    // Usage waiting for a refresh is not a difference.
    add_usage(2, 3, k_mar08, {1, 1, 1});
    out = wp::verify_summary(db, utc);
    EXPECT_EQ(out.pending, 1);
    EXPECT_EQ(out.differences.size(), 3u);
}

TEST_F(RollupDb, DryRunWritesNothing) {
    add_usage(1, 1, k_mar07, {1, 10, 20});
    const auto out = wp::refresh_summary(db, utc, {}, k_mar08, true);
    EXPECT_EQ(out.recomputed.size(), 1u);
    EXPECT_TRUE(summary().empty());
    EXPECT_EQ(count("SELECT count(*) FROM dirty_days"), 1);
    EXPECT_FALSE(wp::summary_zone(db));
}

// wp-parse commits usage + marks from another connection while refreshes run:
// whatever the interleaving, the summary equals usage except on pairs whose
// marks are still pending, so the next run completes it. Nothing is lost.
TEST_F(RollupDb, MarksOfAConcurrentParseSurviveTheRefresh) {
    std::atomic<bool> done{false};
    std::thread parser([path = dir.path("wp.db"), &done] {
        wp::Database other(path, wp::OpenMode::read_write);
        std::mt19937 rng(11);
        for (int i = 0; i < 200; ++i) {
            const std::int64_t server = 1 + rng() % 2;
            const std::int64_t hour = k_mar07 + static_cast<std::int64_t>(rng() % 240) * k_hour;
            wp::Transaction tx(other);
            auto st = other.prepare(
                "INSERT INTO usage VALUES (?, 1, ?, 1, 10, 20) ON CONFLICT DO UPDATE SET requests = requests + 1, "
                "bytes = bytes + 10, billed_bytes = billed_bytes + 20");
            st.bind(1, server).bind(2, hour).run();
            auto mark = other.prepare("INSERT INTO dirty_days VALUES (?, ?) ON CONFLICT DO NOTHING");
            mark.bind(1, server).bind(2, utc_day(hour)).run();
            tx.commit();
        }
        done = true;
    });
    int runs = 0;
    std::size_t lost = 0;
    while (!done || runs == 0) {
        refresh(utc);
        ++runs;
        lost += wp::verify_summary(db, utc).differences.size(); // pending pairs are not compared
    }
    parser.join();
    EXPECT_EQ(lost, 0u);
    refresh(utc);
    EXPECT_EQ(summary(), sums_over_usage(utc_day));
    EXPECT_EQ(count("SELECT count(*) FROM dirty_days"), 0);
}

} // namespace
