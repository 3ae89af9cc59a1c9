#include "base/diagnostics.h"

#include <atomic>
#include <cstdio>

namespace wp {

namespace {

// Set by the signal handler, read by every thread (workers, SSH watchdogs):
// a lock-free atomic is both async-signal-safe and free of data races, which
// a volatile sig_atomic_t read from other threads is not.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);
std::string g_program = "wp";
std::atomic<int> g_verbosity{0};

} // namespace

void note_signal(int sig) noexcept {
    g_signal = sig;
}

int pending_signal() noexcept {
    return g_signal;
}

void set_program_name(std::string_view name) {
    g_program = name;
}

bool interrupted() noexcept {
    return g_signal != 0;
}

std::string_view program_name() noexcept {
    return g_program;
}

int verbosity() noexcept {
    return g_verbosity.load(std::memory_order_relaxed);
}

void set_verbosity(int level) noexcept {
    g_verbosity.store(level, std::memory_order_relaxed);
}

std::string escape_control(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

void warn_message(std::string_view message) {
    if (verbosity() >= 0) {
        fmt::print(stderr, "{}: warning: {}\n", g_program, escape_control(message));
    }
}

void info_message(int /*level*/, std::string_view message) {
    fmt::print(stderr, "{}: {}\n", program_name(), escape_control(message));
}

} // namespace wp
