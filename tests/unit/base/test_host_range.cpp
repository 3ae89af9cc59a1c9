#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "base/host_range.h"

// The expected values are nodeset(1)'s (ClusterShell): `nodeset -e` for the
// expansions, `nodeset -f` for the foldings.

namespace {

using Names = std::vector<std::string>;

Names expand(std::string_view list) {
    Names out;
    const std::string why = wp::expand_host_list(list, out);
    EXPECT_EQ(why, "") << list;
    return out;
}

std::string why_not(std::string_view list) {
    Names out{"kept"};
    const std::string why = wp::expand_host_list(list, out);
    EXPECT_EQ(out, Names{"kept"}) << "nothing is appended from a bad list";
    return why;
}

} // namespace

TEST(HostRange, RangesAndListsExpandInOrder) {
    // nodeset -e 'tor[1-4,7]'
    EXPECT_EQ(expand("tor[1-4,7]"), (Names{"tor1", "tor2", "tor3", "tor4", "tor7"}));
    // nodeset -e node[1-3] → node1 node2 node3
    EXPECT_EQ(expand("node[1-3]"), (Names{"node1", "node2", "node3"}));
    // top-level commas separate names; a comma inside brackets is the range's
    EXPECT_EQ(expand("lon1,tor[2,5],mtl3"), (Names{"lon1", "tor2", "tor5", "mtl3"}));
    EXPECT_EQ(expand("web01"), (Names{"web01"}));
    EXPECT_EQ(expand("tor[7]"), (Names{"tor7"}));
    EXPECT_EQ(expand("a,,b,"), (Names{"a", "b"}));
    EXPECT_EQ(expand("[1-2].example"), (Names{"1.example", "2.example"}));
}

TEST(HostRange, ZeroPaddingComesFromTheLowerBound) {
    // nodeset -e 'ams[01-03]' → ams01 ams02 ams03
    EXPECT_EQ(expand("ams[01-03]"), (Names{"ams01", "ams02", "ams03"}));
    // nodeset -e 'node[08-11]' → node08 node09 node10 node11
    EXPECT_EQ(expand("node[08-11]"), (Names{"node08", "node09", "node10", "node11"}));
    EXPECT_EQ(expand("n[098-101]"), (Names{"n098", "n099", "n100", "n101"}));
    EXPECT_EQ(expand("n[9-11]"), (Names{"n9", "n10", "n11"}));
    EXPECT_EQ(expand("n[0-1]"), (Names{"n0", "n1"})); // a lone 0 is not padding
    EXPECT_EQ(expand("n[007,9]"), (Names{"n007", "n9"}));
}

TEST(HostRange, StepsAndSeveralGroups) {
    // nodeset -e 'node[1-9/2]' → node1 node3 node5 node7 node9
    EXPECT_EQ(expand("node[1-9/2]"), (Names{"node1", "node3", "node5", "node7", "node9"}));
    EXPECT_EQ(expand("n[1-10/4]"), (Names{"n1", "n5", "n9"}));
    // nodeset -e 'r[1-2]n[1-2]' → r1n1 r1n2 r2n1 r2n2
    EXPECT_EQ(expand("r[1-2]n[1-2]"), (Names{"r1n1", "r1n2", "r2n1", "r2n2"}));
}

TEST(HostRange, GlobCharactersAreKeptForTheCaller) {
    EXPECT_EQ(expand("ams*,tor?"), (Names{"ams*", "tor?"}));
    EXPECT_EQ(expand("tor[1-2]*"), (Names{"tor1*", "tor2*"}));
}

TEST(HostRange, BadListsAreRefused) {
    EXPECT_EQ(why_not("tor[1-3"), "'tor[1-3': '[' without ']'");
    EXPECT_EQ(why_not("tor1-3]"), "'tor1-3]': ']' without '['");
    EXPECT_EQ(why_not("tor[1-[2]]"), "'tor[1-[2]]': '[' without ']'");
    EXPECT_EQ(why_not("tor[5-1]"), "'tor[5-1]': range 5-1 runs backwards");
    EXPECT_EQ(why_not("tor[]"), "'tor[]': empty brackets");
    EXPECT_EQ(why_not("tor[a-c]"),
              "'tor[a-c]': '[a-c]' is not a numeric range (brackets hold numbers and ranges only, e.g. [1-4,7])");
    EXPECT_EQ(why_not("tor[1,,2]"),
              "'tor[1,,2]': '[1,,2]' is not a numeric range (brackets hold numbers and ranges only, e.g. [1-4,7])");
    EXPECT_EQ(why_not("tor[1-5/0]"), "'tor[1-5/0]': range 1-5/0 has a step of 0");
    EXPECT_EQ(why_not("tor[3/2]"), "'tor[3/2]': '3/2' has a step but no range");
    EXPECT_EQ(why_not("tor[1-5]!tor3"),
              "'tor[1-5]!tor3': '!' (set difference) is not supported; exclude names with -x");
    EXPECT_EQ(why_not("ok1,tor[1-"), "'tor[1-': '[' without ']'");
}

TEST(HostRange, ExpansionsAreBounded) {
    Names out;
    EXPECT_EQ(wp::expand_host_list("n[1-100000]", out), "");
    EXPECT_EQ(out.size(), 100000u);
    EXPECT_EQ(out.back(), "n100000");
    EXPECT_EQ(why_not("n[0-100000]"), "'n[0-100000]': range 0-100000 is more than 100000 names");
    EXPECT_EQ(why_not("n[1-1000]m[1-1000]"), "'n[1-1000]m[1-1000]' is more than 100000 names");
    EXPECT_EQ(why_not("a[1-60000],b[1-60000]"), "more than 100000 names");
    EXPECT_EQ(why_not("n[0-99999999999999999999]"),
              "'n[0-99999999999999999999]': '0-99999999999999999999' has too many digits");
}

TEST(HostRange, FoldingAsNodesetF) {
    // nodeset -f node1 node2 node3 → node[1-3]
    EXPECT_EQ(wp::fold_host_names({"node1", "node2", "node3"}), "node[1-3]");
    // nodeset -f tor1 tor2 tor3 tor7 lon1 → lon1,tor[1-3,7]
    EXPECT_EQ(wp::fold_host_names({"tor1", "tor2", "tor3", "tor7", "lon1"}), "lon1,tor[1-3,7]");
    // nodeset -f 'cluster[1-10]' -x cluster5 → cluster[1-4,6-10]
    Names c;
    ASSERT_EQ(wp::expand_host_list("cluster[1-4,6-10]", c), "");
    EXPECT_EQ(wp::fold_host_names(c), "cluster[1-4,6-10]");
    EXPECT_EQ(wp::fold_host_names({"tor1"}), "tor1"); // never tor[1]
    EXPECT_EQ(wp::fold_host_names({"h72", "h71", "h73", "h71"}), "h[71-73]");
    EXPECT_EQ(wp::fold_host_names({"tor1", "tor2"}), "tor[1-2]");
    EXPECT_EQ(wp::fold_host_names({}), "");
    EXPECT_EQ(wp::fold_host_names({"gw", "tor3", "alpha"}), "alpha,gw,tor3");
}

TEST(HostRange, FoldingKeepsPaddingApart) {
    EXPECT_EQ(wp::fold_host_names({"ams01", "ams02", "ams03"}), "ams[01-03]");
    EXPECT_EQ(wp::fold_host_names({"ams01", "ams1", "ams2"}), "ams01,ams[1-2]");
    // 10 has the width of 08: they fold (node[08-11] expands to it)
    EXPECT_EQ(wp::fold_host_names({"node08", "node09", "node10", "node11"}), "node[08-11]");
    EXPECT_EQ(wp::fold_host_names({"n9", "n10", "n11"}), "n[9-11]");
}

TEST(HostRange, FoldingEveryNumberOfANameInTurn) {
    EXPECT_EQ(wp::fold_host_names({"web1.tor", "web2.tor", "web2.mtl"}), "web2.mtl,web[1-2].tor");
    // nodeset -f r1n1 r1n2 r2n1 r2n2 → r[1-2]n[1-2]
    EXPECT_EQ(wp::fold_host_names({"r1n1", "r1n2", "r2n1", "r2n2"}), "r[1-2]n[1-2]");
    // the last number the same, another one differing
    EXPECT_EQ(wp::fold_host_names({"web1.dc3", "web2.dc3", "web3.dc3", "web1.dc4"}), "web1.dc4,web[1-3].dc3");
    EXPECT_EQ(wp::fold_host_names({"r1n1", "r1n2", "r2n1"}), "r1n[1-2],r2n1");
    EXPECT_EQ(wp::fold_host_names({"a1b01", "a2b01", "a1b1"}), "a1b1,a[1-2]b01");
}

TEST(HostRange, FoldThenExpandIsTheSameSet) {
    const Names names{"ams01", "ams02", "ams1", "ams3", "tor10", "tor11", "tor9", "x", "n098", "n099", "n100"};
    Names back;
    ASSERT_EQ(wp::expand_host_list(wp::fold_host_names(names), back), "");
    Names sorted = names;
    std::sort(sorted.begin(), sorted.end());
    std::sort(back.begin(), back.end());
    EXPECT_EQ(back, sorted);
}

TEST(HostRange, Globs) {
    EXPECT_TRUE(wp::is_host_glob("ams*"));
    EXPECT_TRUE(wp::is_host_glob("tor?"));
    EXPECT_FALSE(wp::is_host_glob("tor1"));
    EXPECT_TRUE(wp::host_glob_matches("ams*", "ams01"));
    EXPECT_TRUE(wp::host_glob_matches("ams*", "ams"));
    EXPECT_FALSE(wp::host_glob_matches("ams*", "xams1"));
    EXPECT_TRUE(wp::host_glob_matches("tor?", "tor7"));
    EXPECT_FALSE(wp::host_glob_matches("tor?", "tor10"));
    EXPECT_TRUE(wp::host_glob_matches("*.tor", "web1.tor"));
    EXPECT_TRUE(wp::host_glob_matches("w*b*1", "web-bb1"));
    EXPECT_FALSE(wp::host_glob_matches("w*b*1", "web-bb12"));
    EXPECT_TRUE(wp::host_glob_matches("*", "anything"));
}

TEST(HostRange, FoldThenExpandIsTheSameSetForManyMixedSets) {
    const char* const shapes[] = {"tor{}", "ams0{}", "r{}n{}", "web{}.dc{}", "n{}", "x{}y0{}z"};
    std::uint32_t seed = 17;
    const auto next = [&seed] { return (seed = seed * 1103515245u + 12345u) >> 16; };
    for (int round = 0; round < 200; ++round) {
        std::set<std::string> names;
        const auto count = 1 + next() % 30;
        for (std::uint32_t i = 0; i < count; ++i) {
            const std::string shape = shapes[next() % std::size(shapes)];
            std::string name = shape;
            for (auto at = name.find("{}"); at != std::string::npos; at = name.find("{}")) {
                name.replace(at, 2, std::to_string(next() % 12));
            }
            names.insert(name);
        }
        const std::string folded = wp::fold_host_names(Names(names.begin(), names.end()));
        Names back;
        ASSERT_EQ(wp::expand_host_list(folded, back), "") << folded;
        EXPECT_EQ(std::set<std::string>(back.begin(), back.end()), names) << folded;
        EXPECT_EQ(back.size(), names.size()) << folded; // nothing twice
    }
}
