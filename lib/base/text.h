#pragma once
// Walking a text held in memory (a hosts file, a status file) line by line;
// text made valid UTF-8.

#include <cstddef>
#include <string>
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

/// The length of the valid UTF-8 sequence at the start of s, or 0.
inline std::size_t utf8_sequence_length(std::string_view s) {
    const auto b = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto tail = [&](std::size_t n) {
        for (std::size_t i = 1; i < n; ++i) {
            if (i >= s.size() || (b(i) & 0xC0) != 0x80) {
                return false;
            }
        }
        return true;
    };
    const unsigned char c = b(0);
    if (c < 0x80) {
        return 1;
    }
    std::size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
    }
    if (n == 0 || !tail(n)) {
        return 0;
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F) || (c == 0xF0 && b(1) < 0x90) ||
        (c == 0xF4 && b(1) > 0x8F)) {
        return 0;
    }
    return n;
}

/// text with every byte that is not part of valid UTF-8 (and NUL) written
/// as \xNN: what PostgreSQL's text can hold, the same for the same bytes.
inline std::string utf8_with_escapes(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        const std::size_t n = text[0] == '\0' ? 0 : utf8_sequence_length(text);
        if (n == 0) {
            static constexpr char k_hex[] = "0123456789abcdef";
            const auto c = static_cast<unsigned char>(text[0]);
            out += "\\x";
            out += k_hex[c >> 4];
            out += k_hex[c & 0xF];
            text.remove_prefix(1);
        } else {
            out.append(text.substr(0, n));
            text.remove_prefix(n);
        }
    }
    return out;
}

} // namespace wp
