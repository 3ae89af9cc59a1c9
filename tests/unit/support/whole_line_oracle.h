#pragma once
// A grammar's whole-line pattern run directly through PCRE2's interpreter: the
// oracle that the split native reading (LogMatcher) is held to, by the unit
// tests and by the native_line fuzz target.

#include <string>
#include <string_view>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

struct WholeLineOracle {
    pcre2_code* code = nullptr; ///< null when the pattern does not compile
    pcre2_match_data* match = nullptr;
    explicit WholeLineOracle(const std::string& pattern) {
        int error = 0;
        PCRE2_SIZE offset = 0;
        code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_DOTALL | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &error, &offset, nullptr);
        if (code != nullptr) {
            match = pcre2_match_data_create_from_pattern(code, nullptr);
        }
    }
    ~WholeLineOracle() {
        pcre2_match_data_free(match);
        pcre2_code_free(code);
    }
    WholeLineOracle(const WholeLineOracle&) = delete;
    WholeLineOracle& operator=(const WholeLineOracle&) = delete;
    /// pcre2_match's result: > 0 when the line matches.
    int run(std::string_view line) const {
        return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, match, nullptr);
    }
    /// Capture group g of the line last run.
    std::string_view group(std::string_view line, int g) const {
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        return line.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
};
