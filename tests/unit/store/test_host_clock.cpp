#include "store/host_clock.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

constexpr std::int64_t k_sent = 1'796'000'000'000'000'000; // 2026-11-28 epoch ns

TEST(ClockReading, OffsetFromTheMidpointAndHalfTheRoundTrip) {
    // Sent at .000, received 8 ms later: midpoint .004; the host said 30.012 s later.
    const auto r = wp::clock_reading(k_sent, k_sent + 8'000'000, "1796000030.016000000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->offset_ms, 30012);
    EXPECT_EQ(r->uncertainty_ms, 4);
    EXPECT_EQ(r->measured_at, 1796000000);
}

TEST(ClockReading, BehindIsNegativeAndRoundedToTheNearestMillisecond) {
    // The midpoint 1000 ns after sending; the host 2.5 s behind it.
    const auto r = wp::clock_reading(k_sent, k_sent + 2'001, "1795999997.500001000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->offset_ms, -2500);
    EXPECT_EQ(r->uncertainty_ms, 1); // 1001 ns, up to the next millisecond
    const auto half = wp::clock_reading(k_sent, k_sent, "1795999999.998500000");
    ASSERT_TRUE(half);
    EXPECT_EQ(half->offset_ms, -2); // -1.5 ms: halves away from zero
    EXPECT_EQ(half->uncertainty_ms, 0);
}

TEST(ClockReading, AFractionShorterThanNineDigitsIsTenthsAndSoOn) {
    const auto r = wp::clock_reading(k_sent, k_sent, "1796000000.25");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->offset_ms, 250);
    EXPECT_EQ(r->uncertainty_ms, 0);
}

TEST(ClockReading, WholeSecondsTakeTheMiddleOfTheSecondAndHalfASecondMore) {
    // BusyBox without %N prints it as is; some print nothing after the dot.
    for (const std::string line : {"1796000030.%N", "1796000030.N", "1796000030.", "1796000030"}) {
        const auto r = wp::clock_reading(k_sent, k_sent + 10'000'000, line);
        ASSERT_TRUE(r) << line;
        EXPECT_EQ(r->offset_ms, 30495) << line; // 30.5 s - 5 ms
        EXPECT_EQ(r->uncertainty_ms, 505) << line;
    }
}

TEST(ClockReading, NoReadingFromWhatIsNotATime) {
    for (const std::string line :
         {"", "\r", "date: not found", "-1796000000.0", " 1796000000", "17960000000000.0", ".5", "abc.123"}) {
        EXPECT_FALSE(wp::clock_reading(k_sent, k_sent + 1000, line)) << line;
    }
    // Our clock stepped back between send and receive: no bracket.
    EXPECT_FALSE(wp::clock_reading(k_sent, k_sent - 1, "1796000000.000000000"));
}

TEST(ClockReading, ACarriageReturnIsTolerated) {
    const auto r = wp::clock_reading(k_sent, k_sent, "1796000001.000000000\r");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->offset_ms, 1000);
}

struct Fed {
    std::vector<std::int64_t> times;
    std::size_t next = 0;
    std::string rest;
    wp::ClockLine line{[this](std::string_view d) { rest.append(d); }, [this] { return times.at(next++); }};
};

TEST(ClockLine, TheClockLineIsTimedWhereItEndsAndTheRestPassesUnchanged) {
    EXPECT_EQ(wp::clock_command(), R"SH(printf 'wp-clock %s\n' "$(date +%s.%N 2>/dev/null)")SH");
    Fed f;
    f.times = {k_sent, k_sent + 6'000'000};
    f.line.sent();
    f.line.feed("wp-clo");
    f.line.feed("ck 1796000030.0");
    EXPECT_FALSE(f.line.reading());
    f.line.feed("03000000\na\n");
    f.line.feed("b");
    f.line.finish();
    ASSERT_TRUE(f.line.reading());
    EXPECT_EQ(f.line.reading()->offset_ms, 30000);
    EXPECT_EQ(f.line.reading()->uncertainty_ms, 3);
    EXPECT_EQ(f.rest, "a\nb");
}

TEST(ClockLine, ACommandThatPrintsNothingGivesNothingButTheReading) {
    Fed f;
    f.times = {k_sent, k_sent};
    f.line.sent();
    f.line.feed("wp-clock 1796000000.000000000\n");
    f.line.finish();
    EXPECT_TRUE(f.line.reading());
    EXPECT_EQ(f.rest, "");
}

TEST(ClockLine, AnEmptyOrOverlongClockLineIsNoReadingAndStillKeptFromTheRest) {
    Fed empty;
    empty.times = {k_sent, k_sent};
    empty.line.sent();
    empty.line.feed("wp-clock \nout\n");
    EXPECT_FALSE(empty.line.reading());
    EXPECT_EQ(empty.rest, "out\n");

    Fed longer;
    longer.times = {k_sent, k_sent};
    longer.line.sent();
    longer.line.feed("wp-clock " + std::string(100, '1'));
    longer.line.feed(std::string(100, '2') + "\nout");
    EXPECT_FALSE(longer.line.reading());
    EXPECT_EQ(longer.rest, "out");
}

// A login shell that greets (an echo in .bashrc) before our line: its lines
// reach the operator unchanged, in order, and the reading is still taken.
TEST(ClockLine, LinesBeforeTheClockLinePassThroughWhateverTheirPieces) {
    Fed f;
    f.times = {k_sent, k_sent + 2'000'000};
    f.line.sent();
    for (const std::string_view piece :
         {"Wel", "come\n", "\n", "wp-cl0ck, not ours\nwp-c", "lock 1796000000.5", "\nhi\n", "wp-clock 1\n"}) {
        f.line.feed(piece);
    }
    f.line.finish();
    ASSERT_TRUE(f.line.reading());
    EXPECT_EQ(f.line.reading()->offset_ms, 499);
    EXPECT_EQ(f.rest, "Welcome\n\nwp-cl0ck, not ours\nhi\nwp-clock 1\n");
}

TEST(ClockLine, OutputWithoutTheClockLineIsHandedOnWhole) {
    Fed held;
    held.times = {k_sent};
    held.line.sent();
    held.line.feed("wp-c"); // may be the marker's start: held, then given at the end
    EXPECT_EQ(held.rest, "");
    held.line.finish();
    EXPECT_EQ(held.rest, "wp-c");
    EXPECT_FALSE(held.line.reading());

    // after 64 KiB of greeting, no line is taken for the clock any more
    Fed chatty;
    chatty.times = {k_sent};
    chatty.line.sent();
    const std::string greeting = std::string(1000, 'x') + "\n";
    std::string expect;
    for (int i = 0; i < 70; ++i) {
        chatty.line.feed(greeting);
        expect += greeting;
    }
    chatty.line.feed("wp-clock 1796000000.0\nend");
    chatty.line.finish();
    EXPECT_FALSE(chatty.line.reading());
    EXPECT_EQ(chatty.rest, expect + "wp-clock 1796000000.0\nend");
}

} // namespace
