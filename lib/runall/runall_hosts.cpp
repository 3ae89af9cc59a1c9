#include "runall/runall_hosts.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "remote/remote_host.h"
#include "store/host_clock.h"

extern char** environ;

namespace wp {

using Clock = std::chrono::steady_clock;

std::chrono::seconds runall_connect_timeout(std::chrono::seconds connect_timeout, int timeout) {
    if (timeout > 0 && connect_timeout > std::chrono::seconds(timeout)) {
        return std::chrono::seconds(timeout);
    }
    return connect_timeout;
}

std::string join_command_words(const std::vector<std::string>& words) {
    return fmt::format("{}", fmt::join(words, " "));
}

std::string script_command(const std::vector<std::string>& args) {
    std::string command = "sh -s";
    if (!args.empty()) {
        command += " --";
        for (const auto& a : args) {
            command += ' ';
            command += shell_quote(a);
        }
    }
    return command;
}

std::string push_target_path(std::string_view remote, std::string_view local) {
    const auto slash = local.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? local : local.substr(slash + 1);
    if (remote == "~" || remote == "~/" || remote == "." || remote == "./" || remote.empty()) {
        return std::string(base);
    }
    if (remote.starts_with("~/")) {
        remote.remove_prefix(2);
    }
    std::string out(remote);
    if (out.back() == '/') {
        out += base;
    }
    return out;
}

std::vector<std::string> local_command_environment(const char* const* base, const Server& server,
                                                   const std::string& user) {
    std::vector<std::string> env;
    for (const char* const* e = base; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const bool ours = entry.starts_with("WP_HOST=") || entry.starts_with("WP_ADDRESS=") ||
                          entry.starts_with("WP_PORT=") || entry.starts_with("WP_USER=");
        if (!ours) {
            env.emplace_back(entry);
        }
    }
    env.push_back("WP_HOST=" + server.name);
    env.push_back("WP_ADDRESS=" + server.address);
    env.push_back("WP_PORT=" + std::to_string(server.port));
    if (!user.empty()) {
        env.push_back("WP_USER=" + user);
    }
    return env;
}

std::string resolve_local_command(const std::string& command) {
    if (command.empty()) {
        fail(exit_code::k_usage, "--local needs a command");
    }
    auto runnable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
    };
    if (command.find('/') != std::string::npos) {
        struct stat st {};
        if (::stat(command.c_str(), &st) != 0) {
            fail_errno(errno, fmt::format("cannot run {}", command));
        }
        if (!runnable(command)) {
            fail(exit_code::k_no_perm, "cannot run {}: not an executable file", command);
        }
        return command;
    }
    const char* path_env = std::getenv("PATH");
    std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    for (;;) {
        const auto colon = path.find(':');
        std::string dir(path.substr(0, colon));
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + command;
        if (runnable(candidate)) {
            return candidate;
        }
        if (colon == std::string_view::npos) {
            break;
        }
        path.remove_prefix(colon + 1);
    }
    fail(exit_code::k_no_input, "cannot run {}: not found on PATH", command);
}

namespace {

// The command with the host's clock read first, on the same line, so that the
// shell reads the operator's command as before (its line numbers included)
// and the clock line is the first of its standard output, before anything
// the command prints, backgrounds or reads.
std::string with_clock(const std::string& command) {
    return fmt::format("{}; {}", clock_command(), command);
}

void fill_command_result(RunResult& r, int exit_status, std::string exit_signal, std::string describe) {
    r.exit_status = exit_status;
    r.exit_signal = std::move(exit_signal);
    if (r.exit_status == 0 && r.exit_signal.empty()) {
        r.host.outcome = HostOutcome::ok;
    } else {
        r.host.outcome = HostOutcome::command_failed;
        r.host.cause = std::move(describe);
    }
}

class SshRunner : public HostRunner {
public:
    SshRunner(HostAction action, SshSettings settings, std::string user)
        : m_action(std::move(action)), m_settings(std::move(settings)), m_user(std::move(user)) {}

    RunResult run(const Server& s, HostSink& sink) override {
        RunResult r;
        r.host.server = s.name;
        SshTarget target;
        target.name = s.name;
        target.address = s.address;
        target.port = s.port == 22 ? 0 : s.port; // 22 is the column's default: ssh_config may say better
        target.user = s.ssh_user.value_or(m_user);
        std::unique_ptr<SshSession> session;
        try {
            session = std::make_unique<SshSession>(target, m_settings);
        } catch (const SshError& e) {
            r.host.outcome =
                e.failure_class() == FailureClass::unreachable ? HostOutcome::unreachable : HostOutcome::failed;
            r.host.step = e.step().empty() ? "connect" : e.step();
            r.host.cause = e.what();
            if (interrupted()) {
                r.host.outcome = HostOutcome::interrupted;
            }
            return r;
        }
        r.host.contacted = true;
        SshHost host(*session);
        if (!m_action.push_local.empty() && !push(host, r)) {
            return r;
        }
        if (m_action.command.empty()) {
            r.host.outcome = HostOutcome::ok;
            return r;
        }
        run_command(host, sink, r);
        return r;
    }

private:
    void run_command(RemoteHost& host, HostSink& sink, RunResult& r) {
        ClockLine clock([&sink](std::string_view data) { sink.out(data); });
        ExecOptions options;
        options.timeout = m_action.timeout;
        options.stdin_data = m_action.stdin_data;
        options.on_stdout = [&clock](std::string_view data) { clock.feed(data); };
        options.on_send = [&clock] { clock.sent(); };
        r.command_ran = true;
        const auto started = Clock::now();
        // Whatever becomes of the command, a clock line that came is a reading.
        struct KeepReading {
            const ClockLine& clock;
            RunResult& r;
            ~KeepReading() { r.host.clock = clock.reading(); }
        } keep{clock, r};
        try {
            clock.sent();
            const ExecResult x = host.run(with_clock(m_action.command), options);
            clock.finish();
            sink.err(x.err);
            fill_command_result(r, x.exit_status, x.exit_signal, x.describe());
        } catch (const SshError& e) {
            if (interrupted()) {
                r.host.outcome = HostOutcome::interrupted;
            } else if (m_action.timeout.count() > 0 && Clock::now() - started >= m_action.timeout) {
                r.host.outcome = HostOutcome::timed_out;
            } else {
                // The connection gave out under the command: the host did answer,
                // so host_status records the contact, as for any request of the
                // operator's that fails there.
                r.host.outcome = HostOutcome::command_failed;
            }
            r.host.cause = e.what();
        }
    }

    // A push is the operator's request: failing on a host that answered, it
    // is recorded as the contact it was (command_failed), never as the host's
    // failure, which would bring the host nearer to --down-after.
    bool push(RemoteHost& host, RunResult& r) {
        std::string remote = push_target_path(m_action.push_remote, m_action.push_local);
        try {
            // An existing directory receives the file under its own name, as
            // with cp(1); renaming the temporary onto it would not do that.
            // It reads the host's clock too, for a push that runs no command.
            ClockLine clock(nullptr);
            ExecOptions probe;
            probe.timeout = m_settings.io_timeout;
            probe.on_stdout = [&clock](std::string_view data) { clock.feed(data); };
            probe.on_send = [&clock] { clock.sent(); };
            clock.sent();
            const bool is_dir = host.run(with_clock(fmt::format("test -d {}", shell_quote(remote))), probe).ok();
            if (m_action.command.empty()) {
                r.host.clock = clock.reading();
            }
            if (is_dir) {
                remote = push_target_path(remote + "/", m_action.push_local);
            }
            host.upload(m_action.push_local, remote, m_action.push_mode);
            return true;
        } catch (const SshError& e) {
            r.host.outcome = interrupted() ? HostOutcome::interrupted : HostOutcome::command_failed;
            r.host.step = fmt::format("push {}", remote);
            r.host.cause = e.what();
        } catch (const Error& e) {
            r.host.outcome = HostOutcome::command_failed;
            r.host.step = fmt::format("push {}", remote);
            r.host.cause = e.what();
        }
        return false;
    }

    HostAction m_action;
    SshSettings m_settings;
    std::string m_user;
};

// Every live descendant of pid, from /proc.
std::vector<pid_t> descendants_of(pid_t pid) {
    std::vector<std::pair<pid_t, pid_t>> parent_of; // (pid, ppid)
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        const auto close = stat.rfind(") ");
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        long ppid = 0;
        if (fields >> state >> ppid) {
            parent_of.emplace_back(static_cast<pid_t>(std::stol(name)), static_cast<pid_t>(ppid));
        }
    }
    std::vector<pid_t> found{pid};
    for (std::size_t k = 0; k < found.size(); ++k) {
        for (const auto& [child, parent] : parent_of) {
            if (parent == found[k]) {
                found.push_back(child);
            }
        }
    }
    found.erase(found.begin());
    return found;
}

class LocalRunner : public HostRunner {
public:
    LocalRunner(HostAction action, std::string user) : m_action(std::move(action)), m_user(std::move(user)) {}

    RunResult run(const Server& s, HostSink& sink) override {
        RunResult r;
        r.host.server = s.name;
        std::vector<std::string> args;
        args.push_back(m_action.local_argv.at(0));
        args.push_back(s.name);
        args.insert(args.end(), m_action.local_argv.begin() + 1, m_action.local_argv.end());
        const auto env = local_command_environment(environ, s, s.ssh_user.value_or(m_user));

        int out_pipe[2];
        int err_pipe[2];
        if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
            fail_errno(errno, "cannot create a pipe");
        }
        Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
        if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
            fail_errno(errno, "cannot create a pipe");
        }
        Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

        const pid_t pid = spawn(args, env, out_write.get(), err_write.get(), r);
        if (pid < 0) {
            return r;
        }
        r.command_ran = true;
        out_write.reset();
        err_write.reset();
        collect(pid, out_read, err_read, sink, r);
        return r;
    }

private:
    pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, int out_fd, int err_fd,
                RunResult& r) {
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (const auto& e : env) {
            envp.push_back(const_cast<char*>(e.c_str()));
        }
        envp.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (!m_action.local_interactive) {
            // No terminal, no stdin: nothing can ask; and a group of its own
            // that a timeout or Ctrl-C ends as a whole.
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
            flags |= POSIX_SPAWN_SETSID;
        }
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        sigset_t defaults;
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGINT);
        sigaddset(&defaults, SIGTERM);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setflags(&attr, flags);
        pid_t pid = -1;
        const int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, &attr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            r.host.outcome = HostOutcome::failed;
            r.host.cause = fmt::format("cannot run {}: {}", args[0], std::strerror(rc));
            return -1;
        }
        return pid;
    }

    // Reads both pipes until the command has ended and they are drained;
    // a timeout or Ctrl-C sends SIGTERM, then SIGKILL after a grace period.
    void collect(pid_t pid, Fd& out_read, Fd& err_read, HostSink& sink, RunResult& r) {
        const auto started = Clock::now();
        const auto deadline = m_action.timeout.count() > 0 ? started + m_action.timeout : Clock::time_point::max();
        Clock::time_point kill_at = Clock::time_point::max();
        bool stopping = false;
        bool exited = false;
        int status = 0;
        // Its own session: the whole group. Sharing ours (interactive): the
        // command and its descendants, since Ctrl-C at the terminal reaches
        // them all but a timeout or a SIGTERM sent to us alone does not.
        auto signal_command = [&](int sig) {
            if (!m_action.local_interactive) {
                ::kill(-pid, sig);
                return;
            }
            for (const pid_t p : descendants_of(pid)) {
                ::kill(p, sig);
            }
            ::kill(pid, sig);
        };
        std::vector<char> buf(64 * 1024);
        for (;;) {
            pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
            const int n = ::poll(fds, 2, exited ? 0 : 100);
            bool progress = false;
            for (int k = 0; k < 2 && n > 0; ++k) {
                if (fds[k].fd < 0 || (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                    continue;
                }
                const ssize_t got = ::read(fds[k].fd, buf.data(), buf.size());
                if (got > 0) {
                    progress = true;
                    const std::string_view data(buf.data(), static_cast<std::size_t>(got));
                    k == 0 ? sink.out(data) : sink.err(data);
                } else if (got == 0 || errno != EINTR) {
                    (k == 0 ? out_read : err_read).reset();
                }
            }
            if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
                exited = true;
                continue; // drain what is left without waiting
            }
            const bool drained = out_read.get() < 0 && err_read.get() < 0;
            if (exited && (drained || !progress)) {
                break; // a background child of the command may hold the pipes: not ours to wait for
            }
            const auto now = Clock::now();
            if (!stopping && (interrupted() || now >= deadline)) {
                stopping = true;
                if (interrupted()) {
                    r.host.outcome = HostOutcome::interrupted;
                    r.host.cause = "interrupted";
                } else {
                    r.host.outcome = HostOutcome::timed_out;
                    r.host.cause = fmt::format("timed out after {} s", m_action.timeout.count());
                }
                signal_command(SIGTERM);
                kill_at = now + std::chrono::seconds(5);
            } else if (stopping && now >= kill_at) {
                signal_command(SIGKILL);
                kill_at = Clock::time_point::max();
            }
        }
        if (stopping) {
            return;
        }
        if (WIFEXITED(status)) {
            const int code = WEXITSTATUS(status);
            fill_command_result(r, code, "", fmt::format("exit status {}", code));
        } else if (WIFSIGNALED(status)) {
            const char* name = sigabbrev_np(WTERMSIG(status));
            const std::string sig = name != nullptr ? name : std::to_string(WTERMSIG(status));
            fill_command_result(r, -1, sig, fmt::format("killed by signal {}", sig));
        }
    }

    HostAction m_action;
    std::string m_user;
};

} // namespace

std::unique_ptr<HostRunner> make_ssh_runner(HostAction action, SshSettings settings, std::string default_user) {
    return std::make_unique<SshRunner>(std::move(action), std::move(settings), std::move(default_user));
}

std::unique_ptr<HostRunner> make_local_runner(HostAction action, std::string default_user) {
    return std::make_unique<LocalRunner>(std::move(action), std::move(default_user));
}

} // namespace wp
