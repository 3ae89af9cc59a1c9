// LogMatcher over the native grammar (LogGrammar::native). Most lines are read
// from both ends (LogMatcher::parse_native); the definition is the whole-line
// pattern (LogGrammar::pattern), run here through PCRE2's interpreter as an
// oracle, as tests/unit/test_squid_log.cpp does. Property: the split reading
// accepts exactly the lines the pattern accepts whose fixed fields fit
// (seconds and bytes of at most 18 digits, status at most 999), and then finds
// the same user, hierarchy, tag, status and bytes.

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../unit/support/whole_line_oracle.h"
#include "billing/squid_log.h"
#include "fuzz.h"

namespace {

// Digits (the pattern guarantees nothing else) as a number, or -1 past 18.
long long number(std::string_view digits) {
    if (digits.empty() || digits.size() > 18) return -1;
    long long v = 0;
    for (char c : digits)
        v = v * 10 + (c - '0');
    return v;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const wp::LogGrammar grammar = wp::LogGrammar::native();
    static wp::LogMatcher matcher(grammar);
    static const WholeLineOracle oracle(grammar.pattern());
    FUZZ_CHECK(oracle.code != nullptr);

    std::string_view line = wp_fuzz::as_text(data, size);
    wp::LogRecord record;
    const bool accepted = matcher.parse(line, record);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const int rc = oracle.run(line);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        // the interpreter hit a limit: no verdict to compare with
        return 0;
    }
    bool expected = rc > 0;
    long long status = -1;
    long long bytes = -1;
    std::string_view tag;
    if (expected) {
        const std::string_view time = oracle.group(line, 1);
        const std::string_view tag_status = oracle.group(line, 2);
        const std::size_t slash = tag_status.rfind('/');
        tag = tag_status.substr(0, slash);
        status = number(tag_status.substr(slash + 1));
        bytes = number(oracle.group(line, 3));
        expected = number(time.substr(0, time.find('.'))) >= 0 && status >= 0 && status <= 999 && bytes >= 0;
    }
    FUZZ_CHECK(accepted == expected);
    if (!accepted) return 0;
    wp_fuzz::check_record(line, record, false);
    FUZZ_CHECK(record.user == oracle.group(line, 4));
    FUZZ_CHECK(record.hierarchy == oracle.group(line, 5));
    FUZZ_CHECK(record.tag == tag);
    FUZZ_CHECK(record.status == status);
    FUZZ_CHECK(record.bytes == bytes);
    return 0;
}
