#include "billing/line_biller.h"

#include <array>
#include <cstring>

#include "base/error.h"
#include "billing/billing.h"
#include "store/inventory.h"

namespace wp {

// Every class a rules file may declare has its counters in a usage row.
static_assert(k_usage_classes >= k_max_classes);

namespace {

// A short tag or hierarchy code kept in place, so that comparing it with the
// next line's costs one small memcmp and no allocation.
struct ShortName {
    std::array<char, 48> bytes{};
    std::size_t size = 0;
    bool valid = false;
    bool equals(std::string_view s) const {
        return valid && s.size() == size && (size == 0 || std::memcmp(s.data(), bytes.data(), size) == 0);
    }
    void assign(std::string_view s) {
        valid = s.size() <= bytes.size();
        size = valid ? s.size() : 0;
        if (size > 0) {
            std::memcpy(bytes.data(), s.data(), size);
        }
    }
};

} // namespace

// Prices of the (tag, hierarchy) pairs seen lately. A log has a few dozen
// such pairs, interleaved line by line, so a small direct-mapped table keyed
// on a cheap mix of the bytes that tell Squid's tags apart answers nearly
// every line without normalising the tag again; a collision only costs a
// lookup in the rules.
class LineBiller::PriceCache {
public:
    explicit PriceCache(const BillingRules& rules) : m_rules(rules), m_by_hierarchy(rules.uses_hierarchy()) {}

    Pricing price(std::string_view tag, std::string_view hierarchy) {
        if (!m_by_hierarchy) hierarchy = {};
        Entry& e = m_entries[slot(tag, hierarchy)];
        if (!e.tag.equals(tag) || !e.hierarchy.equals(hierarchy)) {
            e.price = m_rules.price(tag, hierarchy);
            e.tag.assign(tag);
            e.hierarchy.assign(hierarchy);
        }
        return e.price;
    }

private:
    static constexpr std::size_t k_slots = 64;
    static std::size_t slot(std::string_view tag, std::string_view hierarchy) {
        std::size_t h = tag.size() * 0x9e3779b1u + hierarchy.size() * 0x85ebca6bu;
        if (!tag.empty())
            h += static_cast<unsigned char>(tag[tag.size() / 2]) * 31u + static_cast<unsigned char>(tag.back()) * 7u +
                 static_cast<unsigned char>(tag[tag.size() - tag.size() / 4 - 1]);
        if (!hierarchy.empty()) h += static_cast<unsigned char>(hierarchy.front()) * 13u;
        return (h ^ (h >> 7)) % k_slots;
    }
    struct Entry {
        ShortName tag;
        ShortName hierarchy;
        Pricing price;
    };
    const BillingRules& m_rules;
    bool m_by_hierarchy;
    std::array<Entry, k_slots> m_entries{};
};

LineBiller::LineBiller(const LogGrammar& grammar, const BillingRules& rules)
    : m_matcher(grammar), m_prices(std::make_unique<PriceCache>(rules)) {}

LineBiller::~LineBiller() = default;

bool checked_add(UsageCounts& c, const UsageCounts& o) {
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
    std::int64_t billed = 0;
    if (__builtin_add_overflow(c.requests, o.requests, &requests) || __builtin_add_overflow(c.bytes, o.bytes, &bytes) ||
        __builtin_add_overflow(c.billed_bytes, o.billed_bytes, &billed)) {
        return false;
    }
    c.requests = requests;
    c.bytes = bytes;
    c.billed_bytes = billed;
    // A class's counts are at most the totals, which did not overflow.
    for (std::size_t i = 0; i < c.classes.size(); ++i) {
        c.classes[i].requests += o.classes[i].requests;
        c.classes[i].bytes += o.classes[i].bytes;
    }
    return true;
}

namespace {

// One line into its (user, hour): the totals checked, its class beside.
bool add_line(UsageCounts& c, std::int64_t bytes, std::int64_t billed, int klass) {
    std::int64_t requests = 0;
    std::int64_t new_bytes = 0;
    std::int64_t new_billed = 0;
    if (__builtin_add_overflow(c.requests, 1, &requests) || __builtin_add_overflow(c.bytes, bytes, &new_bytes) ||
        __builtin_add_overflow(c.billed_bytes, billed, &new_billed)) {
        return false;
    }
    c.requests = requests;
    c.bytes = new_bytes;
    c.billed_bytes = new_billed;
    ClassCounts& k = c.classes[static_cast<std::size_t>(klass)];
    ++k.requests;
    k.bytes += bytes;
    return true;
}

} // namespace

std::string_view LineBiller::bill(std::string_view line, HourlyUsage& usage, std::int64_t now, std::int64_t& time) {
    LogRecord& rec = m_record;
    if (!m_matcher.parse(line, rec)) {
        return "not understood";
    }
    if (rec.time < k_earliest_time) {
        return "time before 2000-01-01";
    }
    if (rec.time > now + k_max_future_seconds) {
        return "time more than a day ahead of the clock";
    }
    if (rec.bytes > k_max_line_bytes || rec.request_bytes > k_max_line_bytes) {
        return "byte count above 1 TiB";
    }
    const Pricing p = m_prices->price(rec.tag, rec.hierarchy);
    if (p.by_default) {
        auto it = m_unpriced.find(rec.tag);
        if (it == m_unpriced.end()) {
            it = m_unpriced.emplace(std::string(rec.tag), 0).first;
        }
        ++it->second;
    }
    std::int64_t bytes = rec.bytes;
    if (rec.request_bytes > 0) {
        bytes += rec.request_bytes;
    }
    // Both below 2^41 and the factor at most 1000: the product fits.
    const std::int64_t hour = rec.time - rec.time % 3600;
    if (!add_line(usage.at(rec.user, hour), bytes, bytes * p.factor, p.klass)) {
        fail(exit_code::k_data, "usage of user {} in the hour of {} overflows 64 bits", rec.user, format_utc(hour));
    }
    time = rec.time;
    return {};
}

} // namespace wp
