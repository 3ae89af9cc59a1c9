#pragma once
// Reading a host's clock inside a command a tool sends anyway: the line the
// command prints first, the bracket of our own times around it, and the
// ClockReading that follows.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "store/host_status.h"

namespace wp {

/// A shell command (no trailing newline or `;`) that prints the host's clock
/// as its one line, `wp-clock ` and `date +%s.%N` (nothing after the marker
/// when the host has no date). The fan-out tools put it first in a command
/// they send, followed by `;` or a newline, so that it comes before anything
/// the command prints; only what the login shell prints may come earlier.
std::string_view clock_command();

/// The reading from our wall-clock times (epoch nanoseconds) just before the
/// command was sent and when its clock line arrived, and the line itself:
/// `SECONDS.NANOSECONDS`, or whole seconds (a `date` without %N, e.g. older
/// BusyBox: the host's time lies in that second, so its middle is taken and
/// the uncertainty grows by 0.5 s). The offset is rounded to the nearest
/// millisecond and the uncertainty up to the next one. No reading for an
/// empty line, anything else that is not a time, or received before sent.
std::optional<ClockReading> clock_reading(std::int64_t sent_ns, std::int64_t received_ns, std::string_view line);

/// Our wall clock in epoch nanoseconds.
std::int64_t wall_clock_ns();

/// A command's standard output that holds clock_command's line: times the
/// line's arrival, keeps it from the rest, and hands the rest on, unchanged
/// and as it comes. Lines before it (a login shell's greeting) pass through;
/// only a line that begins with the marker is taken, and after 64 KiB
/// without one, or once it came, everything passes.
class ClockLine {
public:
    /// rest: where the output after the clock line goes; now_ns: our clock.
    explicit ClockLine(std::function<void(std::string_view)> rest,
                       std::function<std::int64_t()> now_ns = wall_clock_ns);

    /// Notes the time: call just before sending the command (again, later,
    /// when the command is really on its way: the later the tighter).
    void sent();
    /// The command's standard output, as it arrives (the on_stdout callback).
    void feed(std::string_view data);
    /// The output has ended: hands on what was held back while it might
    /// still have been the start of the clock line.
    void finish();
    /// The reading, once the whole clock line has arrived and made sense.
    const std::optional<ClockReading>& reading() const { return m_reading; }

private:
    std::function<void(std::string_view)> m_rest;
    std::function<std::int64_t()> m_now_ns;
    void pass(std::string_view data);

    std::int64_t m_sent_ns = 0;
    bool m_line_done = false;  ///< the clock line came, or is no longer looked for
    bool m_other_line = false; ///< the current line is not the clock line
    bool m_clock_line = false; ///< the current line began with the marker
    std::string m_held;        ///< the start of a line that may be the marker
    std::string m_line;        ///< the clock line after the marker
    std::size_t m_passed = 0;  ///< bytes handed on while looking
    std::optional<ClockReading> m_reading;
};

} // namespace wp
