#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "runall/selection.h"

TEST(RunallSelection, StatusFileLastLineWinsAndOddLinesAreCounted) {
    const auto st = wp::parse_status_file("tor1 0\nmtl2 2 CRITICAL - no answer\n# comment\n\ntor1 2\n"
                                          "van3\nnyc1 down\nlon1\t1\n");
    EXPECT_EQ(st.states.size(), 3u);
    EXPECT_EQ(st.states.at("tor1"), 2);
    EXPECT_EQ(st.states.at("mtl2"), 2);
    EXPECT_EQ(st.states.at("lon1"), 1);
    EXPECT_EQ(st.bad_lines, (std::vector<int>{6, 7}));
}

TEST(RunallSelection, DownByStatusFileStateTwoOrByConsecutiveFailures) {
    const auto st = wp::parse_status_file("tor1 2\nmtl2 1\nhost11 2\n");
    EXPECT_EQ(wp::down_reason("tor1", st, 0, 3), "state 2 in the status file");
    EXPECT_EQ(wp::down_reason("mtl2", st, 0, 3), "");  // 1 is not down
    EXPECT_EQ(wp::down_reason("host1", st, 0, 3), ""); // "host11 2" is not "host1 2" (the seed's grep was)
    EXPECT_EQ(wp::down_reason("van3", st, 2, 3), "");
    EXPECT_EQ(wp::down_reason("van3", st, 3, 3), "3 consecutive failures");
    EXPECT_EQ(wp::down_reason("van3", st, 7, 3), "7 consecutive failures");
    EXPECT_EQ(wp::down_reason("van3", st, 50, 0), ""); // --down-after 0: never by failures
    EXPECT_EQ(wp::down_reason("van3", {}, 1, 1), "1 consecutive failures");
}
