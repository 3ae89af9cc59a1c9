#pragma once
// Sizes in bytes written for people.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wp {

/// Units of human-readable sizes.
enum class SizeUnits { iec, si };

/// When a size moves up to the next unit.
enum class SizeSteps {
    /// Once it would print as 1024.0 (1000.0 in si), rounding included, up to
    /// EiB (EB): 1048575 B is "1.0 MiB". What reports show.
    rounded,
    /// Once it reaches 1024 (1000) before rounding, up to TiB (TB) at most:
    /// 1048575 B is "1024.0 KiB", 2 PiB is "2048.0 TiB". wp-fetchlogs'
    /// progress line has always counted this way.
    unrounded_up_to_tera,
};

/// `512 B`, `1.5 KiB`, `3.0 GiB` (iec) or `1.5 kB`, `3.0 GB` (si): whole bytes
/// below one unit, else one decimal. A negative size is the positive one
/// with a leading '-'.
std::string human_size(std::int64_t bytes, SizeUnits units, SizeSteps steps = SizeSteps::rounded);

/// A size written by a person: a number (digits, optionally a fraction) and
/// an optional unit, with or without a space between: B, decimal kB MB GB TB
/// PB (powers of 1000) or binary KiB MiB GiB TiB PiB (powers of 1024), the
/// case of the letters free (KB is kB). A bare number is bytes; a fraction
/// is rounded to the nearest byte. A lone K, M, G, T or P is refused as
/// ambiguous. nullopt with why set when text is not such a size or is
/// beyond 2^63-1 bytes.
std::optional<std::int64_t> parse_size(std::string_view text, std::string& why);

} // namespace wp
