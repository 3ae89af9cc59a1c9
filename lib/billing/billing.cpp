#include "billing/billing.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"

namespace wp {

namespace {

// Fixed-length compares the compiler inlines: normalising runs for every line.
template <std::size_t N> bool starts_with(std::string_view s, const char (&prefix)[N]) {
    return s.size() >= N - 1 && std::memcmp(s.data(), prefix, N - 1) == 0;
}

template <std::size_t N> bool ends_with(std::string_view s, const char (&suffix)[N]) {
    return s.size() >= N - 1 && std::memcmp(s.data() + s.size() - (N - 1), suffix, N - 1) == 0;
}

template <std::size_t N> bool equals(std::string_view s, const char (&word)[N]) {
    return s.size() == N - 1 && std::memcmp(s.data(), word, N - 1) == 0;
}

// Cheap and good enough for a few dozen upper-case names: the length and the
// first and last eight bytes (fewer for short names), mixed by multiplication.
inline uint64_t name_hash(std::string_view s) {
    uint64_t head = 0;
    uint64_t tail = 0;
    if (s.size() >= 8) {
        std::memcpy(&head, s.data(), 8);
        std::memcpy(&tail, s.data() + s.size() - 8, 8);
    } else {
        for (char c : s)
            head = (head << 8) | static_cast<unsigned char>(c);
    }
    const uint64_t h = (head ^ (tail * 0x9e3779b97f4a7c15ULL) ^ s.size()) * 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

// Kept in step with share/billing.rules (a unit test compares the two).
constexpr std::string_view k_default_rules = R"(
class cache = 1
class origin = 2
class free = 0
class local = 1
tag HIT MEM_HIT IMS_HIT INM_HIT REFRESH_UNMODIFIED REFRESH_FAIL_OLD NEGATIVE_HIT OFFLINE_HIT = cache
tag REFRESH_HIT REFRESH_FAIL_HIT STALE_HIT = cache
tag REDIRECT = local
tag DENIED DENIED_REPLY NONE INVALID = free
tag MISS REFRESH_MODIFIED REFRESH_MISS REFRESH CLIENT_REFRESH_MISS IMS_MISS SWAPFAIL_MISS REFRESH_FAIL_ERR TUNNEL = origin
default = origin
)";

// The class a bare factor stands for when no declared class has it.
std::string implied_class_name(int factor) {
    switch (factor) {
    case 0:
        return "free";
    case 1:
        return "cache";
    case 2:
        return "origin";
    default:
        return fmt::format("x{}", factor);
    }
}

// A factor above this is certainly a typo (an extra digit), not a tariff.
constexpr int k_max_factor = 1000;

struct Rule {
    std::vector<std::string> tags;  // empty: any tag
    std::vector<std::string> hiers; // empty: any hierarchy
    int factor = 0;
    int klass = 0; // index into the parser's classes
    bool is_default = false;
    int line = 0;
};

bool is_class_name(std::string_view word) {
    if (word.empty()) return false;
    for (char c : word)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return true;
}

// Words of one rule line: blanks and commas separate, '=' is a word of its own.
std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == ',' || c == '\r') {
            ++i;
        } else if (c == '=') {
            words.push_back(line.substr(i, 1));
            ++i;
        } else {
            const std::size_t start = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != ',' && line[i] != '\r' &&
                   line[i] != '=')
                ++i;
            words.push_back(line.substr(start, i - start));
        }
    }
    return words;
}

bool is_name(std::string_view word) {
    if (word.empty()) return false;
    for (char c : word)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

std::string upper(std::string_view word) {
    std::string out(word);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

class RulesParser {
public:
    explicit RulesParser(std::string_view file_name) : m_file(file_name) {}

    std::vector<Rule> parse(std::string_view text) {
        std::size_t pos = 0;
        while (pos <= text.size()) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string_view::npos) end = text.size();
            ++m_line;
            std::string_view line = text.substr(pos, end - pos);
            if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
            parse_line(split_words(line));
            pos = end + 1;
        }
        return std::move(m_rules);
    }

    /// The classes, after parse(): declared, then implied by bare factors.
    std::vector<BillingClass>& classes() { return m_classes; }

    /// Without a default rule, the class of what no rule matches: x2.
    int implied_default_class() {
        for (std::size_t i = 0; i < m_classes.size(); ++i)
            if (m_classes[i].factor == 2) return static_cast<int>(i);
        for (std::size_t i = 0; i < m_classes.size(); ++i)
            if (m_classes[i].name == "origin") {
                m_line = m_class_lines[i];
                error("class 'origin' has factor {}, but with no 'default = CLASS' rule the lines no rule matches "
                      "are billed x2 as 'origin': add a default rule",
                      m_classes[i].factor);
            }
        return add_class("origin", 2);
    }

    /// The class of a bare factor: the first declared class with it, else
    /// the implied one (free, cache, origin or xN), added on first use.
    int class_of_factor(int factor) {
        for (std::size_t i = 0; i < m_classes.size(); ++i)
            if (m_classes[i].factor == factor) return static_cast<int>(i);
        const std::string name = implied_class_name(factor);
        for (const BillingClass& c : m_classes)
            if (c.name == name)
                error("a bare factor {} would be the class '{}', declared with factor {}: name a class", factor, name,
                      c.factor);
        return add_class(name, factor);
    }

private:
    template <typename... Args> [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) {
        fail(exit_code::k_config, "{}:{}: {}", m_file, m_line, fmt::format(format, std::forward<Args>(args)...));
    }

    int add_class(const std::string& name, int factor) {
        if (m_classes.size() >= static_cast<std::size_t>(k_max_classes))
            error("more than {} billing classes", k_max_classes);
        m_classes.push_back({name, factor});
        m_class_lines.push_back(m_line);
        return static_cast<int>(m_classes.size()) - 1;
    }

    // class NAME = FACTOR
    void parse_class(const std::vector<std::string_view>& words) {
        if (words.size() != 4 || words[2] != "=") error("a class is declared as 'class NAME = FACTOR'");
        const std::string_view name = words[1];
        if (!is_class_name(name)) error("'{}' is not a class name (lower case letters, digits, '_' and '-')", name);
        if (name == "unsplit") error("'unsplit' is reserved for usage written before classes were kept");
        for (const BillingClass& c : m_classes)
            if (c.name == name) error("class '{}' declared twice", name);
        add_class(std::string(name), parse_factor(words[3]));
    }

    // The right-hand side of a rule: a class name or a bare factor.
    int parse_price(std::string_view word) {
        if (!word.empty() && ((word[0] >= '0' && word[0] <= '9') || word[0] == '-' || word[0] == '+'))
            return class_of_factor(parse_factor(word));
        for (std::size_t i = 0; i < m_classes.size(); ++i)
            if (m_classes[i].name == word) return static_cast<int>(i);
        error("unknown class '{}': declare it first with 'class {} = FACTOR'", word, word);
    }

    void parse_line(const std::vector<std::string_view>& words) {
        if (words.empty()) return;
        if (words[0] == "class") {
            parse_class(words);
            return;
        }
        if (m_default_line) error("rule after the default rule (line {}) can never match", m_default_line);
        Rule rule;
        rule.line = m_line;
        std::size_t i = 0;
        if (words[0] == "default") {
            rule.is_default = true;
            m_default_line = m_line;
            i = 1;
        } else {
            bool tag_seen = false;
            bool hier_seen = false;
            while (i < words.size() && words[i] != "=") {
                const std::string_view keyword = words[i];
                const bool is_tag = keyword == "tag";
                if (!is_tag && keyword != "hier")
                    error("unexpected '{}': a rule is 'tag NAME... = CLASS', 'hier NAME... = CLASS' or "
                          "'default = CLASS' (CLASS a declared class or a factor), or 'class NAME = FACTOR'",
                          keyword);
                bool& seen = is_tag ? tag_seen : hier_seen;
                if (seen) error("'{}' given twice in one rule; list every name after one '{}'", keyword, keyword);
                seen = true;
                std::vector<std::string>& names = is_tag ? rule.tags : rule.hiers;
                for (++i; i < words.size() && words[i] != "=" && words[i] != "tag" && words[i] != "hier"; ++i) {
                    if (!is_name(words[i]))
                        error("'{}' is not a {} name (letters, digits, '_' and '-')", words[i],
                              is_tag ? "tag" : "hierarchy");
                    std::string scratch;
                    const std::string name = upper(words[i]);
                    // the same normalising as the logged side, so TCP_HIT means HIT
                    names.emplace_back(is_tag ? std::string(normalise_tag(name, scratch))
                                              : std::string(normalise_hierarchy(name)));
                }
                if (names.empty()) error("'{}' needs at least one name", keyword);
            }
            if (!tag_seen && !hier_seen) error("a rule starts with 'tag', 'hier' or 'default'");
        }
        if (i >= words.size() || words[i] != "=") error("missing '= CLASS' at the end of the rule");
        if (i + 1 >= words.size()) error("missing class or factor after '='");
        if (i + 2 < words.size()) error("unexpected '{}' after the class", words[i + 2]);
        rule.klass = parse_price(words[i + 1]);
        rule.factor = m_classes[static_cast<std::size_t>(rule.klass)].factor;
        m_rules.push_back(std::move(rule));
    }

    int parse_factor(std::string_view word) {
        int value = 0;
        // the length first: ten digits would overflow value
        bool ok = !word.empty() && word.size() <= 4;
        for (std::size_t i = 0; ok && i < word.size(); ++i) {
            const char c = word[i];
            if (c < '0' || c > '9') {
                ok = false;
                break;
            }
            value = value * 10 + (c - '0');
        }
        if (!ok || value > k_max_factor) error("factor '{}' is not a whole number from 0 to {}", word, k_max_factor);
        return value;
    }

    std::string_view m_file;
    int m_line = 0;
    int m_default_line = 0;
    std::vector<Rule> m_rules;
    std::vector<BillingClass> m_classes;
    std::vector<int> m_class_lines; ///< where each class was declared or first implied
};

bool contains(const std::vector<std::string>& names, const std::string& name) {
    for (const std::string& n : names)
        if (n == name) return true;
    return false;
}

} // namespace

std::string_view normalise_tag(std::string_view tag, std::string& scratch) {
    // Suffixes first, so that "NONE_NONE_ABORTED" loses "_ABORTED" before
    // "NONE_" is taken for a protocol prefix. Squid appends them in this order.
    for (;;) {
        if (ends_with(tag, "_ABORTED") && tag.size() > 8)
            tag.remove_suffix(8);
        else if (ends_with(tag, "_TIMEDOUT") && tag.size() > 9)
            tag.remove_suffix(9);
        else if (ends_with(tag, "_IGNORED") && tag.size() > 8)
            tag.remove_suffix(8);
        else if (ends_with(tag, "_CF") && tag.size() > 3)
            tag.remove_suffix(3);
        else
            break;
    }
    // "TAG_NONE" is Squid's name for "no tag yet", not a protocol prefix.
    if (equals(tag, "TAG_NONE")) return "NONE";
    if ((starts_with(tag, "TCP_") || starts_with(tag, "UDP_")) && tag.size() > 4)
        tag.remove_prefix(4);
    else if (starts_with(tag, "NONE_") && tag.size() > 5)
        tag.remove_prefix(5);
    if (starts_with(tag, "CF_") && tag.size() > 3) tag.remove_prefix(3);
    // A collapsed-forwarding marker inside the name (not a form Squid writes
    // today, but cheap to accept) is cut out into scratch.
    for (std::size_t i = 1; i + 4 < tag.size(); ++i) {
        if (tag[i] == '_' && tag[i + 1] == 'C' && tag[i + 2] == 'F' && tag[i + 3] == '_') {
            scratch.assign(tag.substr(0, i));
            scratch.append(tag.substr(i + 3));
            return scratch;
        }
    }
    return tag;
}

std::string_view normalise_hierarchy(std::string_view hierarchy) {
    if (starts_with(hierarchy, "TIMEOUT_")) hierarchy.remove_prefix(8);
    if (starts_with(hierarchy, "HIER_")) hierarchy.remove_prefix(5);
    return hierarchy;
}

int BillingRules::NameTable::find(std::string_view name) const {
    if (slots.empty()) return 0;
    const uint64_t hash = name_hash(name);
    const std::size_t mask = slots.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const Slot& slot = slots[i];
        if (slot.id == 0) return 0;
        if (slot.hash == hash && slot.name == name) return slot.id;
    }
}

int BillingRules::NameTable::add(std::string_view name) {
    if (const int id = find(name)) return id;
    if (static_cast<std::size_t>(count + 1) * 2 > slots.size()) {
        std::vector<Slot> old = std::move(slots);
        slots.assign(std::max<std::size_t>(16, old.size() * 2), Slot{});
        for (Slot& slot : old) {
            if (slot.id == 0) continue;
            std::size_t i = slot.hash & (slots.size() - 1);
            while (slots[i].id != 0)
                i = (i + 1) & (slots.size() - 1);
            slots[i] = std::move(slot);
        }
    }
    const uint64_t hash = name_hash(name);
    std::size_t i = hash & (slots.size() - 1);
    while (slots[i].id != 0)
        i = (i + 1) & (slots.size() - 1);
    slots[i] = Slot{std::string(name), hash, ++count};
    return count;
}

BillingRules BillingRules::parse(std::string_view text, std::string_view file_name) {
    RulesParser parser(file_name);
    const std::vector<Rule> rules = parser.parse(text);

    BillingRules out;
    out.m_source = std::string(file_name);
    // Without a default rule, lines no rule matches are billed x2.
    const bool has_default = !rules.empty() && rules.back().is_default;
    const int fallback_class = has_default ? rules.back().klass : parser.implied_default_class();
    out.m_classes = std::move(parser.classes());
    std::vector<std::string> tag_names{""};
    std::vector<std::string> hier_names{""};
    for (const Rule& rule : rules) {
        for (const std::string& tag : rule.tags)
            if (out.m_tags.add(tag) == static_cast<int>(tag_names.size())) tag_names.push_back(tag);
        for (const std::string& hier : rule.hiers)
            if (out.m_hiers.add(hier) == static_cast<int>(hier_names.size())) hier_names.push_back(hier);
    }

    // Row/column 0 is "a name no rule mentions": only rules that accept any
    // tag (or any hierarchy) can match it.
    const std::size_t columns = hier_names.size();
    out.m_table.assign(tag_names.size() * columns, Pricing{2, true, fallback_class});
    for (std::size_t t = 0; t < tag_names.size(); ++t) {
        for (std::size_t h = 0; h < columns; ++h) {
            for (const Rule& rule : rules) {
                const bool tag_ok = rule.tags.empty() || (t != 0 && contains(rule.tags, tag_names[t]));
                const bool hier_ok = rule.hiers.empty() || (h != 0 && contains(rule.hiers, hier_names[h]));
                if (tag_ok && hier_ok) {
                    out.m_table[t * columns + h] = Pricing{rule.factor, rule.is_default, rule.klass};
                    break;
                }
            }
        }
    }
    return out;
}

BillingRules BillingRules::load(const std::string& path) {
    std::string text;
    read_file_chunks(
        path, [&text](std::string_view chunk) { text.append(chunk); }, "billing rules " + path);
    return parse(text, path);
}

BillingRules BillingRules::defaults() {
    static const BillingRules rules = parse(k_default_rules, "built-in defaults");
    return rules;
}

Pricing BillingRules::price(std::string_view raw_tag, std::string_view hierarchy) const {
    std::string scratch; // only written for a tag with "_CF_" inside; no allocation otherwise
    const int t = m_tags.find(normalise_tag(raw_tag, scratch));
    if (m_hiers.count == 0) return m_table[static_cast<std::size_t>(t)];
    const std::size_t columns = static_cast<std::size_t>(m_hiers.count) + 1;
    const int h = m_hiers.find(normalise_hierarchy(hierarchy));
    return m_table[static_cast<std::size_t>(t) * columns + static_cast<std::size_t>(h)];
}

} // namespace wp
