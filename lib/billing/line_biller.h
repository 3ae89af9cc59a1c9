#pragma once
// One log line to money: parse it, check it is sane, price it, add it to the
// hourly usage. Shared by the ingest of spool files and the billing of
// batches found only in the archive, so that both bill a line alike.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "billing/squid_log.h"
#include "billing/usage.h"

namespace wp {

class BillingRules;

/// Lines dated before this (2000-01-01T00:00:00Z) are rejected.
inline constexpr std::int64_t k_earliest_time = 946684800;
/// Lines dated more than this ahead of the clock are rejected.
inline constexpr std::int64_t k_max_future_seconds = 86400;
/// A byte count (reply or request) above this (1 TiB) is rejected.
inline constexpr std::int64_t k_max_line_bytes = std::int64_t{1} << 40;

/// Counts of tags that no explicit rule priced.
using TagCounts = std::map<std::string, std::int64_t, std::less<>>;

/// Bills lines into a HourlyUsage; one per thread.
class LineBiller {
public:
    LineBiller(const LogGrammar& grammar, const BillingRules& rules);
    ~LineBiller();
    LineBiller(const LineBiller&) = delete;
    LineBiller& operator=(const LineBiller&) = delete;

    /// Bills one line into usage and returns "" with time set to the line's
    /// time; or returns why the line is rejected (nothing is added). now is
    /// the clock the future bound is measured from. Sums that would overflow
    /// 64 bits are Error(65).
    std::string_view bill(std::string_view line, HourlyUsage& usage, std::int64_t now, std::int64_t& time);
    /// Tags billed by the default rule, with their line counts.
    const TagCounts& unpriced() const { return m_unpriced; }

private:
    class PriceCache;
    LogMatcher m_matcher;
    std::unique_ptr<PriceCache> m_prices;
    TagCounts m_unpriced;
    LogRecord m_record;
};

/// Adds o to c with checked 64-bit sums; false (c unchanged) on overflow.
bool checked_add(UsageCounts& c, const UsageCounts& o);

} // namespace wp
