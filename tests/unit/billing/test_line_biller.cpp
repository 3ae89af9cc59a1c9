#include <gtest/gtest.h>

#include <climits>

#include "base/error.h"
#include "billing/billing.h"
#include "billing/line_biller.h"
#include "billing/squid_log.h"
#include "billing/usage.h"

namespace {

constexpr std::int64_t k_now = 1764100000; // 2025-11-25T19:46:40Z

std::string line(std::int64_t t, std::int64_t bytes, const char* tag = "TCP_MISS/200",
                 const char* hier = "HIER_DIRECT/1.2.3.4") {
    return std::to_string(t) + ".000 10 192.0.2.1 " + tag + " " + std::to_string(bytes) + " GET http://x/ alice " +
           hier + " -";
}

TEST(LineBiller, BillsSaneLinesAndNamesWhyOthersAreRejected) {
    const auto grammar = wp::LogGrammar::native();
    const auto rules = wp::BillingRules::defaults();
    wp::LineBiller biller(grammar, rules);
    wp::HourlyUsage usage;
    std::int64_t t = 0;
    EXPECT_EQ(biller.bill(line(k_now, 1000), usage, k_now, t), "");
    EXPECT_EQ(t, k_now);
    EXPECT_EQ(biller.bill(line(k_now, 500, "TCP_HIT/200"), usage, k_now, t), "");
    EXPECT_EQ(biller.bill("nonsense", usage, k_now, t), "not understood");
    EXPECT_EQ(biller.bill(line(946684799, 1), usage, k_now, t), "time before 2000-01-01");
    EXPECT_EQ(biller.bill(line(946684800, 1), usage, k_now, t), "");
    EXPECT_EQ(biller.bill(line(k_now + 86401, 1), usage, k_now, t), "time more than a day ahead of the clock");
    EXPECT_EQ(biller.bill(line(k_now + 86400, 1), usage, k_now, t), "");
    EXPECT_EQ(biller.bill(line(1000000000000, 1), usage, k_now, t), "time more than a day ahead of the clock");
    EXPECT_EQ(biller.bill(line(k_now, wp::k_max_line_bytes + 1), usage, k_now, t), "byte count above 1 TiB");
    EXPECT_EQ(biller.bill(line(k_now, 999999999999999999), usage, k_now, t), "byte count above 1 TiB");
    // (with rules that ignore hierarchy codes every line prices an empty code:
    // ShortName then copies nothing, UBSan's null-pointer memcpy of before)
    std::int64_t requests = 0, bytes = 0, billed = 0;
    for (const auto& r : usage.rows()) {
        requests += r.counts.requests;
        bytes += r.counts.bytes;
        billed += r.counts.billed_bytes;
    }
    EXPECT_EQ(requests, 4);
    EXPECT_EQ(bytes, 1000 + 500 + 1 + 1);
    EXPECT_EQ(billed, 2000 + 500 + 2 + 2);
}

TEST(LineBiller, SumsAreCheckedSixtyFourBit) {
    wp::UsageCounts c{1, LLONG_MAX - 10, 5};
    EXPECT_TRUE(wp::checked_add(c, {1, 10, 5}));
    EXPECT_EQ(c.bytes, LLONG_MAX);
    EXPECT_FALSE(wp::checked_add(c, {1, 1, 1}));
    EXPECT_EQ(c.requests, 2);
    EXPECT_EQ(c.bytes, LLONG_MAX);

    const auto grammar = wp::LogGrammar::native();
    const auto rules = wp::BillingRules::defaults();
    wp::LineBiller biller(grammar, rules);
    wp::HourlyUsage usage;
    usage.at("alice", k_now - k_now % 3600) = {1, 0, LLONG_MAX - 100};
    std::int64_t t = 0;
    try {
        biller.bill(line(k_now, 1000), usage, k_now, t);
        FAIL() << "no overflow reported";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_STREQ(e.what(), "usage of user alice in the hour of 2025-11-25T19:00:00Z overflows 64 bits");
    }
}

} // namespace
