#include "base/units.h"

#include <cmath>
#include <iterator>

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

} // namespace wp
