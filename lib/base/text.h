#pragma once
// Walking a text held in memory (a hosts file, a status file) line by line.

#include <string_view>

namespace wp {

/// Calls f(line_number, line) for each line of text, numbered from 1, without
/// its newline; a last line without one counts too.
template <typename F> void for_each_line(std::string_view text, F&& f) {
    int number = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        ++number;
        f(number, text.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        text.remove_prefix(nl + 1);
    }
}

} // namespace wp
