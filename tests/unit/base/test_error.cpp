#include <gtest/gtest.h>

#include <string>

#include "base/error.h"

namespace {

TEST(Error, MessageKeepsWhatFollowsANulByte) {
    const wp::Error e(65, std::string("column 'na\0me'", 14));
    EXPECT_STREQ(e.what(), "column 'na\\x00me'");
    EXPECT_EQ(e.code(), 65);
    EXPECT_STREQ(wp::Error(64, "plain").what(), "plain");
}

} // namespace
