#include "base/progress.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/units.h"

namespace wp {

namespace {

// The progress line's sizes: the unit moves up only once the value reaches
// 1024 of it, as the line always showed them.
std::string human_bytes(std::uint64_t n) {
    return human_size(static_cast<std::int64_t>(std::min<std::uint64_t>(n, INT64_MAX)), SizeUnits::iec,
                      SizeSteps::unrounded_up_to_tera);
}

} // namespace

void ByteRate::sample(Clock::time_point now, std::uint64_t total) {
    if (total == 0) {
        return;
    }
    m_samples.emplace_back(now, total);
    while (now - m_samples.front().first > k_span) {
        m_samples.pop_front();
    }
}

std::optional<std::uint64_t> ByteRate::per_second(Clock::time_point now, std::uint64_t total) const {
    // Under a second of samples says more about the last burst than the rate.
    if (m_samples.empty() || now - m_samples.front().first < k_span / 2) {
        return std::nullopt;
    }
    const double seconds = std::chrono::duration<double>(now - m_samples.front().first).count();
    return static_cast<std::uint64_t>(static_cast<double>(total - m_samples.front().second) / seconds);
}

std::string progress_text(std::string_view program, std::size_t done, std::size_t hosts, std::size_t files,
                          std::uint64_t bytes, std::optional<std::uint64_t> rate) {
    return fmt::format("{}: {}/{} hosts, {} file{}, {}{}", program, done, hosts, files, files == 1 ? "" : "s",
                       human_bytes(bytes), rate ? fmt::format(", {}/s", human_bytes(*rate)) : std::string());
}

Progress::Progress(std::size_t hosts, bool enabled) : m_hosts(hosts), m_enabled(enabled) {
    if (m_enabled) {
        m_clock = std::thread([this] { tick(); });
    }
}

Progress::~Progress() {
    finish();
}

void Progress::add_bytes(std::uint64_t n) {
    std::lock_guard lock(m_mutex);
    m_bytes += n;
    const auto now = Clock::now();
    if (now - m_drawn >= std::chrono::milliseconds(200)) {
        draw(now);
    }
}

void Progress::host_done(std::size_t files) {
    std::lock_guard lock(m_mutex);
    ++m_done;
    m_files += files;
    draw(Clock::now());
}

void Progress::warning(const std::string& message) {
    std::lock_guard lock(m_mutex);
    clear();
    warn_message(message);
    draw(Clock::now());
}

void Progress::finish() {
    {
        std::lock_guard lock(m_mutex);
        m_finished = true;
        clear();
    }
    m_tick.notify_all();
    if (m_clock.joinable()) {
        m_clock.join();
    }
}

void Progress::tick() {
    std::unique_lock lock(m_mutex);
    while (!m_tick.wait_for(lock, std::chrono::milliseconds(500), [&] { return m_finished; })) {
        draw(Clock::now());
    }
}

void Progress::draw(Clock::time_point now) {
    if (!m_enabled || m_finished) {
        return;
    }
    m_drawn = now;
    m_rate.sample(now, m_bytes);
    fmt::print(stderr, "\r{}\033[K",
               progress_text(program_name(), m_done, m_hosts, m_files, m_bytes, m_rate.per_second(now, m_bytes)));
    std::fflush(stderr);
    m_shown = true;
}

void Progress::clear() {
    if (m_shown) {
        fmt::print(stderr, "\r\033[K");
        std::fflush(stderr);
        m_shown = false;
    }
}

} // namespace wp
