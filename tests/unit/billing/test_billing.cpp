#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "billing/billing.h"

#ifndef WP_SOURCE_DIR
#define WP_SOURCE_DIR "." // the direct g++ build runs from the source tree
#endif

namespace {

using wp::BillingRules;
using wp::Pricing;

std::string error_of(const std::function<void()>& f, int* code = nullptr) {
    try {
        f();
    } catch (const wp::Error& e) {
        if (code) *code = e.code();
        return e.what();
    }
    return "";
}

std::string norm(std::string_view tag) {
    std::string scratch;
    return std::string(wp::normalise_tag(tag, scratch));
}

// share/billing.rules' default table, as Squid logs the tags (with their TCP_ prefix).
struct Row {
    const char* raw_tag;
    int factor;
};
const std::vector<Row> k_design_table = {
    {"TCP_HIT", 1},
    {"TCP_MEM_HIT", 1},
    {"TCP_IMS_HIT", 1},
    {"TCP_INM_HIT", 1},
    {"TCP_REFRESH_UNMODIFIED", 1},
    {"TCP_REFRESH_FAIL_OLD", 1},
    {"TCP_NEGATIVE_HIT", 1},
    {"TCP_OFFLINE_HIT", 1},
    {"TCP_REFRESH_HIT", 1},
    {"TCP_REFRESH_FAIL_HIT", 1},
    {"TCP_STALE_HIT", 1},
    {"TCP_REDIRECT", 1},
    {"TCP_DENIED", 0},
    {"TCP_DENIED_REPLY", 0},
    {"NONE_NONE", 0},
    {"TAG_NONE", 0},
    {"NONE", 0},
    {"UDP_INVALID", 0},
    {"TCP_MISS", 2},
    {"TCP_REFRESH_MODIFIED", 2},
    {"TCP_REFRESH_MISS", 2},
    {"TCP_REFRESH", 2},
    {"TCP_CLIENT_REFRESH_MISS", 2},
    {"TCP_IMS_MISS", 2},
    {"TCP_SWAPFAIL_MISS", 2},
    {"TCP_REFRESH_FAIL_ERR", 2},
    {"TCP_TUNNEL", 2},
};

TEST(NormaliseTag, DropsPrefixesMarkersAndSuffixes) {
    EXPECT_EQ(norm("TCP_MISS"), "MISS");
    EXPECT_EQ(norm("UDP_HIT"), "HIT");
    EXPECT_EQ(norm("TCP_MEM_HIT"), "MEM_HIT");
    EXPECT_EQ(norm("TCP_MISS_ABORTED"), "MISS");
    EXPECT_EQ(norm("TCP_MISS_TIMEDOUT"), "MISS");
    EXPECT_EQ(norm("TCP_REFRESH_MODIFIED_IGNORED"), "REFRESH_MODIFIED");
    EXPECT_EQ(norm("TCP_HIT_CF"), "HIT");
    EXPECT_EQ(norm("TCP_CF_HIT"), "HIT");
    EXPECT_EQ(norm("TCP_CF_MISS_IGNORED_TIMEDOUT_ABORTED"), "MISS");
    EXPECT_EQ(norm("TCP_REFRESH_UNMODIFIED"), "REFRESH_UNMODIFIED");
    EXPECT_EQ(norm("TCP_TUNNEL"), "TUNNEL");
    EXPECT_EQ(norm("TCP_TUNNEL_ABORTED"), "TUNNEL");
    EXPECT_EQ(norm("TCP_DENIED_REPLY"), "DENIED_REPLY");
    EXPECT_EQ(norm("HIT"), "HIT");
    EXPECT_EQ(norm("ICP_QUERY"), "ICP_QUERY");
    EXPECT_EQ(norm("UDP_MISS_NOFETCH"), "MISS_NOFETCH");
}

TEST(NormaliseTag, NoneSpellings) {
    EXPECT_EQ(norm("NONE_NONE"), "NONE");
    EXPECT_EQ(norm("TAG_NONE"), "NONE");
    EXPECT_EQ(norm("NONE"), "NONE");
    EXPECT_EQ(norm("NONE_NONE_ABORTED"), "NONE");
    EXPECT_EQ(norm("TAG_NONE_TIMEDOUT"), "NONE");
    EXPECT_EQ(norm("TCP_NONE"), "NONE");
}

TEST(NormaliseTag, MarkerInsideUsesScratch) {
    std::string scratch;
    const std::string tag = "TCP_REFRESH_CF_MODIFIED";
    EXPECT_EQ(wp::normalise_tag(tag, scratch), "REFRESH_MODIFIED");
    // the common case is a view into the tag itself
    const std::string miss = "TCP_MISS_ABORTED";
    const std::string_view v = wp::normalise_tag(miss, scratch);
    EXPECT_EQ(v.data(), miss.data() + 4);
}

TEST(NormaliseHierarchy, Squid2And3Names) {
    EXPECT_EQ(wp::normalise_hierarchy("HIER_DIRECT"), "DIRECT");
    EXPECT_EQ(wp::normalise_hierarchy("DIRECT"), "DIRECT");
    EXPECT_EQ(wp::normalise_hierarchy("TIMEOUT_HIER_DIRECT"), "DIRECT");
    EXPECT_EQ(wp::normalise_hierarchy("TIMEOUT_DIRECT"), "DIRECT");
    EXPECT_EQ(wp::normalise_hierarchy("HIER_NONE"), "NONE");
    EXPECT_EQ(wp::normalise_hierarchy("NONE"), "NONE");
    EXPECT_EQ(wp::normalise_hierarchy("FIRST_UP_PARENT"), "FIRST_UP_PARENT");
    EXPECT_EQ(wp::normalise_hierarchy(""), "");
}

// A price's factor and whether the default rule gave it (its class is checked apart).
using FB = std::pair<int, bool>;
FB fb(const Pricing& p) {
    return {p.factor, p.by_default};
}

TEST(DefaultRules, EveryRowOfTheDesignTable) {
    const BillingRules rules = BillingRules::defaults();
    for (const Row& row : k_design_table) {
        EXPECT_EQ(fb(rules.price(row.raw_tag, "HIER_DIRECT")), (FB{row.factor, false})) << row.raw_tag;
        // suffixes and markers do not change the price
        const std::string aborted = std::string(row.raw_tag) + "_ABORTED";
        EXPECT_EQ(fb(rules.price(aborted, "HIER_NONE")), (FB{row.factor, false})) << aborted;
    }
    EXPECT_EQ(fb(rules.price("TCP_CF_HIT", "HIER_NONE")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_MISS_TIMEDOUT", "TIMEOUT_HIER_DIRECT")), (FB{2, false}));
}

TEST(DefaultRules, AnythingElseIsTwoAndReported) {
    const BillingRules rules = BillingRules::defaults();
    for (const char* tag : {"TCP_SOMETHING_NEW", "ICP_QUERY", "UDP_MISS_NOFETCH", "TCP_REFRESH_FAIL", "", "garbage"})
        EXPECT_EQ(fb(rules.price(tag, "HIER_DIRECT")), (FB{2, true})) << tag;
}

TEST(DefaultRules, ShippedFileMatchesTheBuiltInTable) {
    const std::string path = std::string(WP_SOURCE_DIR) + "/share/billing.rules";
    const BillingRules file = BillingRules::load(path);
    const BillingRules built_in = BillingRules::defaults();
    EXPECT_EQ(file.source(), path);
    std::vector<std::string> tags;
    for (const Row& row : k_design_table)
        tags.push_back(row.raw_tag);
    for (const char* extra : {"TCP_MISS_ABORTED", "TCP_CF_HIT", "TCP_NEW_THING", "UDP_HIT", "NONE_NONE_ABORTED"})
        tags.push_back(extra);
    for (const std::string& tag : tags)
        for (const char* hier : {"HIER_DIRECT", "HIER_NONE", "TIMEOUT_HIER_DIRECT", "DIRECT", "NONE", ""})
            EXPECT_EQ(file.price(tag, hier), built_in.price(tag, hier)) << tag << " " << hier;
    EXPECT_EQ(file.classes(), built_in.classes());
}

TEST(DefaultRules, ClassesAreCacheOriginFreeAndLocal) {
    const BillingRules rules = BillingRules::defaults();
    EXPECT_EQ(rules.classes(), (std::vector<wp::BillingClass>{{"cache", 1}, {"origin", 2}, {"free", 0}, {"local", 1}}));
    auto class_of = [&](const char* tag) { return rules.classes()[rules.price(tag, "HIER_DIRECT").klass].name; };
    EXPECT_EQ(class_of("TCP_HIT"), "cache");
    EXPECT_EQ(class_of("TCP_REFRESH_UNMODIFIED"), "cache");
    EXPECT_EQ(class_of("TCP_MISS_ABORTED"), "origin");
    EXPECT_EQ(class_of("TCP_TUNNEL"), "origin");
    EXPECT_EQ(class_of("TCP_DENIED"), "free");
    EXPECT_EQ(class_of("TCP_REDIRECT"), "local");
    EXPECT_EQ(class_of("TCP_SOMETHING_NEW"), "origin"); // the default rule
}

TEST(RulesFile, BareFactorsImplyClassesAndOperatorsAddTheirOwn) {
    const BillingRules rules = BillingRules::parse("class peering = 0\n"
                                                   "class premium = 3\n"
                                                   "tag HIT = 1\n"
                                                   "tag MISS hier PARENT_HIT = peering\n"
                                                   "tag DENIED = 0\n"
                                                   "tag TUNNEL = 3\n"
                                                   "tag MISS = premium\n"
                                                   "tag REDIRECT = 7\n",
                                                   "ops.rules");
    // A bare factor is the first declared class with it, else free, cache, origin or xN;
    // without a default rule the rest is x2, the class 'origin'.
    EXPECT_EQ(rules.classes(),
              (std::vector<wp::BillingClass>{{"peering", 0}, {"premium", 3}, {"cache", 1}, {"x7", 7}, {"origin", 2}}));
    auto class_of = [&](const char* tag, const char* hier) {
        const Pricing p = rules.price(tag, hier);
        return fmt::format("{} x{}", rules.classes()[p.klass].name, p.factor);
    };
    EXPECT_EQ(class_of("TCP_HIT", ""), "cache x1");
    EXPECT_EQ(class_of("TCP_MISS", "PARENT_HIT"), "peering x0");
    EXPECT_EQ(class_of("TCP_DENIED", ""), "peering x0");
    EXPECT_EQ(class_of("TCP_TUNNEL", ""), "premium x3");
    EXPECT_EQ(class_of("TCP_MISS", "HIER_DIRECT"), "premium x3");
    EXPECT_EQ(class_of("TCP_REDIRECT", ""), "x7 x7");
    EXPECT_EQ(class_of("TCP_NEW", ""), "origin x2");
}

TEST(RulesFile, SyntaxCommentsCommasAndCase) {
    const BillingRules rules = BillingRules::parse("# a comment\n"
                                                   "\n"
                                                   "   tag HIT, mem_hit   = 1   # trailing comment\r\n"
                                                   "tag TCP_DENIED=0\n"
                                                   "default = 3\n",
                                                   "t.rules");
    EXPECT_EQ(fb(rules.price("TCP_HIT", "")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_MEM_HIT", "")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_DENIED", "")), (FB{0, false}));
    EXPECT_EQ(fb(rules.price("TCP_MISS", "")), (FB{3, true}));
}

TEST(RulesFile, WithoutDefaultLineUnmatchedIsTwo) {
    const BillingRules rules = BillingRules::parse("tag HIT = 1\n", "t.rules");
    EXPECT_EQ(fb(rules.price("TCP_MISS", "HIER_DIRECT")), (FB{2, true}));
    EXPECT_EQ(fb(rules.price("TCP_HIT", "HIER_NONE")), (FB{1, false}));
    const BillingRules empty = BillingRules::parse("# nothing\n", "empty.rules");
    EXPECT_EQ(fb(empty.price("TCP_HIT", "HIER_NONE")), (FB{2, true}));
}

TEST(RulesFile, FirstMatchWins) {
    const BillingRules rules = BillingRules::parse("tag HIT = 3\n"
                                                   "tag HIT MISS = 5\n"
                                                   "tag MISS = 7\n",
                                                   "order.rules");
    EXPECT_EQ(rules.price("TCP_HIT", "HIER_NONE").factor, 3);
    EXPECT_EQ(rules.price("TCP_MISS", "HIER_DIRECT").factor, 5);
}

TEST(RulesFile, HierarchyRules) {
    const BillingRules rules = BillingRules::parse("tag MISS hier NONE = 1\n"
                                                   "hier PARENT_HIT, SIBLING_HIT = 1\n"
                                                   "tag MISS = 2\n"
                                                   "hier HIER_DIRECT = 4\n"
                                                   "default = 9\n",
                                                   "hier.rules");
    // a miss Squid answered itself
    EXPECT_EQ(fb(rules.price("TCP_MISS", "HIER_NONE")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_MISS_ABORTED", "TIMEOUT_HIER_NONE")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_MISS", "NONE")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_MISS", "HIER_DIRECT")), (FB{2, false}));
    // hierarchy alone, any tag
    EXPECT_EQ(fb(rules.price("TCP_MISS", "PARENT_HIT")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_HIT", "SIBLING_HIT")), (FB{1, false}));
    EXPECT_EQ(fb(rules.price("TCP_NEW_TAG", "DIRECT")), (FB{4, false}));
    EXPECT_EQ(fb(rules.price("TCP_NEW_TAG", "TIMEOUT_HIER_DIRECT")), (FB{4, false}));
    EXPECT_EQ(fb(rules.price("TCP_HIT", "HIER_NONE")), (FB{9, true}));
    EXPECT_EQ(fb(rules.price("TCP_HIT", "")), (FB{9, true}));
}

struct BadRules {
    const char* text;
    const char* message;
};

TEST(RulesFile, SyntaxErrorsNameFileAndLine) {
    const std::vector<BadRules> cases = {
        {"tag HIT = 1\nfoo BAR = 1\n",
         "my.rules:2: unexpected 'foo': a rule is 'tag NAME... = CLASS', 'hier NAME... = CLASS' or "
         "'default = CLASS' (CLASS a declared class or a factor), or 'class NAME = FACTOR'"},
        {"\n\ntag HIT 1\n", "my.rules:3: missing '= CLASS' at the end of the rule"},
        {"tag HIT =\n", "my.rules:1: missing class or factor after '='"},
        {"tag HIT = two\n", "my.rules:1: unknown class 'two': declare it first with 'class two = FACTOR'"},
        {"tag HIT = -1\n", "my.rules:1: factor '-1' is not a whole number from 0 to 1000"},
        {"tag HIT = 1.5\n", "my.rules:1: factor '1.5' is not a whole number from 0 to 1000"},
        {"tag HIT = 20000\n", "my.rules:1: factor '20000' is not a whole number from 0 to 1000"},
        {"tag HIT = 1 2\n", "my.rules:1: unexpected '2' after the class"},
        {"tag HIT = cache\nclass cache = 1\n",
         "my.rules:1: unknown class 'cache': declare it first with 'class cache = FACTOR'"},
        {"class cache = 1\nclass cache = 2\n", "my.rules:2: class 'cache' declared twice"},
        {"class unsplit = 1\n", "my.rules:1: 'unsplit' is reserved for usage written before classes were kept"},
        {"class Cache = 1\n", "my.rules:1: 'Cache' is not a class name (lower case letters, digits, '_' and '-')"},
        {"class cache 1\n", "my.rules:1: a class is declared as 'class NAME = FACTOR'"},
        {"class cache = x\n", "my.rules:1: factor 'x' is not a whole number from 0 to 1000"},
        {"class origin = 3\ntag HIT = 1\n",
         "my.rules:1: class 'origin' has factor 3, but with no 'default = CLASS' rule the lines no rule matches are "
         "billed x2 as 'origin': add a default rule"},
        {"class origin = 3\ntag MISS = 2\n",
         "my.rules:2: a bare factor 2 would be the class 'origin', declared with factor 3: name a class"},
        {"class a0 = 0\nclass a1 = 1\nclass a2 = 2\nclass a3 = 3\nclass a4 = 4\nclass a5 = 5\nclass a6 = 6\n"
         "class a7 = 7\nclass a8 = 8\n",
         "my.rules:9: more than 8 billing classes"},
        {"class a0 = 0\nclass a1 = 1\nclass a2 = 2\nclass a3 = 3\nclass a4 = 4\nclass a5 = 5\nclass a6 = 6\n"
         "class a7 = 7\ntag HIT = 9\n",
         "my.rules:9: more than 8 billing classes"},
        {"tag = 1\n", "my.rules:1: 'tag' needs at least one name"},
        {"tag HIT hier = 1\n", "my.rules:1: 'hier' needs at least one name"},
        {"tag HIT tag MISS = 1\n", "my.rules:1: 'tag' given twice in one rule; list every name after one 'tag'"},
        {"tag HI*T = 1\n", "my.rules:1: 'HI*T' is not a tag name (letters, digits, '_' and '-')"},
        {"default = 2\ntag HIT = 1\n", "my.rules:2: rule after the default rule (line 1) can never match"},
        {"default = 2\ndefault = 1\n", "my.rules:2: rule after the default rule (line 1) can never match"},
        {"default 2\n", "my.rules:1: missing '= CLASS' at the end of the rule"},
        {"= 2\n", "my.rules:1: a rule starts with 'tag', 'hier' or 'default'"},
    };
    for (const BadRules& c : cases) {
        int code = 0;
        EXPECT_EQ(error_of([&] { BillingRules::parse(c.text, "my.rules"); }, &code), c.message) << c.text;
        EXPECT_EQ(code, wp::exit_code::k_config) << c.text;
    }
}

TEST(RulesFile, LoadReportsMissingFile) {
    int code = 0;
    const std::string message = error_of([] { BillingRules::load("/nonexistent/wp-test/billing.rules"); }, &code);
    EXPECT_EQ(code, wp::exit_code::k_no_input);
    EXPECT_EQ(message, "cannot read billing rules /nonexistent/wp-test/billing.rules: No such file or directory");
}

TEST(RulesFile, LoadNamesTheFileInSyntaxErrors) {
    char path[] = "/tmp/wp-billing-test-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string text = "tag HIT = 1\n\ntag MISS = lots\n";
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    int code = 0;
    const std::string message = error_of([&] { BillingRules::load(path); }, &code);
    unlink(path);
    EXPECT_EQ(code, 78);
    EXPECT_EQ(message, std::string(path) + ":3: unknown class 'lots': declare it first with 'class lots = FACTOR'");
}

} // namespace
