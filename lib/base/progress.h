#pragma once
// The status line of a fan-out run on a terminal: hosts done of all, files,
// bytes and the current rate, with warnings printed above it.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace wp {

/// The rate of a growing byte count over its last two seconds.
class ByteRate {
public:
    using Clock = std::chrono::steady_clock;

    /// Notes the running total at now; nothing is noted while it is 0, so
    /// that the rate starts with the first byte.
    void sample(Clock::time_point now, std::uint64_t total);

    /// Bytes per second since the oldest sample kept, once the samples span
    /// at least one second; nullopt before.
    std::optional<std::uint64_t> per_second(Clock::time_point now, std::uint64_t total) const;

private:
    static constexpr auto k_span = std::chrono::seconds(2);
    std::deque<std::pair<Clock::time_point, std::uint64_t>> m_samples;
};

/// The status line's text: "PROG: 3/10 hosts, 1 file, 4.0 MiB, 1.5 MiB/s"
/// (no rate when rate is nullopt).
std::string progress_text(std::string_view program, std::size_t done, std::size_t hosts, std::size_t files,
                          std::uint64_t bytes, std::optional<std::uint64_t> rate);

/// A status line on stderr, drawn only when enabled (a smart terminal):
/// redrawn as data comes, at most five times a second, and twice a second by
/// a clock of its own so that a stall shows. Thread-safe. The line is gone
/// once finish() returns or the object is destroyed.
class Progress {
public:
    Progress(std::size_t hosts, bool enabled);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    /// Counts n more bytes transferred.
    void add_bytes(std::uint64_t n);
    /// Counts one more host done, which brought files files.
    void host_done(std::size_t files);
    /// Prints a warning (warn_message) above the line.
    void warning(const std::string& message);
    /// Clears the line and stops its clock; later calls draw nothing.
    void finish();

private:
    using Clock = std::chrono::steady_clock;

    void tick();
    void draw(Clock::time_point now);
    void clear();

    std::mutex m_mutex;
    std::condition_variable m_tick;
    std::size_t m_hosts;
    bool m_enabled;
    bool m_finished = false;
    std::size_t m_done = 0;
    std::size_t m_files = 0;
    std::uint64_t m_bytes = 0;
    bool m_shown = false;
    Clock::time_point m_drawn{};
    ByteRate m_rate;
    std::thread m_clock; // last: started when the rest exists
};

} // namespace wp
