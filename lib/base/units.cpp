#include "base/units.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>

#include <fmt/format.h>

namespace wp {

std::string human_size(std::int64_t bytes, SizeUnits units, SizeSteps steps) {
    static constexpr const char* k_iec[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    static constexpr const char* k_si[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    const auto& names = units == SizeUnits::iec ? k_iec : k_si;
    const double base = units == SizeUnits::iec ? 1024.0 : 1000.0;
    if (bytes < 0) {
        // The magnitude of INT64_MIN is not an int64_t; its size prints the
        // same as one byte less.
        return "-" + human_size(bytes == INT64_MIN ? INT64_MAX : -bytes, units, steps);
    }
    if (static_cast<double>(bytes) < base) {
        return fmt::format("{} B", bytes);
    }
    const bool rounded = steps == SizeSteps::rounded;
    const std::size_t last_unit = rounded ? std::size(k_iec) - 1 : 4;
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    // Rounded: move up while the value would print as "1024.0".
    while (unit < last_unit && (rounded ? std::round(value * 10.0) / 10.0 : value) >= base) {
        value /= base;
        ++unit;
    }
    return fmt::format("{:.1f} {}", value, names[unit]);
}

namespace {

// GCC's 128-bit integer, marked as the extension it is (-Wpedantic).
__extension__ using Int128 = __int128;

struct SizeUnit {
    std::string_view name;
    std::int64_t bytes;
};

constexpr std::array<SizeUnit, 11> k_size_units = {{{"b", 1},
                                                    {"kb", 1000},
                                                    {"mb", 1000'000},
                                                    {"gb", 1000'000'000},
                                                    {"tb", 1000'000'000'000},
                                                    {"pb", 1000'000'000'000'000},
                                                    {"kib", std::int64_t{1} << 10},
                                                    {"mib", std::int64_t{1} << 20},
                                                    {"gib", std::int64_t{1} << 30},
                                                    {"tib", std::int64_t{1} << 40},
                                                    {"pib", std::int64_t{1} << 50}}};

std::string lower(std::string_view s) {
    std::string out;
    for (char c : s) {
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

} // namespace

std::optional<std::int64_t> parse_size(std::string_view text, std::string& why) {
    const auto not_a_size = [&](std::string_view detail) -> std::optional<std::int64_t> {
        why = fmt::format("'{}' is not a size: {}", text, detail);
        return std::nullopt;
    };
    constexpr std::string_view k_forms = "a number and B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB";
    std::size_t i = 0;
    std::string whole;
    std::string fraction;
    while (i < text.size() && is_digit(text[i])) {
        whole += text[i++];
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && is_digit(text[i])) {
            fraction += text[i++];
        }
        if (fraction.empty()) {
            return not_a_size(fmt::format("no digit after the point; expected {}", k_forms));
        }
    }
    if (whole.empty() && fraction.empty()) {
        return not_a_size(fmt::format("expected {}", k_forms));
    }
    const std::string_view number = text.substr(0, i);
    if (i < text.size() && text[i] == ' ') {
        ++i;
    }
    const std::string unit = lower(text.substr(i));
    std::int64_t multiplier = 1;
    if (!unit.empty()) {
        const auto* found =
            std::find_if(k_size_units.begin(), k_size_units.end(), [&](const SizeUnit& u) { return u.name == unit; });
        if (found == k_size_units.end()) {
            if (unit.size() == 1 && std::string_view("kmgtp").find(unit[0]) != std::string_view::npos) {
                const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
                return not_a_size(fmt::format("'{}' alone is ambiguous: write {}{}B for powers of 1000 or {}{}iB for "
                                              "powers of 1024",
                                              text.substr(i), number, u == 'K' ? 'k' : u, number, u));
            }
            return not_a_size(fmt::format("unknown unit '{}'; expected {}", text.substr(i), k_forms));
        }
        multiplier = found->bytes;
    }
    // Exact: the whole part times the unit, plus the fraction of the unit
    // rounded to the nearest byte, in 128 bits so that no digit is lost.
    constexpr auto k_max = static_cast<Int128>(std::numeric_limits<std::int64_t>::max());
    Int128 bytes = 0;
    for (char c : whole) {
        bytes = bytes * 10 + (c - '0');
        if (bytes > k_max) {
            why = fmt::format("'{}' is too large: at most {} bytes", text, std::numeric_limits<std::int64_t>::max());
            return std::nullopt;
        }
    }
    bytes *= multiplier;
    fraction = fraction.substr(0, 18); // beyond 10^-18 of a PiB is below a byte
    Int128 numerator = 0;
    Int128 denominator = 1;
    for (char c : fraction) {
        numerator = numerator * 10 + (c - '0');
        denominator *= 10;
    }
    bytes += (numerator * multiplier * 2 + denominator) / (denominator * 2);
    if (bytes > k_max) {
        why = fmt::format("'{}' is too large: at most {} bytes", text, std::numeric_limits<std::int64_t>::max());
        return std::nullopt;
    }
    return static_cast<std::int64_t>(bytes);
}

} // namespace wp
