#include "cmd/tool.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "cmd/tool_catalog.h"

namespace wp {

namespace {

extern "C" void record_signal(int sig) {
    note_signal(sig);
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
    fmt::print(stderr, "{}: {}\n", program_name(), escape_control(message));
}

int finish(int code) {
    // A full disk or a closed pipe must not pass for success.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        const int err = errno;
        fmt::print(stderr, "{}: cannot write standard output: {}\n", program_name(), std::strerror(err));
        if (code == exit_code::k_ok) {
            code = exit_code::k_io;
        }
    }
    if (const int sig = pending_signal(); sig != 0) {
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

std::map<const CLI::App*, std::string>& plugin_labels() {
    static std::map<const CLI::App*, std::string> labels;
    return labels;
}

// The label of the monitoring plugin the command line chose, or empty.
std::string chosen_plugin(const CLI::App& app) {
    for (const CLI::App* sub : app.get_subcommands()) {
        if (const auto it = plugin_labels().find(sub); it != plugin_labels().end()) {
            return it->second;
        }
    }
    return {};
}

// A monitoring plugin's answer to what it could not even start on.
int plugin_unknown(const std::string& label, std::string_view message) {
    fmt::print("{} UNKNOWN - {}\n", label, escape_control(message));
    return finish(3);
}

} // namespace

void mark_monitoring_plugin(const CLI::App* command, std::string label) {
    plugin_labels()[command] = std::move(label);
}

int run_tool(CLI::App& app, CommonOptions& options, int argc, char** argv, const std::function<int()>& body) {
    set_program_name(app.get_name());
    install_signal_handlers();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) { // --help, --version
            app.exit(e, std::cout, std::cerr);
            return finish(exit_code::k_ok);
        }
        const std::string command = command_problem(app);
        if (const std::string label = chosen_plugin(app); !label.empty()) {
            return plugin_unknown(label, cli_error_message(e));
        }
        print_error(command.empty() ? cli_error_message(e) : command);
        fmt::print(stderr, "{}: try '{} --help'\n", program_name(), program_name());
        return finish(exit_code::k_usage);
    }
    try {
        load_config(app, options);
    } catch (const Error& e) {
        if (const std::string label = chosen_plugin(app); !label.empty()) {
            return plugin_unknown(label, e.what());
        }
        print_error(e.what());
        return finish(e.code());
    } catch (const CLI::ParseError& e) {
        if (const std::string label = chosen_plugin(app); !label.empty()) {
            return plugin_unknown(label, cli_error_message(e));
        }
        print_error(cli_error_message(e));
        return finish(exit_code::k_usage);
    }
    try {
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
        return finish(exit_code::k_software);
    }
}

} // namespace wp
