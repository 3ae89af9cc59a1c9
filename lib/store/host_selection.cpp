#include "store/host_selection.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "base/error.h"
#include "base/host_range.h"
#include "base/text.h"

namespace wp {

namespace {

// The expanded words of list, or why not.
std::string expand_words(std::string_view list, std::vector<std::string>& out) {
    std::vector<std::string> words;
    if (auto why = expand_host_list(list, words); !why.empty()) {
        return why;
    }
    for (const auto& w : words) {
        if (auto why = check_host_word(w); !why.empty()) {
            return "host name " + why;
        }
    }
    out.insert(out.end(), words.begin(), words.end());
    return {};
}

// Words no server answers to, in order, each once (a set beside the list:
// 100000 names from one range must not take quadratic time).
struct UnknownWords {
    std::vector<std::string> list;
    std::set<std::string, std::less<>> seen;
    void add(const std::string& word) {
        if (seen.insert(word).second) {
            list.push_back(word);
        }
    }
};

// The inventory names the words stand for, in order; words that stand for
// none go to unknown. Names that only a glob matched go to globbed too.
std::vector<std::string> resolve_words(const std::vector<std::string>& words,
                                       const std::vector<std::string>& known_names,
                                       const std::set<std::string, std::less<>>& known, UnknownWords& unknown,
                                       std::set<std::string, std::less<>>& globbed) {
    std::vector<std::string> names;
    std::set<std::string, std::less<>> by_name;
    for (const auto& word : words) {
        if (!is_host_glob(word)) {
            if (known.contains(word)) {
                names.push_back(word);
                by_name.insert(word);
            } else {
                unknown.add(word);
            }
            continue;
        }
        const auto before = names.size();
        for (const auto& name : known_names) {
            if (host_glob_matches(word, name)) {
                names.push_back(name);
                globbed.insert(name);
            }
        }
        if (names.size() == before) {
            unknown.add(word);
        }
    }
    for (const auto& name : by_name) {
        globbed.erase(name);
    }
    return names;
}

// The words no server answers to, for one line: a few as given; many names
// folded into ranges (x[0-99999], not 100000 names), cut at 200 characters.
std::string unknown_words_text(const std::vector<std::string>& unknown) {
    constexpr std::size_t k_listed = 5;
    constexpr std::size_t k_longest = 200;
    if (unknown.size() <= k_listed) {
        return fmt::format("{}", fmt::join(unknown, ", "));
    }
    std::vector<std::string> names;
    std::vector<std::string> globs;
    for (const auto& w : unknown) {
        (is_host_glob(w) ? globs : names).push_back(w);
    }
    std::string text = fold_host_names(names);
    for (const auto& g : globs) {
        text += (text.empty() ? "" : ",") + g;
    }
    if (text.size() > k_longest) {
        const auto cut = text.rfind(',', k_longest);
        text.resize(cut == std::string::npos ? k_longest : cut);
        text += fmt::format(",… ({} names in all)", unknown.size());
    }
    return text;
}

} // namespace

std::string check_host_word(std::string_view word) {
    if (!is_host_glob(word)) {
        return check_server_name(word);
    }
    // A glob is checked as the name it would be with its wildcards as letters.
    std::string as_name(word);
    std::replace_if(
        as_name.begin(), as_name.end(), [](char c) { return c == '*' || c == '?'; }, 'x');
    if (check_server_name(as_name).empty()) {
        return {};
    }
    return fmt::format("'{}' may contain only letters, digits, '.', '_', '-' and the wildcards '*' and '?'", word);
}

std::vector<std::string> parse_host_argument(std::string_view list, std::string_view what) {
    std::vector<std::string> words;
    if (auto why = expand_words(list, words); !why.empty()) {
        fail(exit_code::k_usage, "{}: {}", what, why);
    }
    return words;
}

std::vector<std::string> parse_host_names(std::string_view text, std::string_view source) {
    std::vector<std::string> names;
    for_each_line(text, [&](int number, std::string_view line) {
        line = line.substr(0, line.find('#'));
        for (;;) {
            const auto start = line.find_first_not_of(" \t\r");
            if (start == std::string_view::npos) {
                break;
            }
            line.remove_prefix(start);
            const auto end = line.find_first_of(" \t\r");
            if (auto why = expand_words(line.substr(0, end), names); !why.empty()) {
                fail(exit_code::k_data, "{}:{}: {}", source, number, why);
            }
            if (names.size() > k_max_expanded_hosts) {
                fail(exit_code::k_data, "{}:{}: more than {} names", source, number, k_max_expanded_hosts);
            }
            if (end == std::string_view::npos) {
                break;
            }
            line.remove_prefix(end);
        }
    });
    return names;
}

std::vector<Server> select_hosts(const SelectionInput& in) {
    const std::set<std::string, std::less<>> known(in.known.begin(), in.known.end());
    UnknownWords unknown;
    std::set<std::string, std::less<>> globbed;
    std::set<std::string, std::less<>> excluded_globbed;
    const auto named = resolve_words(in.named, in.known, known, unknown, globbed);
    const auto excluded_names = resolve_words(in.excluded, in.known, known, unknown, excluded_globbed);
    if (!unknown.list.empty()) {
        fail(exit_code::k_no_input, "no server named {} in the inventory", unknown_words_text(unknown.list));
    }
    const std::set<std::string, std::less<>> excluded(excluded_names.begin(), excluded_names.end());
    const auto in_default_set = [&in](const Server& s) {
        return (s.active || in.default_inactive) && (!s.retired_at || in.default_retired);
    };
    // A glob that matches servers, none of them of the default set, would
    // select nothing without a word: say so, as for a glob matching none.
    std::vector<std::string> left_out;
    for (const auto& word : in.named) {
        if (!is_host_glob(word)) {
            continue;
        }
        bool taken = false;
        std::vector<std::string> others;
        for (const auto& s : in.matching) {
            if (host_glob_matches(word, s.name)) {
                taken = taken || in_default_set(s);
                others.push_back(s.name);
            }
        }
        if (!taken && !others.empty()) {
            left_out.push_back(fmt::format("{} ({})", word, fold_host_names(others)));
        }
    }
    if (!left_out.empty()) {
        fail(exit_code::k_no_input,
             "{} matches only inactive or retired servers, which are taken by their names or a range only",
             fmt::join(left_out, ", "));
    }
    std::vector<Server> out;
    if (in.named.empty()) {
        for (const auto& s : in.matching) {
            if (in_default_set(s) && !excluded.contains(s.name)) {
                out.push_back(s);
            }
        }
        return out;
    }
    for (const auto& name : named) {
        const auto it =
            std::find_if(in.matching.begin(), in.matching.end(), [&](const Server& s) { return s.name == name; });
        const bool taken = std::any_of(out.begin(), out.end(), [&](const Server& s) { return s.name == name; });
        // A glob is a pattern over the servers a tool works on by default:
        // `ams*` never reaches a retired ams0 (or an inactive one, where the
        // tool leaves those out), which only its name or range does.
        const bool pattern_only = globbed.contains(name) && it != in.matching.end() && !in_default_set(*it);
        if (it != in.matching.end() && !taken && !excluded.contains(name) && !pattern_only) {
            out.push_back(*it);
        }
    }
    return out;
}

} // namespace wp
