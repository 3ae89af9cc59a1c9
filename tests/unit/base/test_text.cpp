#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/text.h"

namespace {

TEST(Text, ForEachLineNumbersLinesWithAndWithoutTheLastNewline) {
    std::vector<std::string> seen;
    wp::for_each_line("a\nb\n\nc", [&](int n, std::string_view line) {
        seen.push_back(std::to_string(n) + ":" + std::string(line));
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"1:a", "2:b", "3:", "4:c"}));
}

TEST(Text, Utf8SequenceLengthsAndWhatIsNotUtf8) {
    EXPECT_EQ(wp::utf8_sequence_length("a"), 1U);
    EXPECT_EQ(wp::utf8_sequence_length("\xC3\xA9x"), 2U);        // é
    EXPECT_EQ(wp::utf8_sequence_length("\xE2\x82\xAC"), 3U);     // €
    EXPECT_EQ(wp::utf8_sequence_length("\xF0\x9F\x98\x80"), 4U); // U+1F600
    EXPECT_EQ(wp::utf8_sequence_length("\xE9"), 0U);             // Latin-1 é
    EXPECT_EQ(wp::utf8_sequence_length("\xC0\xAF"), 0U);         // overlong
    EXPECT_EQ(wp::utf8_sequence_length("\xE0\x80\xAF"), 0U);     // overlong
    EXPECT_EQ(wp::utf8_sequence_length("\xED\xA0\x80"), 0U);     // a surrogate
    EXPECT_EQ(wp::utf8_sequence_length("\xF4\x90\x80\x80"), 0U); // past U+10FFFF
    EXPECT_EQ(wp::utf8_sequence_length("\xE2\x82"), 0U);         // cut short
}

TEST(Text, Utf8WithEscapesKeepsUtf8AndWritesStrayBytesAsHex) {
    EXPECT_EQ(wp::utf8_with_escapes("jos\xC3\xA9"), "jos\xC3\xA9");
    EXPECT_EQ(wp::utf8_with_escapes("jos\xE9"), "jos\\xe9");
    EXPECT_EQ(wp::utf8_with_escapes(std::string("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(wp::utf8_with_escapes("\xE2\x82 \xFF"), "\\xe2\\x82 \\xff");
    // the same bytes, the same name
    EXPECT_EQ(wp::utf8_with_escapes("x\xE8"), wp::utf8_with_escapes("x\xE8"));
    EXPECT_NE(wp::utf8_with_escapes("x\xE8"), wp::utf8_with_escapes("x\xE9"));
}

} // namespace
