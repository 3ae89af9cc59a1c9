#include "base/host_range.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace wp {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

// Numbers of more digits than this are not ranges we expand or fold.
constexpr std::size_t k_max_digits = 18;

std::uint64_t to_number(std::string_view digits) {
    std::uint64_t n = 0;
    for (const char c : digits) {
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

std::string padded(std::uint64_t n, std::size_t width) {
    return fmt::format("{:0{}}", n, width);
}

// The numbers one bracket group stands for ("1-3,7" → 1 2 3 7), or why not.
std::string expand_brackets(std::string_view body, std::vector<std::string>& out) {
    if (body.empty()) {
        return "empty brackets";
    }
    const std::string_view whole = body;
    for (;;) {
        const auto comma = body.find(',');
        const std::string_view piece = body.substr(0, comma);
        std::string_view low = piece;
        std::string_view high;
        std::string_view step = "1";
        if (const auto slash = piece.find('/'); slash != std::string_view::npos) {
            step = piece.substr(slash + 1);
            low = piece.substr(0, slash);
        }
        if (const auto dash = low.find('-'); dash != std::string_view::npos) {
            high = low.substr(dash + 1);
            low = low.substr(0, dash);
        } else if (piece.find('/') != std::string_view::npos) {
            return fmt::format("'{}' has a step but no range", piece);
        } else {
            high = low;
        }
        if (!all_digits(low) || !all_digits(high) || !all_digits(step)) {
            return fmt::format("'[{}]' is not a numeric range (brackets hold numbers and ranges only, e.g. [1-4,7])",
                               whole);
        }
        if (low.size() > k_max_digits || high.size() > k_max_digits || step.size() > k_max_digits) {
            return fmt::format("'{}' has too many digits", piece);
        }
        const std::uint64_t from = to_number(low);
        const std::uint64_t to = to_number(high);
        const std::uint64_t by = to_number(step);
        if (to < from) {
            return fmt::format("range {} runs backwards", piece);
        }
        if (by == 0) {
            return fmt::format("range {} has a step of 0", piece);
        }
        if ((to - from) / by >= k_max_expanded_hosts) {
            return fmt::format("range {} is more than {} names", piece, k_max_expanded_hosts);
        }
        // The lower bound's width is the padding: [01-10] is 01 … 10.
        const std::size_t width = low.size() > 1 && low[0] == '0' ? low.size() : 0;
        for (std::uint64_t n = from; n <= to; n += by) {
            out.push_back(padded(n, width));
            if (to - n < by) {
                break;
            }
        }
        if (comma == std::string_view::npos) {
            return {};
        }
        body.remove_prefix(comma + 1);
    }
}

// One item of a list (no top-level comma) into names.
std::string expand_item(std::string_view item, std::vector<std::string>& out) {
    // The item as alternating parts: text, the numbers of a group, text, …
    std::vector<std::vector<std::string>> parts;
    std::size_t count = 1;
    std::size_t i = 0;
    while (i < item.size()) {
        const auto open = item.find_first_of("[]", i);
        parts.push_back({std::string(item.substr(i, open - i))});
        if (open == std::string_view::npos) {
            break;
        }
        if (item[open] == ']') {
            return fmt::format("'{}': ']' without '['", item);
        }
        const auto close = item.find_first_of("[]", open + 1);
        if (close == std::string_view::npos || item[close] == '[') {
            return fmt::format("'{}': '[' without ']'", item);
        }
        std::vector<std::string> numbers;
        if (auto why = expand_brackets(item.substr(open + 1, close - open - 1), numbers); !why.empty()) {
            return fmt::format("'{}': {}", item, why);
        }
        count *= numbers.size();
        if (count > k_max_expanded_hosts) {
            return fmt::format("'{}' is more than {} names", item, k_max_expanded_hosts);
        }
        parts.push_back(std::move(numbers));
        i = close + 1;
    }
    if (out.size() + count > k_max_expanded_hosts) {
        return fmt::format("more than {} names", k_max_expanded_hosts);
    }
    // The product, the first group varying slowest (as nodeset -e lists it).
    std::vector<std::size_t> at(parts.size(), 0);
    for (;;) {
        std::string name;
        for (std::size_t p = 0; p < parts.size(); ++p) {
            name += parts[p][at[p]];
        }
        out.push_back(std::move(name));
        std::size_t p = parts.size();
        while (p > 0) {
            --p;
            if (++at[p] < parts[p].size()) {
                break;
            }
            at[p] = 0;
            if (p == 0) {
                return {};
            }
        }
    }
}

} // namespace

std::vector<std::string> split_host_list(std::string_view list) {
    std::vector<std::string> items;
    int depth = 0;
    std::string item;
    for (const char c : list) {
        if (c == ',' && depth == 0) {
            if (!item.empty()) {
                items.push_back(std::move(item));
            }
            item.clear();
            continue;
        }
        depth += c == '[' ? 1 : c == ']' && depth > 0 ? -1 : 0;
        item += c;
    }
    if (!item.empty()) {
        items.push_back(std::move(item));
    }
    return items;
}

std::string expand_host_list(std::string_view list, std::vector<std::string>& out) {
    if (list.find('!') != std::string_view::npos) {
        return fmt::format("'{}': '!' (set difference) is not supported; exclude names with -x", list);
    }
    const std::size_t before = out.size();
    for (const auto& item : split_host_list(list)) {
        if (auto why = expand_item(item, out); !why.empty()) {
            out.resize(before);
            return why;
        }
    }
    return {};
}

std::string fold_host_names(const std::vector<std::string>& names) {
    // (prefix, suffix, padding width or 0) → the numbers between them.
    using Key = std::tuple<std::string, std::string, std::size_t>;
    std::map<std::pair<std::string, std::string>, std::set<std::string>> by_pattern;
    std::set<std::string> whole; // names without a number to fold on
    for (const auto& name : names) {
        const auto end = name.find_last_of("0123456789");
        if (end == std::string::npos) {
            whole.insert(name);
            continue;
        }
        const auto begin = name.find_last_not_of("0123456789", end);
        const std::size_t start = begin == std::string::npos ? 0 : begin + 1;
        if (end + 1 - start > k_max_digits) {
            whole.insert(name);
            continue;
        }
        by_pattern[{name.substr(0, start), name.substr(end + 1)}].insert(name.substr(start, end + 1 - start));
    }
    std::map<Key, std::set<std::uint64_t>> groups;
    for (const auto& [pattern, numbers] : by_pattern) {
        std::set<std::size_t> widths; // of zero-padded numbers: 07 is width 2
        for (const auto& n : numbers) {
            if (n.size() > 1 && n[0] == '0') {
                widths.insert(n.size());
            }
        }
        for (const auto& n : numbers) {
            // 10 folds with 01 (ams[01-10]) and with 1 (ams[1-10]); 01 with 1 never.
            const std::size_t width = widths.contains(n.size()) ? n.size() : 0;
            groups[{pattern.first, pattern.second, width}].insert(to_number(n));
        }
    }
    std::vector<std::string> folded(whole.begin(), whole.end());
    for (const auto& [key, numbers] : groups) {
        const auto& [prefix, suffix, width] = key;
        if (numbers.size() == 1) {
            folded.push_back(prefix + padded(*numbers.begin(), width) + suffix);
            continue;
        }
        std::vector<std::string> ranges;
        for (auto it = numbers.begin(); it != numbers.end();) {
            const std::uint64_t first = *it;
            std::uint64_t last = first;
            while (++it != numbers.end() && *it == last + 1) {
                last = *it;
            }
            ranges.push_back(first == last ? padded(first, width) : padded(first, width) + "-" + padded(last, width));
        }
        folded.push_back(fmt::format("{}[{}]{}", prefix, fmt::join(ranges, ","), suffix));
    }
    std::sort(folded.begin(), folded.end());
    return fmt::format("{}", fmt::join(folded, ","));
}

bool is_host_glob(std::string_view word) {
    return word.find_first_of("*?") != std::string_view::npos;
}

bool host_glob_matches(std::string_view glob, std::string_view name) {
    // Greedy with one backtrack point: the last '*' seen.
    std::size_t g = 0;
    std::size_t n = 0;
    std::size_t star = std::string_view::npos;
    std::size_t resume = 0;
    while (n < name.size()) {
        if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
            ++g;
            ++n;
        } else if (g < glob.size() && glob[g] == '*') {
            star = g++;
            resume = n;
        } else if (star != std::string_view::npos) {
            g = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (g < glob.size() && glob[g] == '*') {
        ++g;
    }
    return g == glob.size();
}

} // namespace wp
