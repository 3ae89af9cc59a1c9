#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "store/host_selection.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

namespace {

// "CODE message" of the wp::Error f throws, or "no error".
template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const wp::Error& e) {
        return std::to_string(e.code()) + " " + e.what();
    }
    return "no error";
}

std::vector<std::string> names_of(const std::vector<wp::Server>& servers) {
    std::vector<std::string> out;
    for (const auto& s : servers) {
        out.push_back(s.name);
    }
    return out;
}

} // namespace

TEST(HostSelection, HostNamesSplitOnBlanksCommasAndLinesWithComments) {
    const auto names = wp::parse_host_names("tor1 mtl2,  van3\n# a comment line\n\nnyc1 # the new one\r\n", "f");
    EXPECT_EQ(names, (std::vector<std::string>{"tor1", "mtl2", "van3", "nyc1"}));
}

TEST(HostSelection, BadHostNameNamesSourceAndLine) {
    try {
        wp::parse_host_names("tor1\n../etc\n", "hosts.txt");
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_TRUE(std::string(e.what()).starts_with("hosts.txt:2: host name '../etc'")) << e.what();
    }
}

TEST(HostSelection, DefaultIsActiveNotRetiredInInventoryOrderMinusExcluded) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c", false, true), server("d"), server("e")};
    in.known = {"a", "b", "c", "d", "e"};
    in.excluded = {"d"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "e"}));
}

TEST(HostSelection, NamedHostsKeepTheirOrderOnceEachInactiveToo) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c"), server("d")};
    in.known = {"a", "b", "c", "d", "z"}; // z: filtered out by --where
    in.named = {"c", "b", "z", "c", "a", "d"};
    in.excluded = {"a"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"c", "b", "d"}));
}

TEST(HostSelection, UnknownNamesNamedOrExcludedAreAllListedWith66) {
    wp::SelectionInput in;
    in.matching = {server("a")};
    in.known = {"a"};
    in.named = {"a", "tor9"};
    in.excluded = {"mtl9"};
    EXPECT_EQ(error_of([&] { wp::select_hosts(in); }), "66 "
                                                       "no server named tor9, mtl9 in the inventory");
    in.named.clear(); // a typo in -x alone must not run on the host meant
    EXPECT_EQ(exit_code_of([&] { wp::select_hosts(in); }), 66);
}

TEST(HostSelection, RangesInFilesAndArgumentsExpandAndCommasInBracketsStay) {
    EXPECT_EQ(wp::parse_host_names("tor[1-3,7] ams[01-02]\nlon1,h[71-72] # h9\n", "f"),
              (std::vector<std::string>{"tor1", "tor2", "tor3", "tor7", "ams01", "ams02", "lon1", "h71", "h72"}));
    EXPECT_EQ(wp::parse_host_argument("h[71-73],ams*,tor?", "-H"),
              (std::vector<std::string>{"h71", "h72", "h73", "ams*", "tor?"}));
}

TEST(HostSelection, BadRangesNameTheArgumentOrTheFileLine) {
    EXPECT_EQ(error_of([&] { wp::parse_host_argument("tor[5-1]", "-x"); }), "64 "
                                                                            "-x: 'tor[5-1]': range 5-1 runs backwards");
    EXPECT_EQ(error_of([&] { wp::parse_host_argument("a;b", "-H"); }),
              "64 "
              "-H: host name 'a;b' may contain only letters, digits, '.', '_' and '-'");
    EXPECT_EQ(error_of([&] { wp::parse_host_argument("ok,a;*", "-H"); }),
              "64 "
              "-H: host name 'a;*' may contain only letters, digits, '.', '_', '-' and the "
              "wildcards '*' and '?'");
    EXPECT_EQ(error_of([&] { wp::parse_host_names("ok1\n\ntor[1-3\n", "hosts.txt"); }),
              "65 "
              "hosts.txt:3: 'tor[1-3': '[' without ']'");
    EXPECT_EQ(wp::check_host_word("*"), "");
    EXPECT_EQ(wp::check_host_word("ams0?"), "");
    EXPECT_NE(wp::check_host_word("../*"), "");
}

TEST(HostSelection, GlobsMatchInventoryNamesInNameOrderAndAGlobMatchingNoneIs66) {
    wp::SelectionInput in;
    in.matching = {server("ams01"), server("ams02", false), server("lon1"), server("tor1"), server("tor10")};
    in.known = {"ams01", "ams02", "lon1", "tor1", "tor10"};
    in.named = {"tor?", "ams*"};
    // a glob is a pattern over the default set: the inactive ams02 only by its name
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"tor1", "ams01"}));
    in.named = {"ams*", "ams02"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"ams01", "ams02"}));
    in.named = wp::parse_host_argument("ams0[1-2]", "-H"); // a range names its servers
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"ams01", "ams02"}));
    in.named = {};
    in.excluded = {"ams*", "tor1?"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"lon1", "tor1"}));
    in.excluded = {"nyc*", "ams*", "mtl9"};
    EXPECT_EQ(error_of([&] { wp::select_hosts(in); }), "66 "
                                                       "no server named nyc*, mtl9 in the inventory");
}

TEST(HostSelection, AGlobWhoseServersAreAllLeftOutIs66NamingThem) {
    wp::SelectionInput in;
    in.matching = {server("tor1"), server("tor4", true, true), server("tor5", false)};
    in.known = {"tor1", "tor4", "tor5"};
    in.named = {"tor1", "tor4*"};
    EXPECT_EQ(error_of([&] { wp::select_hosts(in); }),
              "66 "
              "tor4* (tor4) matches only inactive or retired servers, which are taken by their names "
              "or a range only");
    in.named = {"tor?"}; // tor1 is of the default set: the others are left out quietly
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"tor1"}));
}

TEST(HostSelection, ManyUnknownNamesAreFoldedIntoOneShortLine) {
    wp::SelectionInput in;
    in.matching = {server("tor1")};
    in.known = {"tor1"};
    in.named = wp::parse_host_argument("x[0-99999]", "-H");
    in.named.push_back("nyc*");
    EXPECT_EQ(error_of([&] { wp::select_hosts(in); }), "66 "
                                                       "no server named x[0-99999],nyc* in the inventory");
    in.named.clear();
    for (int i = 0; i < 100; ++i) { // names without numbers: nothing folds
        in.named.push_back(std::string("host") + static_cast<char>('a' + i / 26) + static_cast<char>('a' + i % 26));
    }
    try {
        wp::select_hosts(in);
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        const std::string what = e.what();
        EXPECT_LT(what.size(), 300U) << what;
        EXPECT_NE(what.find(",… (100 names in all) in the inventory"), std::string::npos) << what;
    }
}

TEST(HostSelection, TheDefaultSetCanHoldInactiveAndRetiredServers) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c", false, true)};
    in.known = {"a", "b", "c"};
    in.default_inactive = true;
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "b"}));
    in.named = {"*"}; // a glob follows the default set
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "b"}));
    in.named = {};
    in.default_retired = true;
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "b", "c"}));
    in.named = {"*"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "b", "c"}));
}
