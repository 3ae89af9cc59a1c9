// LogGrammar::from_logformat: the input's first line is a Squid logformat
// string, the rest one access-log line read through the compiled grammar.
// Properties: a format compiles the same way twice (same pattern, same
// request-bytes flag); an accepted line's record points into the line and its
// numbers are in range (wp_fuzz::check_record).

#include <optional>

#include "base/error.h"
#include "billing/squid_log.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = wp_fuzz::as_text(data, size);
    const std::size_t newline = input.find('\n');
    const std::string_view format = input.substr(0, newline);
    const std::string_view line = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
    std::optional<wp::LogGrammar> grammar;
    try {
        grammar = wp::LogGrammar::from_logformat(format);
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_usage); // as squid_log.h documents
        return 0;
    }
    const wp::LogGrammar again = wp::LogGrammar::from_logformat(format);
    FUZZ_CHECK(again.pattern() == grammar->pattern());
    FUZZ_CHECK(again.carries_request_bytes() == grammar->carries_request_bytes());
    wp::LogMatcher matcher(*grammar);
    wp::LogRecord record;
    if (matcher.parse(line, record)) {
        std::string_view seen = line;
        if (!seen.empty() && seen.back() == '\r') seen.remove_suffix(1);
        wp_fuzz::check_record(seen, record, grammar->carries_request_bytes());
    }
    return 0;
}
