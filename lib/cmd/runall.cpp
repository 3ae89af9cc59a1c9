#include "cmd/runall.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "cmd/host_options.h"
#include "remote/ssh.h"
#include "runall/runall_hosts.h"
#include "runall/runall_output.h"
#include "runall/selection.h"
#include "store/db.h"
#include "store/host_status.h"
#include "store/inventory.h"

namespace wp {

namespace {

// The leading "-" word (names on stdin) is taken off the command's words,
// with an optional "--" after it.
bool take_stdin_word(RunallRequest& req) {
    if (req.words.empty() || req.words.front() != "-") {
        return false;
    }
    req.words.erase(req.words.begin());
    if (!req.words.empty() && req.words.front() == "--") {
        req.words.erase(req.words.begin());
    }
    return true;
}

HostAction build_action(const RunallRequest& req, bool names_from_stdin) {
    const int kinds = static_cast<int>(!req.push.empty()) + static_cast<int>(!req.script.empty()) +
                      static_cast<int>(!req.local.empty());
    if (kinds > 1) {
        fail(exit_code::k_usage, "--push, --script and --local exclude each other");
    }
    HostAction action;
    action.timeout = std::chrono::seconds(req.timeout);
    if (!req.local.empty()) {
        resolve_local_command(req.local);
        action.local_argv.push_back(req.local);
        action.local_argv.insert(action.local_argv.end(), req.words.begin(), req.words.end());
        action.local_interactive = !req.batch && req.jobs == 1 && !names_from_stdin;
    } else if (!req.script.empty()) {
        action.stdin_data = read_file(req.script);
        action.command = script_command(req.words);
    } else if (!req.push.empty()) {
        if (req.push.size() != 2) {
            fail(exit_code::k_usage, "--push needs LOCAL and REMOTE");
        }
        struct stat st {};
        if (::stat(req.push[0].c_str(), &st) != 0 || ::access(req.push[0].c_str(), R_OK) != 0) {
            fail_errno(errno, fmt::format("cannot read {}", req.push[0]));
        }
        if (!S_ISREG(st.st_mode)) {
            fail(exit_code::k_no_input, "cannot push {}: not a regular file", req.push[0]);
        }
        action.push_local = req.push[0];
        action.push_remote = req.push[1];
        action.push_mode = st.st_mode & 07777;
        action.command = join_command_words(req.words);
    } else if (req.words.empty()) {
        fail(exit_code::k_usage, "nothing to run: give a command (after --), --push, --script or --local");
    } else {
        action.command = join_command_words(req.words);
    }
    return action;
}

void print_lines(const std::vector<std::string>& lines) {
    std::fflush(stdout);
    for (const auto& line : lines) {
        fmt::print(stderr, "{}: {}\n", program_name(), escape_control(line));
    }
}

// One result per server, those known to be down already final.
std::vector<RunResult> initial_runs(Inventory& inventory, const std::vector<Server>& servers, const RunallRequest& req,
                                    const NamedHosts& named) {
    const StatusFile status = load_status_file(req.status_file);
    std::map<std::string, std::int64_t, std::less<>> failures;
    for (const auto& h : inventory.status({})) {
        failures[h.name] = h.consecutive_failures;
    }
    std::vector<RunResult> runs(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
        runs[i].host.server = servers[i].name;
        const auto f = failures.find(servers[i].name);
        const auto why = down_reason(servers[i].name, status, f == failures.end() ? 0 : f->second, req.down_after);
        if (why.empty() || req.include_down) {
            continue;
        }
        // A server named with -H is the operator's explicit choice: tried.
        if (std::find(named.from_h.begin(), named.from_h.end(), servers[i].name) != named.from_h.end()) {
            info(0, "note: {} is known to be down ({}); tried because -H names it", servers[i].name, why);
            continue;
        }
        runs[i].host.outcome = HostOutcome::down;
        runs[i].host.cause = why;
    }
    return runs;
}

// --list: the servers that would run folded into ranges on one line;
// --list-each: one a line, in the order they would run.
void print_list(const std::vector<RunResult>& runs, bool each) {
    std::vector<std::string> skipped;
    std::vector<std::string> selected;
    for (const auto& r : runs) {
        if (r.host.outcome == HostOutcome::down) {
            skipped.push_back(fmt::format("skipped as down: {}: {}", r.host.server, r.host.message()));
        } else if (each) {
            fmt::print("{}\n", r.host.server);
        } else {
            selected.push_back(r.host.server);
        }
    }
    print_folded(selected);
    if (verbosity() >= 0) {
        print_lines(skipped);
    }
}

std::unique_ptr<HostRunner> make_runner(const RunallRequest& req, const CommonOptions& opts, HostAction action) {
    if (!req.local.empty()) {
        return make_local_runner(std::move(action), opts.ssh_user);
    }
    SshSettings ssh = ssh_settings_from(opts, req.ssh_config, req.accept_new);
    ssh.connect_timeout = runall_connect_timeout(ssh.connect_timeout, req.timeout);
    return make_ssh_runner(std::move(action), ssh, opts.ssh_user);
}

// `-` as the first word after the options reads the names from standard
// input; options may still follow it, up to `--` or the command's first word
// (CLI11 takes every word after the first positional as positional).
void take_options_after_stdin_marker(CLI::App& app, std::vector<std::string>& words) {
    if (words.empty() || words.front() != "-") {
        return;
    }
    std::size_t i = 1;
    auto take = [&](CLI::Option* opt, const std::string& name, std::optional<std::string> value) {
        if (opt->get_expected_max() == 0) { // a flag
            opt->add_result(opt->get_flag_value(name, value.value_or("")));
        } else {
            const int count = std::max(1, opt->get_items_expected_min());
            std::vector<std::string> values;
            if (value) {
                values.push_back(*value);
            }
            while (static_cast<int>(values.size()) < count) {
                if (i >= words.size()) {
                    throw CLI::ArgumentMismatch(name, count, values.size());
                }
                values.push_back(words[i++]);
            }
            opt->add_result(values);
        }
        opt->run_callback();
    };
    while (i < words.size() && words[i].size() > 1 && words[i][0] == '-' && words[i] != "--") {
        const std::string word = words[i++];
        if (word.starts_with("--")) {
            const auto eq = word.find('=');
            const std::string name = word.substr(0, eq);
            CLI::Option* opt = app.get_option_no_throw(name);
            if (opt == nullptr) {
                throw CLI::ExtrasError({word});
            }
            take(opt, name, eq == std::string::npos ? std::nullopt : std::optional(word.substr(eq + 1)));
            continue;
        }
        // -j4, -H a,b, -vq: short options, the first that takes a value ends the word
        for (std::size_t k = 1; k < word.size(); ++k) {
            const std::string name = {'-', word[k]};
            CLI::Option* opt = app.get_option_no_throw(name);
            if (opt == nullptr) {
                throw CLI::ExtrasError({word});
            }
            if (opt->get_expected_max() != 0) {
                take(opt, name, k + 1 < word.size() ? std::optional(word.substr(k + 1)) : std::nullopt);
                break;
            }
            take(opt, name, std::nullopt);
        }
    }
    words.erase(words.begin() + 1, words.begin() + static_cast<std::ptrdiff_t>(i));
}

} // namespace

void add_runall_options(CLI::App& app, RunallRequest& r) {
    add_host_options(app, r.select);
    setting(app.add_option("--status-file", r.status_file, "Nagios-style 'host state' file; state 2 is down"));
    setting(app.add_option("--down-after", r.down_after, "consecutive failures after which a host is down (0: never)")
                ->check(CLI::Range(0, 1000000))
                ->capture_default_str());
    app.add_flag("--include-down", r.include_down, "try hosts known to be down too");
    auto* list = app.add_flag("--list", r.list, "print the selected servers folded into ranges (tor[1-3]) and exit");
    app.add_flag("--list-each", r.list_each, "print the selected servers one a line, in run order, and exit")
        ->excludes(list);
    app.add_option("--push", r.push, "upload LOCAL to REMOTE (mode kept), then run the command if any")
        ->expected(2)
        ->type_name("LOCAL REMOTE");
    app.add_option("--script", r.script, "run this local script on each host with sh -s; the words are its args");
    app.add_option("--local", r.local, "run this local command once per host: CMD HOST ARGS...");
    add_jobs_option(app, r.jobs, "hosts at once (1: serial)");
    setting(app.add_option("--timeout", r.timeout,
                           "seconds a command may run before it is ended, and at most a host may take to answer "
                           "(0: no limit)")
                ->check(CLI::Range(0, 604800))
                ->capture_default_str());
    app.add_flag("--gather", r.gather, "print identical outputs once, with their hosts");
    app.add_option("--outdir", r.outdir, "write HOST.out, HOST.err, HOST.rc here instead of the terminal");
    app.add_flag("--batch", r.batch, "never ask: --local commands get no terminal and no stdin");
    app.add_flag("--accept-new", r.accept_new, "record unknown host keys (changed ones are always refused)");
    setting(app.add_option("--ssh-config", r.ssh_config, "ssh_config file (default ~/.ssh/config)"));
    app.add_option("command", r.words, "remote command, or the arguments of --script / --local");
    app.positionals_at_end();
    app.parse_complete_callback([&app, &r] { take_options_after_stdin_marker(app, r.words); });
}

int run_runall(RunallRequest req, const CommonOptions& opts) {
    if (req.timeout < 0 || req.down_after < 0) {
        fail(exit_code::k_usage, "--timeout and --down-after cannot be negative");
    }
    if (req.gather && !req.outdir.empty()) {
        fail(exit_code::k_usage, "--gather prints to the terminal and --outdir writes files instead: give one of them");
    }
    const bool stdin_word = take_stdin_word(req);
    const NamedHosts named = named_hosts(req.select, {}, stdin_word);
    const bool list = req.list || req.list_each;
    HostAction action;
    if (!list) {
        action = build_action(req, named.from_stdin); // local files checked before any host is touched
    }
    // --list only reads: it works for a user who may not write the database.
    const auto db = list ? open_for_reading(opts.db) : std::make_unique<Database>(opts.db, OpenMode::read_write);
    Inventory inventory(*db);
    const std::vector<Server> servers = select_servers(inventory, req.select, named);
    std::vector<RunResult> runs = initial_runs(inventory, servers, req, named);
    if (list) {
        print_list(runs, req.list_each);
        return exit_code::k_ok;
    }
    if (servers.empty()) {
        info(1, "no server selected");
        return exit_code::k_ok;
    }
    const auto runner = make_runner(req, opts, std::move(action));
    if (!req.outdir.empty()) {
        make_directories(req.outdir, 0755);
    }

    OutputSettings output_settings;
    output_settings.prefixed = req.jobs > 1;
    output_settings.gather = req.gather;
    output_settings.outdir = req.outdir;
    std::vector<std::string> names;
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        names.push_back(servers[i].name);
        if (runs[i].host.outcome != HostOutcome::down) {
            todo.push_back(i);
        }
    }
    RunOutput output(output_settings, names);
    std::mutex db_mutex;
    HostPool pool(req.jobs);
    pool.run(todo.size(), [&](std::size_t k) {
        const std::size_t i = todo[k];
        output.begin(i);
        RunResult run = runner->run(servers[i], output.sink(i));
        output.end(i, run);
        if (req.local.empty()) {
            std::lock_guard lock(db_mutex);
            record_host_status(inventory, servers[i].id, run.host);
        }
        info(1, "{}: {}", run.host.server,
             run.host.outcome == HostOutcome::ok ? std::string("ok") : run.host.message());
        runs[i] = std::move(run);
    });
    for (std::size_t i = 0; i < runs.size(); ++i) {
        if (runs[i].host.outcome == HostOutcome::down || runs[i].host.outcome == HostOutcome::not_run) {
            output.end(i, runs[i]); // their --outdir files
        }
    }
    output.finish(runs);

    const int code = runall_exit_status(runs);
    if (verbosity() >= 0 || code != exit_code::k_ok) {
        print_lines(summary_lines(runs));
    }
    return code;
}

} // namespace wp
