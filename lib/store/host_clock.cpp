#include "store/host_clock.h"

#include <algorithm>
#include <chrono>

namespace wp {

namespace {

constexpr std::int64_t k_ns_per_ms = 1'000'000;
constexpr std::int64_t k_ns_per_s = 1'000'000'000;

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Nearest, halves away from zero.
std::int64_t round_div(std::int64_t x, std::int64_t d) {
    return x >= 0 ? (x + d / 2) / d : -((-x + d / 2) / d);
}

} // namespace

std::string_view clock_command() {
    return R"SH(printf 'wp-clock %s\n' "$(date +%s.%N 2>/dev/null)")SH";
}

std::optional<ClockReading> clock_reading(std::int64_t sent_ns, std::int64_t received_ns, std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    const auto dot = line.find('.');
    const std::string_view seconds = line.substr(0, dot);
    // 12 digits reach the year 33658; more is not a clock.
    if (seconds.empty() || seconds.size() > 12 || !all_digits(seconds) || received_ns < sent_ns) {
        return std::nullopt;
    }
    std::int64_t remote_ns = std::stoll(std::string(seconds)) * k_ns_per_s;
    std::int64_t resolution_ns = 0;
    const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : line.substr(dot + 1);
    if (!fraction.empty() && all_digits(fraction)) {
        std::string nine(fraction.substr(0, 9));
        nine.resize(9, '0');
        remote_ns += std::stoll(nine);
    } else {
        // Whole seconds ("%N" left as is, or nothing after the dot): the
        // host's time is somewhere in that second.
        remote_ns += k_ns_per_s / 2;
        resolution_ns = k_ns_per_s / 2;
    }
    const std::int64_t half_trip = (received_ns - sent_ns) / 2;
    const std::int64_t midpoint = sent_ns + half_trip;
    const std::int64_t uncertainty_ns = received_ns - midpoint + resolution_ns;
    ClockReading r;
    r.offset_ms = round_div(remote_ns - midpoint, k_ns_per_ms);
    r.uncertainty_ms = (uncertainty_ns + k_ns_per_ms - 1) / k_ns_per_ms;
    r.measured_at = received_ns / k_ns_per_s;
    return r;
}

std::int64_t wall_clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

ClockLine::ClockLine(std::function<void(std::string_view)> rest, std::function<std::int64_t()> now_ns)
    : m_rest(std::move(rest)), m_now_ns(std::move(now_ns)) {}

void ClockLine::sent() {
    m_sent_ns = m_now_ns();
}

void ClockLine::pass(std::string_view data) {
    if (!data.empty() && m_rest) {
        m_rest(data);
    }
}

void ClockLine::feed(std::string_view data) {
    static constexpr std::string_view k_marker = "wp-clock ";
    // Our line is short: a longer one is kept no further (and read as no time).
    static constexpr std::size_t k_longest = 64;
    // What a login shell may print before it.
    static constexpr std::size_t k_greeting = 64 * 1024;
    while (!m_line_done && !data.empty()) {
        const auto nl = data.find('\n');
        const std::string_view part = data.substr(0, nl);
        if (m_clock_line) {
            m_line.append(part.substr(0, k_longest - std::min(k_longest, m_line.size())));
        } else if (m_other_line) {
            pass(data.substr(0, nl == std::string_view::npos ? data.size() : nl + 1));
            m_passed += part.size() + 1;
        } else {
            // The line's start, held while it may still be the marker.
            const std::size_t take = std::min(part.size(), k_marker.size() - m_held.size());
            m_held.append(part.substr(0, take));
            if (m_held == k_marker) {
                m_clock_line = true;
                m_held.clear();
                m_line.append(part.substr(take, k_longest));
            } else if (!k_marker.starts_with(m_held) || nl != std::string_view::npos) {
                m_other_line = true;
                pass(m_held);
                m_passed += m_held.size();
                m_held.clear();
                pass(data.substr(take, nl == std::string_view::npos ? std::string_view::npos : nl + 1 - take));
                m_passed += part.size() - take + 1;
            }
        }
        if (nl == std::string_view::npos) {
            return;
        }
        data.remove_prefix(nl + 1);
        if (m_clock_line) {
            m_line_done = true;
            if (m_line.size() < k_longest) {
                m_reading = clock_reading(m_sent_ns, m_now_ns(), m_line);
            }
        }
        m_other_line = m_clock_line = false;
        if (m_passed > k_greeting) {
            m_line_done = true;
        }
    }
    pass(data);
}

void ClockLine::finish() {
    pass(m_held);
    m_held.clear();
}

} // namespace wp
