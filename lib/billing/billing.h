#pragma once
// Billing rules: how many times a logged transfer is billed, from its Squid
// result tag and hierarchy code (share/billing.rules holds the default table).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// A Squid result tag reduced to what billing cares about: without the
/// TCP_/UDP_ prefix, the CF_ (collapsed forwarding) marker and the _CF,
/// _IGNORED, _TIMEDOUT and _ABORTED suffixes; NONE_NONE, TAG_NONE and NONE
/// are "NONE". Returns a view into tag, or into scratch when bytes had to be
/// removed from the middle.
std::string_view normalise_tag(std::string_view tag, std::string& scratch);

/// A hierarchy code reduced the same way: without Squid's TIMEOUT_ prefix and
/// Squid 3's HIER_ prefix, so "TIMEOUT_HIER_DIRECT", "HIER_DIRECT" and Squid
/// 2's "DIRECT" are all "DIRECT". A view into hierarchy.
std::string_view normalise_hierarchy(std::string_view hierarchy);

/// The most billing classes one rules file may name.
inline constexpr int k_max_classes = 8;

/// A billing class: a named factor (served from the cache x1, fetched from
/// the origin x2, free x0, or one an operator's rules add). Usage keeps its
/// bytes per class, so that billed bytes = sum(class bytes x factor).
struct BillingClass {
    std::string name; ///< lower case letters, digits, '_' and '-'
    int factor = 0;

    friend bool operator==(const BillingClass&, const BillingClass&) = default;
};

/// What a line is billed at: bytes x factor, in the class `klass` (an index
/// into BillingRules::classes()).
struct Pricing {
    int factor = 2;
    bool by_default = true; ///< no explicit rule matched (the tool reports these)
    int klass = 0;

    friend bool operator==(const Pricing&, const Pricing&) = default;
};

/// An ordered list of rules; the first that matches a line prices it.
/// Immutable once built, so one instance serves every thread.
class BillingRules {
public:
    /// Rules from text (syntax in share/billing.rules); a syntax error is
    /// Error(78) "FILE:LINE: what is wrong".
    static BillingRules parse(std::string_view text, std::string_view file_name);
    /// Rules from a file; a file that cannot be read is Error(66/77/74) naming it.
    static BillingRules load(const std::string& path);
    /// The built-in table, the same as the shipped share/billing.rules.
    static BillingRules defaults();

    /// Prices one line by its raw tag and hierarchy code as logged.
    Pricing price(std::string_view raw_tag, std::string_view hierarchy) const;
    /// False when no rule names a hierarchy code: prices then depend on the tag alone.
    bool uses_hierarchy() const { return m_hiers.count != 0; }

    /// Where the rules came from (file name, or "built-in defaults").
    const std::string& source() const { return m_source; }
    /// The classes, declared ones first in file order, then those a bare
    /// factor implied; Pricing::klass indexes this.
    const std::vector<BillingClass>& classes() const { return m_classes; }

private:
    /// Names a rule mentions, in an open-addressing table: price() looks up
    /// every line's tag, and short names hash faster here than in std::hash.
    struct NameTable {
        struct Slot {
            std::string name;
            uint64_t hash = 0;
            int id = 0; ///< 0: empty slot
        };
        std::vector<Slot> slots; ///< size is a power of two, at most half full
        int count = 0;

        int find(std::string_view name) const; ///< 0 when absent
        int add(std::string_view name);        ///< the name's id, new or existing
    };

    std::string m_source;
    std::vector<BillingClass> m_classes;
    NameTable m_tags;  ///< normalised tag named by some rule -> row
    NameTable m_hiers; ///< normalised hierarchy named by some rule -> column
    /// Pricing of every (tag row, hierarchy column); row and column 0 stand
    /// for names no rule mentions. Precomputed so price() is two look-ups.
    std::vector<Pricing> m_table;
};

} // namespace wp
