#include <gtest/gtest.h>

#include <chrono>

#include "base/progress.h"

namespace {

using namespace std::chrono_literals;

TEST(ProgressText, CountsHostsFilesAndBytes) {
    EXPECT_EQ(wp::progress_text("wp-fetchlogs", 0, 12, 0, 0, std::nullopt), "wp-fetchlogs: 0/12 hosts, 0 files, 0 B");
    EXPECT_EQ(wp::progress_text("wp-fetchlogs", 3, 12, 1, 1023, std::nullopt),
              "wp-fetchlogs: 3/12 hosts, 1 file, 1023 B");
    EXPECT_EQ(wp::progress_text("wp-fetchlogs", 12, 12, 40, 1536, 3u << 20),
              "wp-fetchlogs: 12/12 hosts, 40 files, 1.5 KiB, 3.0 MiB/s");
    EXPECT_EQ(wp::progress_text("x", 1, 1, 2, 5ull << 40, 0), "x: 1/1 hosts, 2 files, 5.0 TiB, 0 B/s");
    EXPECT_EQ(wp::progress_text("x", 1, 1, 2, 2048ull << 40, std::nullopt), "x: 1/1 hosts, 2 files, 2048.0 TiB");
}

TEST(ByteRate, NoneBeforeASecondOfData) {
    wp::ByteRate rate;
    const auto t0 = wp::ByteRate::Clock::time_point{} + 100s;
    rate.sample(t0, 0); // nothing yet: the rate starts at the first byte
    rate.sample(t0 + 5s, 1000);
    EXPECT_FALSE(rate.per_second(t0 + 5s, 1000));
    rate.sample(t0 + 5500ms, 2000);
    EXPECT_FALSE(rate.per_second(t0 + 5500ms, 2000));
    rate.sample(t0 + 6s, 3000);
    EXPECT_EQ(rate.per_second(t0 + 6s, 3000), 2000u); // 2000 bytes over the one second since the first sample
}

TEST(ByteRate, OnlyTheLastTwoSecondsCount) {
    wp::ByteRate rate;
    const auto t0 = wp::ByteRate::Clock::time_point{} + 100s;
    rate.sample(t0, 1 << 20);
    rate.sample(t0 + 1s, 2 << 20);
    rate.sample(t0 + 2s, 3 << 20);
    EXPECT_EQ(rate.per_second(t0 + 2s, 3 << 20), 1u << 20);
    rate.sample(t0 + 3s, 3 << 20); // a stall; the sample at t0 is now too old
    EXPECT_EQ(rate.per_second(t0 + 3s, 3 << 20), (1u << 20) / 2);
    rate.sample(t0 + 5s, 3 << 20);
    EXPECT_EQ(rate.per_second(t0 + 5s, 3 << 20), 0u);
}

} // namespace
