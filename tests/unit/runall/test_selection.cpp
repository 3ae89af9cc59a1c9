#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "runall/selection.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

namespace {

std::vector<std::string> names_of(const std::vector<wp::Server>& servers) {
    std::vector<std::string> out;
    for (const auto& s : servers) {
        out.push_back(s.name);
    }
    return out;
}

} // namespace

TEST(RunallSelection, HostNamesSplitOnBlanksCommasAndLinesWithComments) {
    const auto names = wp::parse_host_names("tor1 mtl2,  van3\n# a comment line\n\nnyc1 # the new one\r\n", "f");
    EXPECT_EQ(names, (std::vector<std::string>{"tor1", "mtl2", "van3", "nyc1"}));
}

TEST(RunallSelection, BadHostNameNamesSourceAndLine) {
    try {
        wp::parse_host_names("tor1\n../etc\n", "hosts.txt");
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_TRUE(std::string(e.what()).starts_with("hosts.txt:2: host name '../etc'")) << e.what();
    }
}

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

TEST(RunallSelection, DefaultIsActiveNotRetiredInInventoryOrderMinusExcluded) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c", false, true), server("d"), server("e")};
    in.known = {"a", "b", "c", "d", "e"};
    in.excluded = {"d"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "e"}));
}

TEST(RunallSelection, NamedHostsKeepTheirOrderOnceEachInactiveToo) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c"), server("d")};
    in.known = {"a", "b", "c", "d", "z"}; // z: filtered out by --where
    in.named = {"c", "b", "z", "c", "a", "d"};
    in.excluded = {"a"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"c", "b", "d"}));
}

TEST(RunallSelection, UnknownNamesNamedOrExcludedAreAllListedWith66) {
    wp::SelectionInput in;
    in.matching = {server("a")};
    in.known = {"a"};
    in.named = {"a", "tor9"};
    in.excluded = {"mtl9"};
    try {
        wp::select_hosts(in);
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 66);
        EXPECT_STREQ(e.what(), "no server named tor9, mtl9 in the inventory");
    }
    in.named.clear(); // a typo in -x alone must not run on the host meant
    EXPECT_EQ(exit_code_of([&] { wp::select_hosts(in); }), 66);
}
