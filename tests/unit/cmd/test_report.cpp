#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/calendar.h"
#include "base/error.h"
#include "cmd/report.h"
#include "support/fixtures.h"

namespace {

using wp::ReportKey;

TEST(ReportRequest, BadCombinationsAreUsageErrors) {
    auto code = [](auto change) {
        wp::ReportRequest r;
        change(r);
        return error_code_of([&] { wp::report_query_for(r); });
    };
    EXPECT_EQ(code([](auto& r) { r.by = {"hour"}; }), 64); // needs --day
    EXPECT_EQ(code([](auto& r) { r.by = {"hour,day"}, r.day = "2026-10-01"; }), 64);
    EXPECT_EQ(code([](auto& r) { r.month = "2026-10", r.from = "2026-10-01"; }), 64);
    EXPECT_EQ(code([](auto& r) { r.month = "2026-13"; }), 64);
    EXPECT_EQ(code([](auto& r) { r.from = "2026-10-05", r.to = "2026-10-01"; }), 64);
    EXPECT_EQ(code([](auto& r) { r.to = "yesterday"; }), 64);
    EXPECT_EQ(code([](auto& r) { r.totals = true, r.by = {"user"}; }), 64);
    EXPECT_EQ(code([](auto& r) { r.totals = true, r.month = "2026-10"; }), 0);
    wp::ReportRequest month;
    month.month = "2026-02";
    const auto q = wp::report_query_for(month);
    EXPECT_EQ(q.from, "2026-02-01");
    EXPECT_EQ(q.to, "2026-02-28"); // compared as text: after every day of February
}

TEST(ReportRequest, HourByHourAsksForOneDayOfUsage) {
    wp::ReportRequest req;
    req.by = {"hour"};
    req.day = "2026-10-01";
    const auto q = wp::report_query_for(req);
    EXPECT_EQ(q.keys, (std::vector<ReportKey>{ReportKey::hour}));
    EXPECT_EQ(q.hour_day, 20727); // 2026-10-01: 1790812800 / 86400
    EXPECT_FALSE(q.from);
    EXPECT_FALSE(q.to);
}

} // namespace
