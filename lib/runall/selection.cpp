#include "runall/selection.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/text.h"

namespace wp {

namespace {

std::vector<std::string_view> split_words(std::string_view line, std::string_view separators) {
    std::vector<std::string_view> words;
    for (;;) {
        const auto start = line.find_first_not_of(separators);
        if (start == std::string_view::npos) {
            return words;
        }
        line.remove_prefix(start);
        const auto end = line.find_first_of(separators);
        words.push_back(line.substr(0, end));
        if (end == std::string_view::npos) {
            return words;
        }
        line.remove_prefix(end);
    }
}

} // namespace

StatusFile parse_status_file(std::string_view text) {
    StatusFile status;
    for_each_line(text, [&](int number, std::string_view line) {
        const auto words = split_words(line, " \t\r");
        if (words.empty() || words[0].front() == '#') {
            return;
        }
        const std::string_view state = words.size() >= 2 ? words[1] : std::string_view();
        if (state.empty() || state.size() > 3 ||
            !std::all_of(state.begin(), state.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            status.bad_lines.push_back(number);
            return;
        }
        status.states[std::string(words[0])] = std::stoi(std::string(state));
    });
    return status;
}

std::string down_reason(std::string_view host, const StatusFile& status, std::int64_t consecutive_failures,
                        int down_after) {
    if (const auto it = status.states.find(host); it != status.states.end() && it->second == 2) {
        return "state 2 in the status file";
    }
    if (down_after > 0 && consecutive_failures >= down_after) {
        return fmt::format("{} consecutive failures", consecutive_failures);
    }
    return {};
}

StatusFile load_status_file(const std::string& path) {
    if (path.empty()) {
        return {};
    }
    std::string text;
    try {
        text = read_file(path);
    } catch (const Error& e) {
        // Monitoring may not have written it yet: nobody is down by it then.
        warn("{}; no host is taken as down by it", e.what());
        return {};
    }
    StatusFile status = parse_status_file(text);
    if (!status.bad_lines.empty()) {
        warn("{}: {} line{} not in the form 'host state' ignored (first: line {})", path, status.bad_lines.size(),
             status.bad_lines.size() == 1 ? "" : "s", status.bad_lines.front());
    }
    return status;
}

} // namespace wp
