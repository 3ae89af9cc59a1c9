#include <gtest/gtest.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "billing/squid_log.h"
#include "support/whole_line_oracle.h"

// Expected times come from GNU date, e.g. `date -u -d '2025-11-25 13:00:00 +0100' +%s`.

namespace {

using wp::LogGrammar;
using wp::LogMatcher;
using wp::LogRecord;

struct Expect {
    int64_t time;
    int32_t millis;
    std::string tag;
    int status;
    int64_t bytes;
    std::string user;
    std::string hierarchy;
    int64_t request_bytes = -1;
};

void expect_record(const LogRecord& r, const Expect& e) {
    EXPECT_EQ(r.time, e.time);
    EXPECT_EQ(r.millis, e.millis);
    EXPECT_EQ(r.tag, e.tag);
    EXPECT_EQ(r.status, e.status);
    EXPECT_EQ(r.bytes, e.bytes);
    EXPECT_EQ(r.user, e.user);
    EXPECT_EQ(r.hierarchy, e.hierarchy);
    EXPECT_EQ(r.request_bytes, e.request_bytes);
}

// Parses with a fresh matcher; fails the test when the line is rejected.
LogRecord parsed(const LogGrammar& grammar, std::string_view line) {
    LogMatcher matcher(grammar);
    LogRecord r;
    EXPECT_TRUE(matcher.parse(line, r)) << "rejected: " << line;
    return r;
}

bool accepted(const LogGrammar& grammar, std::string_view line) {
    LogMatcher matcher(grammar);
    LogRecord r;
    return matcher.parse(line, r);
}

std::string error_of(const std::function<void()>& f, int* code = nullptr) {
    try {
        f();
    } catch (const wp::Error& e) {
        if (code) *code = e.code();
        return e.what();
    }
    return "";
}

const LogGrammar k_native = LogGrammar::native();
constexpr const char* k_native_logformat = "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt";

// ---------------------------------------------------------------------------
// Native lines as Squid 5.7 writes them.

TEST(NativeLog, Squid5MissLine) {
    expect_record(parsed(k_native, "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET "
                                   "http://127.0.0.1:8080/f10k alice HIER_DIRECT/127.0.0.1 application/octet-stream"),
                  {1764072000, 123, "TCP_MISS", 200, 10345, "alice", "HIER_DIRECT"});
}

TEST(NativeLog, DeniedWithProxyAuthRequired) {
    expect_record(parsed(k_native, "1764072001.004      0 127.0.0.1 TCP_DENIED/407 4011 GET "
                                   "http://127.0.0.1:8080/f10k bob HIER_NONE/- text/html"),
                  {1764072001, 4, "TCP_DENIED", 407, 4011, "bob", "HIER_NONE"});
}

TEST(NativeLog, NoneNoneTransactionWithoutRequest) {
    expect_record(parsed(k_native, "1764072002.789      0 127.0.0.1 NONE_NONE/000 0 - "
                                   "error:transaction-end-before-headers - HIER_NONE/- -"),
                  {1764072002, 789, "NONE_NONE", 0, 0, "-", "HIER_NONE"});
}

TEST(NativeLog, InvalidRequestUrl) {
    expect_record(parsed(k_native, "1764072002.790      1 10.1.2.3 NONE_NONE/400 3820 - error:invalid-request - "
                                   "HIER_NONE/- text/html"),
                  {1764072002, 790, "NONE_NONE", 400, 3820, "-", "HIER_NONE"});
}

TEST(NativeLog, UserNameWithUnescapedSpace) {
    expect_record(parsed(k_native, "1764072003.000     12 127.0.0.1 TCP_MISS/200 1234 GET http://a.example/x "
                                   "carol smith HIER_DIRECT/10.0.0.1 text/html"),
                  {1764072003, 0, "TCP_MISS", 200, 1234, "carol smith", "HIER_DIRECT"});
    // several blanks inside the name, and a name that looks like a field
    expect_record(parsed(k_native, "1764072003.000     12 127.0.0.1 TCP_MISS/200 1234 GET http://a.example/x "
                                   "de la  Cruz 200 HIER_DIRECT/10.0.0.1 text/html"),
                  {1764072003, 0, "TCP_MISS", 200, 1234, "de la  Cruz 200", "HIER_DIRECT"});
}

TEST(NativeLog, RightHandFieldsAreReadFromTheEnd) {
    // Blanks in user names are not escaped, so the last two fields are always
    // hierarchy/peer and content type, whatever comes before them.
    const LogRecord r = parsed(k_native, "1764072000.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice "
                                         "HIER_DIRECT/1.2.3.4 text/html FIRST_UP_PARENT/p.example -");
    EXPECT_EQ(r.user, "alice HIER_DIRECT/1.2.3.4 text/html");
    EXPECT_EQ(r.hierarchy, "FIRST_UP_PARENT");
}

TEST(NativeLog, EscapedUserNamesStayEscaped) {
    const LogRecord space = parsed(k_native, "1764072003.000 12 127.0.0.1 TCP_MISS/200 1 GET http://a/ "
                                             "dave%20jones HIER_DIRECT/10.0.0.1 text/html");
    EXPECT_EQ(space.user, "dave%20jones");
    EXPECT_EQ(wp::decode_user(space.user), "dave jones");
    const LogRecord percent = parsed(k_native, "1764072003.000 12 127.0.0.1 TCP_MISS/200 1 GET http://a/ "
                                               "100%25pure HIER_DIRECT/10.0.0.1 text/html");
    EXPECT_EQ(percent.user, "100%25pure");
    EXPECT_EQ(wp::decode_user(percent.user), "100%pure");
}

TEST(NativeLog, ConnectTunnel) {
    expect_record(parsed(k_native, "1764072004.001    250 127.0.0.1 TCP_TUNNEL/200 5123 CONNECT example.com:443 "
                                   "alice HIER_DIRECT/1.2.3.4 -"),
                  {1764072004, 1, "TCP_TUNNEL", 200, 5123, "alice", "HIER_DIRECT"});
}

TEST(NativeLog, BlogLinesWithoutClientField) {
    // seed/wonderproxy-blog-2011.txt, verbatim
    expect_record(parsed(k_native, "1294011828.214   1309 TCP_MISS/200 10032 GET http://wonderproxyblog.com/ paul "
                                   "DIRECT/ text/html"),
                  {1294011828, 214, "TCP_MISS", 200, 10032, "paul", "DIRECT"});
    expect_record(parsed(k_native, "1294011828.784      0 TCP_MEM_HIT/200 943 GET "
                                   "http://s0.wp.com/wp-content/themes/h4/global.css? paul NONE/- text/css"),
                  {1294011828, 784, "TCP_MEM_HIT", 200, 943, "paul", "NONE"});
    expect_record(parsed(k_native, "1294011828.997    205 TCP_HIT/200 27230 GET "
                                   "http://s1.wp.com/wp-includes/js/jquery/jquery.js? paul NONE/- "
                                   "application/x-javascript"),
                  {1294011828, 997, "TCP_HIT", 200, 27230, "paul", "NONE"});
}

TEST(NativeLog, ClientsIpv6DashAndHostname) {
    for (const char* client : {"::1", "2001:db8::17", "-", "host.example.net", "192.0.2.1"}) {
        const std::string line = std::string("1764072000.500      7 ") + client +
                                 " TCP_MISS/200 99 GET http://x.example/ u1 HIER_DIRECT/192.0.2.9 text/plain";
        expect_record(parsed(k_native, line), {1764072000, 500, "TCP_MISS", 200, 99, "u1", "HIER_DIRECT"});
    }
}

TEST(NativeLog, NegativeElapsedAndPaddedTime) {
    expect_record(parsed(k_native, "1764072000.500     -3 10.0.0.1 TCP_HIT/200 99 GET http://x/ u HIER_NONE/- -"),
                  {1764072000, 500, "TCP_HIT", 200, 99, "u", "HIER_NONE"});
    // Squid prints the seconds with %9ld
    expect_record(parsed(k_native, " 99999999.001      1 10.0.0.1 TCP_HIT/200 1 GET http://x/ u HIER_NONE/- -"),
                  {99999999, 1, "TCP_HIT", 200, 1, "u", "HIER_NONE"});
}

TEST(NativeLog, HierarchyForms) {
    const std::string head = "1764072000.000 1 10.0.0.1 TCP_MISS/200 10 GET http://x/ u ";
    EXPECT_EQ(parsed(k_native, head + "TIMEOUT_HIER_DIRECT/10.0.0.2 text/html").hierarchy, "TIMEOUT_HIER_DIRECT");
    EXPECT_EQ(parsed(k_native, head + "TIMEOUT_DIRECT/10.0.0.2 text/html").hierarchy, "TIMEOUT_DIRECT");
    EXPECT_EQ(parsed(k_native, head + "FIRST_UP_PARENT/parent.example.net text/html").hierarchy, "FIRST_UP_PARENT");
    EXPECT_EQ(parsed(k_native, head + "HIER_DIRECT/2001:db8::1 text/html").hierarchy, "HIER_DIRECT");
    EXPECT_EQ(parsed(k_native, head + "DIRECT/ text/html").hierarchy, "DIRECT");
    EXPECT_EQ(parsed(k_native, head + "HIER_NONE/- -").hierarchy, "HIER_NONE");
}

TEST(NativeLog, ContentTypes) {
    const std::string head = "1764072000.000 1 10.0.0.1 TCP_MISS/200 10 GET http://x/ u HIER_DIRECT/10.0.0.2 ";
    for (const char* type : {"-", ":", "text/html", "application/vnd.example+json", "x;y=z"})
        EXPECT_EQ(parsed(k_native, head + type).user, "u") << type;
    // an empty Content-Type leaves a trailing blank
    EXPECT_EQ(parsed(k_native, head).bytes, 10);
}

TEST(NativeLog, Squid2And3Tags) {
    for (const char* tag : {"TCP_REFRESH_HIT", "TCP_REFRESH_MISS", "TCP_REFRESH_UNMODIFIED", "TCP_TUNNEL", "NONE_NONE",
                            "TAG_NONE", "NONE", "TCP_MISS_ABORTED", "TCP_HIT_CF", "TCP_CF_HIT", "TCP_MISS_IGNORED",
                            "TCP_REFRESH_FAIL_OLD_TIMEDOUT", "TCP_CF_MISS_ABORTED", "UDP_HIT", "TCP_MEM_HIT"}) {
        const std::string line =
            std::string("1764072000.000 1 10.0.0.1 ") + tag + "/200 10 GET http://x/ u HIER_NONE/- -";
        EXPECT_EQ(parsed(k_native, line).tag, tag);
    }
}

TEST(NativeLog, CrLfEnding) {
    expect_record(parsed(k_native, "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://a/ alice "
                                   "HIER_DIRECT/127.0.0.1 text/html\r"),
                  {1764072000, 123, "TCP_MISS", 200, 10345, "alice", "HIER_DIRECT"});
}

TEST(NativeLog, MimeHeaderBlobs) {
    // log_mime_hdrs on: request and reply headers, [ and ] %-escaped
    expect_record(parsed(k_native, "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://a/ alice "
                                   "HIER_DIRECT/127.0.0.1 text/html [Host: a\\r\\nUser-Agent: curl%5b1%5d\\r\\n] "
                                   "[HTTP/1.1 200 OK\\r\\n]"),
                  {1764072000, 123, "TCP_MISS", 200, 10345, "alice", "HIER_DIRECT"});
}

TEST(NativeLog, LargeByteCounts) {
    expect_record(parsed(k_native, "1764072000.000 1 10.0.0.1 TCP_TUNNEL/200 123456789012345 CONNECT h:443 u "
                                   "HIER_DIRECT/10.0.0.2 -"),
                  {1764072000, 0, "TCP_TUNNEL", 200, 123456789012345, "u", "HIER_DIRECT"});
}

TEST(NativeLog, RejectsWhatItDoesNotUnderstand) {
    const std::string good = "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://a/ alice "
                             "HIER_DIRECT/127.0.0.1 text/html";
    ASSERT_TRUE(accepted(k_native, good));
    // every truncation of a good line that loses a whole field is rejected
    for (const std::size_t cut : {0, 5, 14, 21, 31, 40, 45, 52, 56, 66, 72, 84})
        EXPECT_FALSE(accepted(k_native, good.substr(0, cut))) << good.substr(0, cut);
    const std::vector<std::string> bad = {
        "",
        "garbage",
        "hello world this is not a squid log line at all",
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 10x45 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 -10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000.123 5 127.0.0.1 TCP_MISS/2x0 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000.123 5 127.0.0.1 TCP_MISS 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "176407200x.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000.123 five 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        // user missing
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ HIER_DIRECT/1.2.3.4 text/html",
        // hierarchy without its '/'
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice HIER_DIRECT text/html",
        // 19 digits would overflow
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 9999999999999999999 GET http://a/ alice HIER_DIRECT/1.2.3.4 -",
        // Squid writes tags and hierarchy codes in upper case
        "1764072000.123 5 127.0.0.1 tcp_miss/200 10 GET http://a/ alice HIER_DIRECT/1.2.3.4 text/html",
        "1764072000.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ alice hier-direct/1.2.3.4 text/html",
        // a common-format line
        "127.0.0.1 - alice [25/Nov/2025:13:00:00 +0100] \"GET http://a/ HTTP/1.1\" 200 10 TCP_MISS:HIER_DIRECT",
    };
    for (const std::string& line : bad)
        EXPECT_FALSE(accepted(k_native, line)) << line;
}

TEST(NativeLog, HostileBlankRunsStayLinear) {
    // A client chooses its user name; one full of blanks must not make a
    // match retry every blank (quadratic: seconds per line at this size; the
    // patterns consume each run of blanks once). Only the results are
    // asserted here: no clock in tests.
    const std::string name = "a" + std::string(100000, ' ') + "b";
    const std::string native_line =
        "1764072000.123 5 1.2.3.4 TCP_MISS/200 1 GET http://a/ " + name + " HIER_DIRECT/1.1.1.1 -";
    const std::string common_line = "1.2.3.4 - " + name + " [25/Nov/2025:13:00:00 +0100 \"GET";
    EXPECT_EQ(parsed(k_native, native_line).user, name);
    EXPECT_FALSE(accepted(LogGrammar::common(), native_line));
    EXPECT_FALSE(accepted(LogGrammar::common(), common_line));
    EXPECT_FALSE(accepted(LogGrammar::combined(), native_line));
    EXPECT_EQ(parsed(LogGrammar::from_logformat(k_native_logformat), native_line).user, name);
    // the same name ending in ']' goes through the whole-line native pattern
    const std::string bracket_line = native_line + " [a] [b]";
    EXPECT_EQ(parsed(k_native, bracket_line).user, name);
}

TEST(NativeLog, MatcherIsReusable) {
    LogMatcher matcher(k_native);
    LogRecord r;
    ASSERT_TRUE(matcher.parse("1764072000.001 1 10.0.0.1 TCP_HIT/200 11 GET http://a/ ann HIER_NONE/- -", r));
    EXPECT_FALSE(matcher.parse("nonsense", r));
    ASSERT_TRUE(matcher.parse("1764072009.002 1 10.0.0.1 TCP_MISS/304 22 GET http://b/ ben HIER_DIRECT/1.1.1.1 -", r));
    expect_record(r, {1764072009, 2, "TCP_MISS", 304, 22, "ben", "HIER_DIRECT"});
    EXPECT_FALSE(k_native.carries_request_bytes());
}

TEST(DecodeUser, SquidEscapes) {
    EXPECT_EQ(wp::decode_user("-"), "-");
    EXPECT_EQ(wp::decode_user("alice"), "alice");
    EXPECT_EQ(wp::decode_user("carol smith"), "carol smith");
    EXPECT_EQ(wp::decode_user("a%20b%25c%5bd%5D"), "a b%c[d]");
    EXPECT_EQ(wp::decode_user("caf%c3%a9"), "caf\xc3\xa9");
    EXPECT_EQ(wp::decode_user("dom\\\\user"), "dom\\user");
    EXPECT_EQ(wp::decode_user("a\\nb\\rc\\td\\\"e"), "a\nb\rc\td\"e");
    // not an escape: kept as written
    EXPECT_EQ(wp::decode_user("50%"), "50%");
    EXPECT_EQ(wp::decode_user("x%zzy"), "x%zzy");
    EXPECT_EQ(wp::decode_user("end\\"), "end\\");
}

// ---------------------------------------------------------------------------
// logformat strings

TEST(Logformat, NativeEquivalentAgreesWithNative) {
    const LogGrammar format = LogGrammar::from_logformat(k_native_logformat);
    EXPECT_FALSE(format.carries_request_bytes());
    const std::vector<std::string> lines = {
        "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://127.0.0.1:8080/f10k alice "
        "HIER_DIRECT/127.0.0.1 application/octet-stream",
        "1764072001.004      0 127.0.0.1 TCP_DENIED/407 4011 GET http://127.0.0.1:8080/f10k bob HIER_NONE/- "
        "text/html",
        "1764072002.789      0 127.0.0.1 NONE_NONE/000 0 - error:transaction-end-before-headers - HIER_NONE/- -",
        "1764072003.000     12 ::1 TCP_MISS/200 1234 GET http://a.example/x carol smith HIER_DIRECT/10.0.0.1 "
        "text/html",
        "1764072004.001     -3 - TCP_TUNNEL/200 5123 CONNECT example.com:443 d%20e TIMEOUT_HIER_DIRECT/1.2.3.4 -",
        "1764072005.999 123456 10.0.0.1 TCP_REFRESH_UNMODIFIED/304 312 GET http://x/ u HIER_DIRECT/x.example -\r",
    };
    LogMatcher native_matcher(k_native);
    LogMatcher format_matcher(format);
    for (const std::string& line : lines) {
        LogRecord a;
        LogRecord b;
        ASSERT_TRUE(native_matcher.parse(line, a)) << line;
        ASSERT_TRUE(format_matcher.parse(line, b)) << line << "\npattern: " << format.pattern();
        EXPECT_EQ(a.time, b.time) << line;
        EXPECT_EQ(a.millis, b.millis) << line;
        EXPECT_EQ(a.tag, b.tag) << line;
        EXPECT_EQ(a.status, b.status) << line;
        EXPECT_EQ(a.bytes, b.bytes) << line;
        EXPECT_EQ(a.user, b.user) << line;
        EXPECT_EQ(a.hierarchy, b.hierarchy) << line;
        EXPECT_EQ(a.request_bytes, b.request_bytes) << line;
    }
    for (const char* bad : {"garbage", "1764072000.123 5 127.0.0.1 TCP_MISS/200 1x GET http://a/ u HIER_NONE/- -"})
        EXPECT_FALSE(accepted(format, bad)) << bad;
}

// Native lines are read from both ends (fixed fields by PCRE2, then the URL,
// user, hierarchy and type found from the right). The oracle is the whole-line
// native pattern (LogGrammar::pattern()) run here directly through PCRE2's
// interpreter. Random lines around the fields that move (blank runs, user
// words that look like fields, odd hierarchy, peer and type words, tabs and
// other white space, a ']' at the end) must be judged alike.
// (user, hierarchy) when the line matches the whole-line pattern
std::optional<std::pair<std::string, std::string>> whole_line_parse(const WholeLineOracle& oracle,
                                                                    const std::string& line) {
    if (oracle.run(line) <= 0) return std::nullopt;
    return std::make_pair(std::string(oracle.group(line, 4)), std::string(oracle.group(line, 5)));
}

TEST(Logformat, NativeReadFromBothEndsAgreesWithOneWholePattern) {
    ASSERT_NE(k_native.pattern().find("\\z"), std::string::npos);
    const WholeLineOracle oracle(k_native.pattern());
    ASSERT_NE(oracle.code, nullptr);
    LogMatcher native_matcher(k_native);
    std::mt19937 random(20261125);
    const auto pick = [&](const std::vector<std::string>& v) { return v[random() % v.size()]; };
    const std::vector<std::string> blanks = {" ", " ", "  ", "   "};
    const std::vector<std::string> words = {
        "alice", "carol", "d%20e", "-",   "HIER_DIRECT/1.2.3.4", "x/y", "200", "a\tb", "TCP_MISS/200", "]",
        "[a]",   "\t",    "ü",     "q\rr"};
    const std::vector<std::string> hierarchies = {
        "HIER_DIRECT/10.0.0.1", "HIER_NONE/-", "TIMEOUT_HIER_DIRECT/p.example",
        "FIRST_UP_PARENT/",     "hier/x",      "HIER_DIRECT",
        "HIER_DIRECT/a\tb",     "/x",          "H_1/x"};
    const std::vector<std::string> types = {"text/html", "-", "", "a\tb", "x]", "[a] [b]", "text/html\v"};
    int accepted_lines = 0;
    int rejected_lines = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string user = pick(words);
        for (unsigned w = random() % 3; w > 0; --w)
            user += pick(blanks) + pick(words);
        const std::string line = "1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://a/" +
                                 std::to_string(i) + pick(blanks) + user + pick(blanks) + pick(hierarchies) +
                                 pick(blanks) + pick(types) + (random() % 8 == 0 ? pick(blanks) : "");
        LogRecord a;
        const bool ok = native_matcher.parse(line, a);
        const auto expected = whole_line_parse(oracle, line);
        ASSERT_EQ(ok, expected.has_value()) << line;
        if (!ok) {
            ++rejected_lines;
            continue;
        }
        ++accepted_lines;
        ASSERT_EQ(a.user, expected->first) << line;
        ASSERT_EQ(a.hierarchy, expected->second) << line;
        ASSERT_EQ(a.bytes, 10345) << line;
        ASSERT_EQ(a.tag, "TCP_MISS") << line;
    }
    // both kinds are well represented
    EXPECT_GT(accepted_lines, 3000);
    EXPECT_GT(rejected_lines, 3000);
}

TEST(Logformat, RequestBytes) {
    const LogGrammar format =
        LogGrammar::from_logformat("%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt");
    EXPECT_TRUE(format.carries_request_bytes());
    expect_record(parsed(format, "1764072000.123      5 127.0.0.1 TCP_TUNNEL/200 5123 20480 CONNECT h.example:443 "
                                 "alice HIER_DIRECT/1.2.3.4 -"),
                  {1764072000, 123, "TCP_TUNNEL", 200, 5123, "alice", "HIER_DIRECT", 20480});
}

TEST(Logformat, AnySubsecondPrecisionWithoutOverflow) {
    // found by fuzz_logformat: 10^44 overflowed int64 (UBSan) before the division
    const LogGrammar format = LogGrammar::from_logformat("%ts.%06.47tu %Ss %<st");
    const LogRecord r = parsed(format, "1764072000.042999 TCP_HIT 1");
    EXPECT_EQ(r.time, 1764072000);
    EXPECT_EQ(r.millis, 0);
    EXPECT_EQ(r.bytes, 1);
}

TEST(Logformat, CommonWithLocalTimeOffset) {
    const LogGrammar common = LogGrammar::common();
    EXPECT_EQ(common.description(), "common");
    expect_record(parsed(common, "192.168.0.5 - alice [25/Nov/2025:13:00:00 +0100] \"GET http://example.com/ "
                                 "HTTP/1.1\" 200 5120 TCP_MISS:HIER_DIRECT"),
                  {1764072000, 0, "TCP_MISS", 200, 5120, "alice", "HIER_DIRECT"});
    // negative offset with minutes: strftime's %z, and Time::FormatHttpd's own "-03-30"
    EXPECT_EQ(parsed(common, "::1 - bob [25/Nov/2025:08:30:00 -0330] \"GET http://a/ HTTP/1.0\" 304 120 "
                             "TCP_REFRESH_UNMODIFIED:HIER_DIRECT")
                  .time,
              1764072000);
    EXPECT_EQ(parsed(common, "::1 - bob [25/Nov/2025:08:30:00 -03-30] \"GET http://a/ HTTP/1.0\" 304 120 "
                             "TCP_REFRESH_UNMODIFIED:HIER_DIRECT")
                  .time,
              1764072000);
    EXPECT_EQ(parsed(common, "::1 - bob [25/Nov/2025:11:30:00 +00-30] \"GET http://a/ HTTP/1.0\" 200 1 "
                             "TCP_MISS:HIER_DIRECT")
                  .time,
              1764072000);
    EXPECT_EQ(parsed(common, "10.0.0.1 - - [29/Feb/2024:23:59:59 +0000] \"CONNECT h:443 HTTP/1.1\" 200 7 "
                             "TCP_TUNNEL:HIER_DIRECT")
                  .time,
              1709251199);
}

TEST(Logformat, CommonUsersAndOddRequests) {
    const LogGrammar common = LogGrammar::common();
    // a user with a blank, and an ident that is not "-" (the user still wins)
    expect_record(parsed(common, "10.0.0.1 ident7 carol smith [02/Jan/2011:23:43:48 +0530] \"GET http://a/ "
                                 "HTTP/1.1\" 200 77 TCP_MEM_HIT:HIER_NONE"),
                  {1293992028, 0, "TCP_MEM_HIT", 200, 77, "carol smith", "HIER_NONE"});
    // only an ident user
    EXPECT_EQ(parsed(common, "10.0.0.1 ident7 - [02/Jan/2011:23:43:48 +0530] \"GET http://a/ HTTP/1.1\" 200 77 "
                             "TCP_MEM_HIT:HIER_NONE")
                  .user,
              "ident7");
    // a transaction that never got a request: Squid prints protocol NONE
    expect_record(parsed(common, "10.0.0.1 - - [25/Nov/2025:13:00:00 +0100] \"NONE "
                                 "error:transaction-end-before-headers NONE/0.0\" 0 0 NONE_NONE:HIER_NONE"),
                  {1764072000, 0, "NONE_NONE", 0, 0, "-", "HIER_NONE"});
    EXPECT_FALSE(accepted(common, "10.0.0.1 - - [25/Nov/2025:13:00:00] \"GET http://a/ HTTP/1.1\" 200 1 "
                                  "TCP_MISS:HIER_DIRECT"));
    EXPECT_FALSE(accepted(common, "10.0.0.1 - - [31/Foo/2025:13:00:00 +0100] \"GET http://a/ HTTP/1.1\" 200 1 "
                                  "TCP_MISS:HIER_DIRECT"));
    EXPECT_FALSE(accepted(common, "1764072000.123 5 127.0.0.1 TCP_MISS/200 10 GET http://a/ u HIER_NONE/- -"));
}

TEST(Logformat, Combined) {
    const LogGrammar combined = LogGrammar::combined();
    expect_record(parsed(combined, "192.168.0.5 - alice [25/Nov/2025:13:00:00 +0100] \"GET http://example.com/ "
                                   "HTTP/1.1\" 200 5120 \"http://ref.example/a b\" \"Mozilla/5.0 (X11; Linux) "
                                   "\\\"quoted\\\"\" TCP_MISS:HIER_DIRECT"),
                  {1764072000, 0, "TCP_MISS", 200, 5120, "alice", "HIER_DIRECT"});
    expect_record(parsed(combined, "10.0.0.9 - d%20e [25/Nov/2025:12:00:00 +0000] \"CONNECT h:443 HTTP/1.1\" 200 9 "
                                   "\"-\" \"-\" TCP_TUNNEL:HIER_DIRECT"),
                  {1764072000, 0, "TCP_TUNNEL", 200, 9, "d%20e", "HIER_DIRECT"});
    EXPECT_FALSE(accepted(combined, "192.168.0.5 - alice [25/Nov/2025:13:00:00 +0100] \"GET http://a/ HTTP/1.1\" "
                                    "200 5120 TCP_MISS:HIER_DIRECT"));
}

TEST(Logformat, GmtTimeAndSecondsWithoutMillis) {
    const LogGrammar gmt = LogGrammar::from_logformat("[%tg] %>a %un %Ss %>Hs %<st");
    expect_record(parsed(gmt, "[25/Nov/2025:12:00:00] 10.0.0.1 alice TCP_HIT 200 512"),
                  {1764072000, 0, "TCP_HIT", 200, 512, "alice", ""});
    // a %tg{...} written with a zone
    EXPECT_EQ(parsed(gmt, "[25/Nov/2025:13:00:00 +0100] 10.0.0.1 alice TCP_HIT 200 512").time, 1764072000);
    const LogGrammar seconds = LogGrammar::from_logformat("%ts %Ss %st %un");
    expect_record(parsed(seconds, "1764072000 TCP_MISS 999 bob"), {1764072000, 0, "TCP_MISS", 0, 999, "bob", ""});
}

TEST(Logformat, CustomStrftimeTime) {
    const LogGrammar iso = LogGrammar::from_logformat("%{%Y-%m-%dT%H:%M:%S%z}tl %Ss/%>Hs %<st %un %Sh");
    expect_record(parsed(iso, "2025-11-25T13:00:00+0100 TCP_MISS/200 10 u HIER_DIRECT"),
                  {1764072000, 0, "TCP_MISS", 200, 10, "u", "HIER_DIRECT"});
    int code = 0;
    const std::string message = error_of([] { LogGrammar::from_logformat("%{%H:%M}tl %Ss %<st"); }, &code);
    EXPECT_EQ(code, 64);
    EXPECT_NE(message.find("no %z"), std::string::npos) << message;
}

TEST(Logformat, SubsecondPrecisions) {
    EXPECT_EQ(parsed(LogGrammar::from_logformat("%ts.%03tu %Ss %<st"), "1764072000.042 TCP_HIT 1").millis, 42);
    // %tu without padding is still milliseconds
    EXPECT_EQ(parsed(LogGrammar::from_logformat("%ts.%tu %Ss %<st"), "1764072000.42 TCP_HIT 1").millis, 42);
    // %.6tu: microseconds
    EXPECT_EQ(parsed(LogGrammar::from_logformat("%ts.%06.6tu %Ss %<st"), "1764072000.042999 TCP_HIT 1").millis, 42);
    // %tS, transaction start as seconds.fraction
    const LogRecord start = parsed(LogGrammar::from_logformat("%tS %Ss %<st"), "1764072000.5 TCP_HIT 1");
    EXPECT_EQ(start.time, 1764072000);
    EXPECT_EQ(start.millis, 500);
}

TEST(Logformat, HeadersQuotingAndLiterals) {
    // %{Host}>h outside quotes is URL-escaped by Squid: one word
    const LogGrammar host = LogGrammar::from_logformat("%ts %{Host}>h %Ss %<st 100%% %un");
    expect_record(parsed(host, "1764072000 a.example:80 TCP_MISS 10 100% al"),
                  {1764072000, 0, "TCP_MISS", 0, 10, "al", ""});
    // %"un: a quoted user with blanks and escapes
    const LogGrammar quoted = LogGrammar::from_logformat("%ts %\"un %Ss %<st");
    EXPECT_EQ(parsed(quoted, "1764072000 Carol \\\"Cee\\\" Smith TCP_MISS 10").user, "Carol \\\"Cee\\\" Smith");
    // a literal quote opens Squid's quoting for the codes inside it
    const LogGrammar inside = LogGrammar::from_logformat("%ts \"%un\" %Ss %<st %>a:%>p");
    const LogRecord r = parsed(inside, "1764072000 \"x y\" TCP_MISS 10 2001:db8::1:51234");
    EXPECT_EQ(r.user, "x y");
    EXPECT_EQ(r.bytes, 10);
    // padded and left-aligned fields
    const LogGrammar padded = LogGrammar::from_logformat("%10ts|%-8un|%Ss|%5<st|%05>Hs");
    expect_record(parsed(padded, "1764072000|bob     |TCP_HIT|   42|00200"),
                  {1764072000, 0, "TCP_HIT", 200, 42, "bob", ""});
}

TEST(Logformat, UserCodesByPreference) {
    const LogGrammar users = LogGrammar::from_logformat("%ts %ui %ul %ue %Ss %<st");
    EXPECT_EQ(parsed(users, "1764072000 ident login ext TCP_HIT 1").user, "login");
    EXPECT_EQ(parsed(users, "1764072000 ident - ext TCP_HIT 1").user, "ext");
    EXPECT_EQ(parsed(users, "1764072000 ident - - TCP_HIT 1").user, "ident");
    EXPECT_EQ(parsed(users, "1764072000 - - - TCP_HIT 1").user, "-");
    // no user code at all
    EXPECT_EQ(parsed(LogGrammar::from_logformat("%ts %Ss %<st"), "1764072000 TCP_HIT 1").user, "-");
}

TEST(Logformat, ManyCodesCompile) {
    const char* formats[] = {
        "%ts.%03tu %tr %>a %>A %<a %<A %>p %<p %la %lp %>la %>lp %<la %<lp %Ss %Sh %>Hs %<Hs %<st %>st %st "
        "%rm %ru %rp %rv %>rm %>ru %>rp %>rv %>rs %>rd %>rP %<rm %<ru %un %ul %ue %us %ui %mt %sn %err_code "
        "%err_detail %<pt %<tt %dt %<bs %>sh %<sh %ea %et %note %master_xaction %>eui %http::>ha",
        "%ts %Ss %<st %{Referer}>h %{Content-Type}<h %[{X-Forwarded-For}>h %#ru %'un %/un %-10.20un %icap::tt "
        "%ssl::>sni %tls::>negotiated_version %adapt::<last_h %{Host}>ha",
    };
    for (const char* f : formats)
        EXPECT_NO_THROW(LogGrammar::from_logformat(f)) << f;
}

TEST(Logformat, UnknownCodeIsAUsageError) {
    int code = 0;
    const std::string message = error_of([] { LogGrammar::from_logformat("%ts.%03tu %zz %Ss %<st"); }, &code);
    EXPECT_EQ(code, wp::exit_code::k_usage);
    EXPECT_EQ(message, "unknown logformat code %zz in '%ts.%03tu %zz %Ss %<st'");
    EXPECT_EQ(error_of([] { LogGrammar::from_logformat("%ts %Ss %<st %"); }, &code),
              "logformat '%ts %Ss %<st %' ends with an incomplete % code");
    EXPECT_EQ(code, 64);
}

TEST(Logformat, FormatsThatCannotBeBilled) {
    int code = 0;
    EXPECT_NE(error_of([] { LogGrammar::from_logformat("%>a %Ss %<st"); }, &code).find("has no time"),
              std::string::npos);
    EXPECT_EQ(code, 64);
    EXPECT_NE(error_of([] { LogGrammar::from_logformat("%ts %Ss %un"); }).find("has no reply size"), std::string::npos);
    EXPECT_NE(error_of([] { LogGrammar::from_logformat("%ts %<st %un"); }).find("has no result tag"),
              std::string::npos);
}

TEST(Logformat, ByNameOrFormat) {
    EXPECT_EQ(LogGrammar::by_name_or_format("native").description(), "native");
    EXPECT_EQ(LogGrammar::by_name_or_format("squid").description(), "native");
    EXPECT_EQ(LogGrammar::by_name_or_format("common").description(), "common");
    EXPECT_EQ(LogGrammar::by_name_or_format("combined").description(), "combined");
    EXPECT_EQ(LogGrammar::by_name_or_format(k_native_logformat).description(), k_native_logformat);
    int code = 0;
    EXPECT_EQ(error_of([] { LogGrammar::by_name_or_format("apache"); }, &code),
              "unknown log format 'apache' (expected native, common, combined or a logformat string)");
    EXPECT_EQ(code, 64);
}

} // namespace
