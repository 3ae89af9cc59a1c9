#include <gtest/gtest.h>

#include <string>

#include "fetch/digest.h"

namespace {

TEST(StreamDigest, TakesItsTwoLinesOutOfStderr) {
    using namespace std::string_literals;
    const std::string sha(64, 'b');
    wp::ExecResult r;
    r.err = "zstd: a warning\nwp-digest:     7\nwp-digest:" + sha + "  -\nmore\n";
    const auto d = wp::take_stream_digest(r);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 7u);
    EXPECT_EQ(d->sha256, sha);
    EXPECT_EQ(r.err, "zstd: a warning\nmore\n");

    for (const std::string& bad :
         {""s, "wp-digest:7\n"s, "wp-digest:7\nwp-digest:" + sha + "  -\nwp-digest:" + sha + "\n",
          "wp-digest:7\nwp-digest:" + std::string(63, 'b') + "\n", " wp-digest:7\nwp-digest:" + sha + "\n",
          "wp-digest:7 wp-digest:" + sha + "\n"}) {
        wp::ExecResult b;
        b.err = bad;
        EXPECT_FALSE(wp::take_stream_digest(b)) << bad;
    }
}

TEST(RemoteDigest, ParsesWcAndSha256sum) {
    const std::string sha(64, 'a');
    auto d = wp::parse_remote_digest("1234\n" + sha + "  -\n");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 1234u);
    EXPECT_EQ(d->sha256, sha);
    d = wp::parse_remote_digest("     7\n" + sha + "  -\n"); // BSD wc pads
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 7u);
    d = wp::parse_remote_digest("7\n" + sha + " *stdin\n"); // openssl dgst -r
    ASSERT_TRUE(d);
    EXPECT_EQ(d->sha256, sha);
    EXPECT_FALSE(wp::parse_remote_digest(""));
    EXPECT_FALSE(wp::parse_remote_digest("12\n"));
    EXPECT_FALSE(wp::parse_remote_digest("x\n" + sha + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + std::string(63, 'a') + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + std::string(64, 'A') + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + sha + "0  -\n"));
}

} // namespace
