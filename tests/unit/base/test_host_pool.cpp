#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/host_pool.h"

using namespace std::chrono_literals;

namespace {

TEST(HostPool, RunsEveryTaskWithBoundedConcurrency) {
    std::atomic<int> running{0};
    std::atomic<int> peak{0};
    std::vector<int> done(20, 0);
    wp::HostPool pool(3, [] { return false; });
    const auto started = pool.run(done.size(), [&](std::size_t i) {
        const int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(5ms);
        done[i] = 1;
        --running;
    });
    EXPECT_EQ(started, 20u);
    EXPECT_EQ(std::count(done.begin(), done.end(), 1), 20);
    EXPECT_LE(peak.load(), 3);
    EXPECT_GE(peak.load(), 2);
}

TEST(HostPool, StopsLaunchingWhenAskedAndRethrowsAfterOthersFinish) {
    std::atomic<bool> stop{false};
    std::atomic<int> ran{0};
    wp::HostPool pool(2, [&] { return stop.load(); });
    const auto started = pool.run(100, [&](std::size_t i) {
        ++ran;
        if (i == 4) {
            stop = true;
        }
    });
    EXPECT_EQ(static_cast<int>(started), ran.load());
    EXPECT_LT(started, 100u);
    EXPECT_GE(started, 5u);

    std::atomic<bool> slow_finished{false};
    wp::HostPool failing(2, [] { return false; });
    EXPECT_THROW(failing.run(50,
                             [&](std::size_t i) {
                                 if (i == 0) {
                                     std::this_thread::sleep_for(50ms);
                                     slow_finished = true;
                                 }
                                 if (i == 1) {
                                     throw wp::Error(74, "boom");
                                 }
                             }),
                 wp::Error);
    EXPECT_TRUE(slow_finished.load());
}

} // namespace
