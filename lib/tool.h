#pragma once
// What every tool's main shares: parsing, config, signals, messages, exit status.

#include <functional>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "options.h"

namespace wp {

/// Parses the command line (errors -> 64), loads wp.conf (errors -> 78), runs
/// body, and turns a wp::Error into `prog: message` and its exit status. Also
/// sets SIGPIPE to default, turns SIGINT/SIGTERM into a flag (re-raised at the
/// end), and checks that stdout was written before returning 0.
int run_tool(CLI::App& app, CommonOptions& options, int argc, char** argv,
             const std::function<int()>& body);

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

template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
    warn_message(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void info(int level, fmt::format_string<Args...> format, Args&&... args) {
    if (verbosity() >= level) {
        info_message(level, fmt::format(format, std::forward<Args>(args)...));
    }
}

} // namespace wp
