#include "tool.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "error.h"
#include "tool_catalog.h"

namespace wp {

namespace {

// Set by the signal handler, read by every thread (workers, SSH watchdogs):
// a lock-free atomic is both async-signal-safe and free of data races, which
// a volatile sig_atomic_t read from other threads is not.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);
std::string g_program = "wp";
std::atomic<int> g_verbosity{0};

extern "C" void record_signal(int sig) {
    g_signal = sig;
}

void install_signal_handlers() {
    std::signal(SIGPIPE, SIG_DFL);
    struct sigaction sa {};
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: blocking calls return EINTR so loops can unwind
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void print_error(std::string_view message) {
    std::fflush(stdout);
    fmt::print(stderr, "{}: {}\n", g_program, escape_control(message));
}

int finish(int code) {
    // A full disk or a closed pipe must not pass for success.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        const int err = errno;
        fmt::print(stderr, "{}: cannot write standard output: {}\n", g_program, std::strerror(err));
        if (code == exit_code::k_ok) {
            code = exit_code::k_io;
        }
    }
    if (g_signal != 0) {
        const int sig = g_signal;
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    return code;
}

// CLI11 says "A subcommand is required" for a mistyped command (it never
// names the word), or calls it an unexpected argument: name it and the
// commands there are. Empty when the error is about something else (no
// command at all included).
std::string command_problem(CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); })) {
        names.push_back(sub->get_name());
    }
    if (names.empty() || !app.get_subcommands().empty()) {
        return {};
    }
    const auto rest = app.remaining();
    if (rest.empty() || rest.front().starts_with("-")) {
        return {};
    }
    return fmt::format("unknown command '{}': the commands are {}", rest.front(), fmt::join(names, ", "));
}

} // namespace

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
    fmt::print(stderr, "{}: {}\n", g_program, escape_control(message));
}

int run_tool(CLI::App& app, CommonOptions& options, int argc, char** argv,
             const std::function<int()>& body) {
    g_program = app.get_name();
    install_signal_handlers();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) { // --help, --version
            app.exit(e, std::cout, std::cerr);
            return finish(exit_code::k_ok);
        }
        const std::string command = command_problem(app);
        print_error(command.empty() ? cli_error_message(e) : command);
        fmt::print(stderr, "{}: try '{} --help'\n", g_program, g_program);
        return finish(exit_code::k_usage);
    }
    try {
        load_config(app, options);
        set_verbosity(options.quiet ? -1 : options.verbosity);
        return finish(body());
    } catch (const Error& e) {
        print_error(e.what());
        return finish(e.code());
    } catch (const CLI::ParseError& e) {
        print_error(cli_error_message(e));
        return finish(exit_code::k_usage);
    } catch (const std::bad_alloc&) {
        print_error("out of memory");
        return finish(exit_code::k_io);
    } catch (const std::exception& e) {
        print_error(fmt::format("internal error: {}", e.what()));
        return finish(70);
    }
}

} // namespace wp
