#include "base/host_range.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

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
    // Names of one shape (the same text between their numbers) form a
    // family; each number is a dimension folded in turn, the last first.
    std::map<std::vector<std::string>, std::vector<std::vector<std::string>>> families;
    std::set<std::string> whole; // names without a number to fold on
    for (const auto& name : names) {
        std::vector<std::string> texts{""};
        std::vector<std::string> numbers;
        bool too_long = false;
        for (std::size_t i = 0; i < name.size();) {
            if (!is_digit(name[i])) {
                texts.back() += name[i++];
                continue;
            }
            std::size_t end = i;
            while (end < name.size() && is_digit(name[end])) {
                ++end;
            }
            numbers.push_back(name.substr(i, end - i));
            too_long = too_long || end - i > k_max_digits;
            texts.emplace_back();
            i = end;
        }
        if (numbers.empty() || too_long) {
            whole.insert(name);
        } else {
            families[texts].push_back(std::move(numbers));
        }
    }
    std::set<std::string> folded(whole.begin(), whole.end());
    for (const auto& [texts, members] : families) {
        const std::size_t dims = texts.size() - 1;
        // A number's padding: 07 is width 2; 10 takes the width of a padded
        // number of its length in its dimension (ams[01-10]), else none
        // (ams[1-10]); 01 and 1 never share brackets.
        std::vector<std::set<std::size_t>> padded_widths(dims);
        for (const auto& numbers : members) {
            for (std::size_t d = 0; d < dims; ++d) {
                if (numbers[d].size() > 1 && numbers[d][0] == '0') {
                    padded_widths[d].insert(numbers[d].size());
                }
            }
        }
        struct Dim {
            std::set<std::uint64_t> values;
            std::size_t width = 0;
        };
        using Item = std::vector<Dim>;
        std::vector<Item> items;
        for (const auto& numbers : members) {
            Item item(dims);
            for (std::size_t d = 0; d < dims; ++d) {
                item[d].values.insert(to_number(numbers[d]));
                item[d].width = padded_widths[d].contains(numbers[d].size()) ? numbers[d].size() : 0;
            }
            items.push_back(std::move(item));
        }
        const auto render = [](const Dim& dim) {
            if (dim.values.size() == 1) {
                return padded(*dim.values.begin(), dim.width);
            }
            std::vector<std::string> ranges;
            for (auto it = dim.values.begin(); it != dim.values.end();) {
                const std::uint64_t first = *it;
                std::uint64_t last = first;
                while (++it != dim.values.end() && *it == last + 1) {
                    last = *it;
                }
                ranges.push_back(first == last ? padded(first, dim.width)
                                               : padded(first, dim.width) + "-" + padded(last, dim.width));
            }
            return fmt::format("[{}]", fmt::join(ranges, ","));
        };
        // Items equal in every other dimension (and in this one's padding)
        // merge their values of dimension d.
        const auto merge = [&](std::vector<Item> in, std::size_t d) {
            std::map<std::vector<std::string>, Item> merged;
            for (auto& item : in) {
                std::vector<std::string> key;
                for (std::size_t k = 0; k < dims; ++k) {
                    key.push_back(k == d ? std::to_string(item[k].width)
                                         : render(item[k]) + "/" + std::to_string(item[k].width));
                }
                auto [it, fresh] = merged.try_emplace(std::move(key), item);
                if (!fresh) {
                    it->second[d].values.insert(item[d].values.begin(), item[d].values.end());
                }
            }
            std::vector<Item> out;
            for (auto& [key, item] : merged) {
                out.push_back(std::move(item));
            }
            return out;
        };
        const auto texts_of = [&](const std::vector<Item>& done) {
            std::vector<std::string> out;
            for (const auto& item : done) {
                std::string text = texts[0];
                for (std::size_t d = 0; d < dims; ++d) {
                    text += render(item[d]) + texts[d + 1];
                }
                out.push_back(std::move(text));
            }
            return out;
        };
        // The last number first, then the first number first: the shorter
        // result wins (web[1-3].dc3,web1.dc4 rather than web1.dc[3-4],web[2-3].dc3).
        std::vector<Item> backward = items;
        for (std::size_t d = dims; d-- > 0;) {
            backward = merge(std::move(backward), d);
        }
        std::vector<Item> forward = std::move(items);
        for (std::size_t d = 0; d < dims; ++d) {
            forward = merge(std::move(forward), d);
        }
        auto best = texts_of(backward);
        auto other = texts_of(forward);
        const auto length = [](const std::vector<std::string>& v) {
            std::size_t n = v.size();
            for (const auto& t : v) {
                n += t.size();
            }
            return n;
        };
        if (length(other) < length(best)) {
            best = std::move(other);
        }
        folded.insert(best.begin(), best.end());
    }
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
