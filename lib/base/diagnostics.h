#pragma once
// Messages to the operator (warnings, verbose notes), the program's name in
// them, and the interruption flag every loop watches. The tool driver
// (cmd/tool.h) sets them up; every layer may use them.

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace wp {

/// Records that a signal arrived (async-signal-safe: called from the handler).
void note_signal(int sig) noexcept;

/// The signal noted, or 0.
int pending_signal() noexcept;

/// Names the running tool in messages (default "wp").
void set_program_name(std::string_view name);

/// True once SIGINT or SIGTERM arrived; loops check it and unwind.
bool interrupted() noexcept;

/// The running tool's name, for messages.
std::string_view program_name() noexcept;

/// Verbosity: -1 quiet, 0 normal, 1+ verbose.
int verbosity() noexcept;
void set_verbosity(int level) noexcept;

/// Text safe to print on a terminal: control characters become \xNN or \t.
std::string escape_control(std::string_view text);

/// `prog: warning: …` on stderr unless quiet.
void warn_message(std::string_view message);
/// `prog: …` on stderr when verbosity >= level.
void info_message(int level, std::string_view message);

template <typename... Args> void warn(fmt::format_string<Args...> format, Args&&... args) {
    warn_message(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args> void info(int level, fmt::format_string<Args...> format, Args&&... args) {
    if (verbosity() >= level) {
        info_message(level, fmt::format(format, std::forward<Args>(args)...));
    }
}

} // namespace wp
