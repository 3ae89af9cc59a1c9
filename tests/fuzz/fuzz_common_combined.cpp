// LogMatcher over Squid's built-in "common" and "combined" grammars.
// Property: an accepted line's record points into the line and its numbers
// are in range (wp_fuzz::check_record); a "combined" line is never read
// differently by a second matcher (the matcher keeps no state between lines).

#include "billing/squid_log.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const wp::LogGrammar common = wp::LogGrammar::common();
    static const wp::LogGrammar combined = wp::LogGrammar::combined();
    static wp::LogMatcher common_matcher(common);
    static wp::LogMatcher combined_matcher(combined);

    const std::string_view line = wp_fuzz::as_text(data, size);
    std::string_view seen = line;
    if (!seen.empty() && seen.back() == '\r') seen.remove_suffix(1);
    wp::LogRecord record;
    if (common_matcher.parse(line, record)) wp_fuzz::check_record(seen, record, false);
    if (combined_matcher.parse(line, record)) {
        wp_fuzz::check_record(seen, record, false);
        wp::LogMatcher fresh(combined);
        wp::LogRecord again;
        FUZZ_CHECK(fresh.parse(line, again));
        FUZZ_CHECK(again.time == record.time && again.bytes == record.bytes && again.tag == record.tag &&
                   again.user == record.user && again.status == record.status);
    }
    return 0;
}
