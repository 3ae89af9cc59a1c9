#include "cmd/provision_bootstrap.h"

#include <chrono>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "provision/host_target.h"
#include "provision/provision_steps.h"
#include "remote/password_session.h"
#include "remote/ssh.h"

namespace wp {

std::string read_password(const std::string& password_file, const std::string& prompt) {
    if (!password_file.empty()) {
        std::string text = read_file(password_file);
        const auto nl = text.find('\n');
        if (nl != std::string::npos) {
            text.resize(nl);
        }
        if (!text.empty() && text.back() == '\r') {
            text.pop_back();
        }
        if (text.empty()) {
            fail(exit_code::k_data, "{}: no password on its first line", password_file);
        }
        return text;
    }
    Fd tty_fd(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (!tty_fd) {
        fail(exit_code::k_usage, "no terminal to ask for the password on: use --password-file FILE");
    }
    const int fd = tty_fd.get();
    // Echo comes back however this ends (an error, Ctrl-C unwinding); the
    // descriptor is closed after it, by tty_fd.
    struct Tty {
        int fd;
        termios saved{};
        bool restore = false;
        ~Tty() {
            if (restore) {
                ::tcsetattr(fd, TCSAFLUSH, &saved);
            }
        }
    } tty{fd};
    if (::tcgetattr(fd, &tty.saved) == 0) {
        termios quiet = tty.saved;
        quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
        tty.restore = ::tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    write_all(fd, prompt, "/dev/tty");
    std::string password;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') {
        password += c;
    }
    write_all(fd, "\n", "/dev/tty");
    if (password.empty()) {
        fail(exit_code::k_usage, "no password given");
    }
    return password;
}

int run_bootstrap(const ProvisionRequest& req, const CommonOptions& opts) {
    if (req.hosts.size() != 1) {
        fail(exit_code::k_usage, "bootstrap takes exactly one [USER@]ADDRESS[:PORT]");
    }
    HostTarget t = parse_host_target(req.hosts[0]);
    if (t.user.empty()) {
        t.user = "root";
    }
    const auto key = find_public_key(opts.identity);
    if (!key) {
        fail(exit_code::k_no_input, "no public key to install: give --identity KEY (with KEY.pub beside it), or "
                                    "create ~/.ssh/id_ed25519.pub");
    }
    SshSettings ssh;
    ssh.ssh_config = req.ssh_config;
    ssh.identity = opts.identity;
    ssh.known_hosts = opts.known_hosts;
    ssh.connect_timeout = std::chrono::seconds(opts.connect_timeout);
    ssh.io_timeout = std::chrono::seconds(std::max(60, 3 * opts.connect_timeout));
    check_ssh_settings(ssh);
    const std::string label = req.hosts[0];
    const std::string password = read_password(req.password_file, fmt::format("{}@{}'s password: ", t.user, t.address));

    SshTarget target;
    target.name = label;
    target.address = t.address;
    target.port = t.port;
    target.user = t.user;
    auto say = [&](const StepResult& r) {
        if (verbosity() >= 0 || r.status == StepStatus::failed) {
            fmt::print("{}: {}\n", label, describe_step(r));
            std::fflush(stdout);
        }
    };
    std::string step = "connect";
    try {
        PasswordSession session(target, ssh, password);
        say({"connect", StepStatus::ok, fmt::format("by password; host {}", session.host_key_note())});
        step = "key";
        const ExecResult r = session.run(install_key_command(*key));
        if (!r.ok()) {
            throw SshError(FailureClass::answered, "", fmt::format("install the key: {}", r.describe()));
        }
        std::string done;
        for (std::size_t pos = 0; pos < r.out.size();) {
            auto nl = r.out.find('\n', pos);
            if (nl == std::string::npos) nl = r.out.size();
            if (nl > pos) done += (done.empty() ? "" : "; ") + r.out.substr(pos, nl - pos);
            pos = nl + 1;
        }
        say({"key", done.empty() ? StepStatus::ok : StepStatus::changed,
             done.empty() ? "our key is in ~/.ssh/authorized_keys" : done});
        step = "key login";
        SshSession check(target, ssh);
        const ExecResult c = check.exec("true");
        if (!c.ok()) {
            throw SshError(FailureClass::answered, "", c.describe());
        }
        say({"key login", StepStatus::ok, "the key is accepted: wp-provision apply can take it from here"});
    } catch (const SshError& e) {
        const std::string where = e.step().empty() ? step : e.step();
        say({where, StepStatus::failed, e.what()});
        if (e.failure_class() == FailureClass::unreachable) {
            fail(exit_code::k_unavailable, "{}: not reachable: {}", label, e.what());
        }
        warn("{}: failed at {}: {}", label, where, e.what());
        return exit_code::k_partial;
    }
    return exit_code::k_ok;
}

} // namespace wp
