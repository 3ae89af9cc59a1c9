#include <gtest/gtest.h>

#include <cstdio>

#include "base/table.h"
#include "cmd/tool.h"

namespace {

std::string render(const wp::Table& t, wp::OutputFormat f) {
    char* buf = nullptr;
    size_t len = 0;
    FILE* mem = open_memstream(&buf, &len);
    t.print(mem, f);
    std::fclose(mem);
    std::string out(buf, len);
    std::free(buf);
    return out;
}

wp::Table sample() {
    wp::Table t({{"name"}, {"bytes", true}, {"note"}});
    t.add_row({"tor1", "5", "a\tb"});
    t.add_row({"dublin-2", "12345", "x,\"y\""});
    return t;
}

TEST(Table, TsvHasHeaderAndEscapes) {
    EXPECT_EQ(render(sample(), wp::OutputFormat::tsv), "name\tbytes\tnote\ntor1\t5\ta\\tb\ndublin-2\t12345\tx,\"y\"\n");
}

TEST(Table, CsvQuotesWhenNeeded) {
    EXPECT_EQ(render(sample(), wp::OutputFormat::csv),
              "name,bytes,note\ntor1,5,a\tb\ndublin-2,12345,\"x,\"\"y\"\"\"\n");
}

TEST(Table, AlignedTableRightAlignsNumbers) {
    EXPECT_EQ(render(sample(), wp::OutputFormat::table), "name      bytes  note\n"
                                                         "tor1          5  a\\tb\n"
                                                         "dublin-2  12345  x,\"y\"\n");
}

TEST(Table, JsonLines) {
    EXPECT_EQ(render(sample(), wp::OutputFormat::json),
              "{\"name\":\"tor1\",\"bytes\":5,\"note\":\"a\\tb\"}\n"
              "{\"name\":\"dublin-2\",\"bytes\":12345,\"note\":\"x,\\\"y\\\"\"}\n");
}

TEST(Table, YesNoColumnsAreJsonBooleans) {
    wp::Table t({{"name"}, {"active", false, true}});
    t.add_row({"tor1", "yes"});
    t.add_row({"dub1", "no"});
    t.add_row({"par1", ""});
    EXPECT_EQ(render(t, wp::OutputFormat::json),
              "{\"name\":\"tor1\",\"active\":true}\n{\"name\":\"dub1\",\"active\":false}\n"
              "{\"name\":\"par1\",\"active\":null}\n");
    EXPECT_EQ(render(t, wp::OutputFormat::tsv), "name\tactive\ntor1\tyes\ndub1\tno\npar1\t\n");
}

TEST(Table, AutomaticOnAPipeIsTsv) {
    EXPECT_EQ(render(sample(), wp::OutputFormat::automatic), render(sample(), wp::OutputFormat::tsv));
}

TEST(EscapeControl, MakesTerminalSafe) {
    EXPECT_EQ(wp::escape_control("ok\x1b[31mred\n"), "ok\\x1b[31mred\\x0a");
    EXPECT_EQ(wp::tsv_escape("a\\b\nc"), "a\\\\b\\nc");
}

} // namespace

TEST(ValidUtf8, StrayBytesOverlongsSurrogatesAndC1BecomeTheReplacementCharacter) {
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(wp::valid_utf8("plain ascii"), "plain ascii");
    EXPECT_EQ(wp::valid_utf8("m\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x98\x80"),
              "m\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x98\x80");
    EXPECT_EQ(wp::valid_utf8("J\xF6rg"), "J" + r + "rg");                 // Latin-1, decoded from %F6
    EXPECT_EQ(wp::valid_utf8("bad\xFF\xFEname"), "bad" + r + r + "name"); // bytes no UTF-8 has
    EXPECT_EQ(wp::valid_utf8("\xC0\xAF"), r + r);                         // an overlong '/'
    EXPECT_EQ(wp::valid_utf8("\xED\xA0\x80"), r + r + r);                 // a surrogate
    EXPECT_EQ(wp::valid_utf8("\xF4\x90\x80\x80"), r + r + r + r);         // beyond U+10FFFF
    EXPECT_EQ(wp::valid_utf8("cut \xE2\x82"), "cut " + r + r);            // cut short at the end
    EXPECT_EQ(wp::valid_utf8("\xC2\x85"), "\xC2\x85");                    // C1 NEL is UTF-8...
    EXPECT_EQ(wp::valid_utf8("\xC2\x85", true), r);                       // ...but no HTML text
    EXPECT_EQ(wp::json_quote("bad\xFF\"x"), "\"bad" + r + "\\\"x\"");
    // noncharacters are UTF-8 but no HTML text: U+FDD0, U+FFFF, U+1FFFE, U+10FFFF
    for (const char* nonchar : {"\xEF\xB7\x90", "\xEF\xBF\xBF", "\xF0\x9F\xBF\xBE", "\xF4\x8F\xBF\xBF"}) {
        EXPECT_EQ(wp::valid_utf8(nonchar), nonchar);
        EXPECT_EQ(wp::valid_utf8(nonchar, true), r);
    }
    // their neighbours are characters: U+FDCF, U+FDF0, U+0FFF, U+FFFD, U+1FFFD
    for (const std::string& c : {std::string("\xEF\xB7\x8F"), std::string("\xEF\xB7\xB0"), std::string("\xE0\xBF\xBF"),
                                 r, std::string("\xF0\x9F\xBF\xBD")}) {
        EXPECT_EQ(wp::valid_utf8(c, true), c);
    }
}
