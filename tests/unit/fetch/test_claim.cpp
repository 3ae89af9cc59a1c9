#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "fetch/claim.h"

namespace {

TEST(ClaimStamp, IsUtcCompactIso8601) {
    EXPECT_EQ(wp::format_claim_stamp(1795611600), "20261125T130000Z");
    EXPECT_EQ(wp::format_claim_stamp(0), "19700101T000000Z");
    EXPECT_EQ(wp::format_claim_stamp(1294011828), "20110102T234348Z");
}

TEST(ClaimedName, OnlyExactlyOurNamesAreAccepted) {
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z"), "20261125T130000Z");
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z.2"), "20261125T130000Z.2");
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z.999"), "20261125T130000Z.999");
    for (const char* bad :
         {"access.log", "access.log.wp-", "access.log.wp-20261125T130000", "access.log.wp-20261325T130000Z",
          "access.log.wp-20261100T130000Z", "access.log.wp-20261125T250000Z", "access.log.wp-20261125T136000Z",
          "access.log.wp-20261125t130000Z", "access.log.wp-20261125T130000Z.0", "access.log.wp-20261125T130000Z.01",
          "access.log.wp-20261125T130000Z.1000", "access.log.wp-20261125T130000Z.tmp",
          "access.log.wp-20261125T130000Z.", "access.log.wp-20261125T130000Z/../x", "access.log.wp-20261125T130000Z\n",
          "other.log.wp-20261125T130000Z", "xaccess.log.wp-20261125T130000Z", "access.log.wp-$(reboot)",
          "access.log.wp-2026112 T130000Z"}) {
        EXPECT_EQ(wp::claimed_stamp("access.log", bad), "") << bad;
    }
    EXPECT_EQ(wp::claimed_stamp("", ".wp-20261125T130000Z"), "");
}

TEST(Listing, ParsesLiveLogAndSortsClaimsOldestFirst) {
    using namespace std::string_literals;
    const std::string out = "L12345\0"s
                            "Caccess.log.wp-20261125T130000Z.10\0"s
                            "Caccess.log.wp-20261125T130000Z\0"s
                            "Caccess.log.wp-20261124T230000Z\0"s
                            "Caccess.log.wp-20261125T130000Z.9\0"s
                            "Caccess.log.wp-bogus\0"s
                            "Caccess.log.wp-20261125T130000Z\nfoo\0"s;
    const auto l = wp::parse_listing(out, "access.log");
    ASSERT_TRUE(l.live_size);
    EXPECT_EQ(*l.live_size, 12345u);
    EXPECT_FALSE(l.live_is_symlink);
    EXPECT_EQ(l.claimed,
              (std::vector<std::string>{"access.log.wp-20261124T230000Z", "access.log.wp-20261125T130000Z",
                                        "access.log.wp-20261125T130000Z.9", "access.log.wp-20261125T130000Z.10"}));
    EXPECT_EQ(l.rejected.size(), 2u);

    EXPECT_FALSE(l.has_zstd);
    EXPECT_TRUE(wp::parse_listing("Z\0"s, "access.log").has_zstd);

    const auto none = wp::parse_listing("", "access.log");
    EXPECT_FALSE(none.live_size);
    EXPECT_TRUE(none.claimed.empty());
    EXPECT_TRUE(wp::parse_listing("S\0"s, "access.log").live_is_symlink);

    // (a lying `wc -c` printing "1 2" makes two L records)
    for (const std::string& bad : {"L12"s, "L\0"s, "Lx1\0"s, "X\0"s, "\0"s, "L1 2\0"s, "L1\0L2\0"s, "S\0L2\0"s}) {
        EXPECT_THROW(wp::parse_listing(bad, "access.log"), wp::Error) << bad;
    }

    // a claim made by the survey, with its rotate's outcome
    const auto c = wp::parse_listing("L5\0Naccess.log.wp-20261125T130000Z.1\0Rreopened\0"s
                                     "Caccess.log.wp-20261125T130000Z.1\0Caccess.log.wp-20261125T130000Z\0"s,
                                     "access.log");
    EXPECT_EQ(c.claimed_now, "access.log.wp-20261125T130000Z.1");
    EXPECT_EQ(c.rotate_outcome, "reopened");
    EXPECT_EQ(c.claimed,
              (std::vector<std::string>{"access.log.wp-20261125T130000Z", "access.log.wp-20261125T130000Z.1"}));
    for (const std::string& bad : {"L5\0Naccess.log.wp-20261125T130000Z\0"s, // claimed, but not listed
                                   "L5\0Naccess.log.wp-x\0Caccess.log.wp-x\0"s,
                                   "L5\0Naccess.log.wp-20261125T130000Z\0Naccess.log.wp-20261125T130000Z\0"
                                   "Caccess.log.wp-20261125T130000Z\0"s}) {
        EXPECT_THROW(wp::parse_listing(bad, "access.log"), wp::Error) << bad;
    }
}

TEST(RotateOutcome, TellsReopenedFromFailedFromNotReopened) {
    wp::ExecResult r;
    r.exit_status = 0;
    r.out = "reopened\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000), "");
    r.out = "rotate-failed 1\n";
    r.err = "squid: ERROR: No running copy\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000),
              "'squid -k rotate': exit status 1: squid: ERROR: No running copy");
    r.out = "not-reopened\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000)
                  .rfind("/l/access.log did not reappear within 10000 ms of 'squid -k rotate'", 0),
              0u);
    r.out = "garbage";
    EXPECT_NE(wp::parse_rotate_outcome(r, "x", "/l", 1), "");
    r.exit_status = 127;
    r.out.clear();
    r.err = "sh: 1: /bin/sh: not found\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "x", "/l", 1), "exit status 127: sh: 1: /bin/sh: not found");
}

} // namespace
