// LogMatcher over the native grammar (LogGrammar::native). Most lines are read
// from both ends (LogMatcher::parse_native); the definition is the whole-line
// pattern (LogGrammar::pattern), run here through PCRE2's interpreter as an
// oracle, as tests/unit/test_squid_log.cpp does. Property: the split reading
// accepts exactly the lines the pattern accepts whose fixed fields fit
// (seconds and bytes of at most 18 digits, status at most 999), and then finds
// the same user, hierarchy, tag, status and bytes.

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fuzz.h"
#include "squid_log.h"

namespace {

struct WholeLineOracle {
    pcre2_code* code = nullptr;
    pcre2_match_data* match = nullptr;
    explicit WholeLineOracle(const std::string& pattern) {
        int error = 0;
        PCRE2_SIZE offset = 0;
        code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_DOTALL | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &error, &offset, nullptr);
        FUZZ_CHECK(code != nullptr);
        match = pcre2_match_data_create_from_pattern(code, nullptr);
    }
    ~WholeLineOracle() {
        pcre2_match_data_free(match);
        pcre2_code_free(code);
    }
    int run(std::string_view line) const {
        return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, match, nullptr);
    }
    std::string_view group(std::string_view line, int g) const {
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        return line.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
};

// Digits (the pattern guarantees nothing else) as a number, or -1 past 18.
long long number(std::string_view digits) {
    if (digits.empty() || digits.size() > 18)
        return -1;
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

    std::string_view line = wp_fuzz::as_text(data, size);
    wp::LogRecord record;
    const bool accepted = matcher.parse(line, record);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
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
    if (!accepted)
        return 0;
    wp_fuzz::check_record(line, record, false);
    FUZZ_CHECK(record.user == oracle.group(line, 4));
    FUZZ_CHECK(record.hierarchy == oracle.group(line, 5));
    FUZZ_CHECK(record.tag == tag);
    FUZZ_CHECK(record.status == status);
    FUZZ_CHECK(record.bytes == bytes);
    return 0;
}
