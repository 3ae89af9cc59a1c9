// BillingRules::parse, the rules file (share/billing.rules syntax). There is
// no printer to round-trip through, so the properties are about the prices:
// parsing the same text twice prices every probe alike; factors are never
// negative; rules that name no hierarchy price a tag the same under every
// hierarchy. Probes: the words of the input itself and Squid's usual names.

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "billing/billing.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    std::optional<wp::BillingRules> rules;
    try {
        rules = wp::BillingRules::parse(text, "fuzz.rules");
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_config); // as billing.h documents
        return 0;
    }
    const wp::BillingRules again = wp::BillingRules::parse(text, "fuzz.rules");

    std::vector<std::string> tags = {"TCP_MISS", "TCP_HIT",    "TCP_MISS_ABORTED", "TCP_CF_HIT", "NONE_NONE",
                                     "TAG_NONE", "TCP_DENIED", "UDP_HIT",          "",           "-"};
    std::vector<std::string> hiers = {"HIER_DIRECT", "TIMEOUT_HIER_DIRECT", "DIRECT", "HIER_NONE", "NONE", "", "-"};
    std::size_t begin = 0;
    while (begin < text.size() && tags.size() < 40) {
        const std::size_t end = text.find_first_of(" \t\n,=", begin);
        const std::string_view word = text.substr(begin, end == std::string_view::npos ? end : end - begin);
        if (!word.empty()) {
            tags.emplace_back(word);
            hiers.emplace_back(word);
        }
        if (end == std::string_view::npos) break;
        begin = end + 1;
    }
    for (const std::string& tag : tags) {
        const wp::Pricing first = rules->price(tag, hiers.front());
        for (const std::string& hier : hiers) {
            const wp::Pricing p = rules->price(tag, hier);
            FUZZ_CHECK(p == again.price(tag, hier));
            FUZZ_CHECK(p.factor >= 0);
            FUZZ_CHECK(rules->uses_hierarchy() || p == first);
        }
    }
    return 0;
}
