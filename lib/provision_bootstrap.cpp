#include "provision_bootstrap.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <libssh/libssh.h>

#include "error.h"
#include "fs.h"
#include "tool.h"

namespace wp {

namespace {

KnownHostsState state_of(enum ssh_known_hosts_e e) {
    switch (e) {
    case SSH_KNOWN_HOSTS_OK:
        return KnownHostsState::ok;
    case SSH_KNOWN_HOSTS_CHANGED:
        return KnownHostsState::changed;
    case SSH_KNOWN_HOSTS_OTHER:
        return KnownHostsState::other_type;
    case SSH_KNOWN_HOSTS_UNKNOWN:
        return KnownHostsState::unknown;
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        return KnownHostsState::no_file;
    case SSH_KNOWN_HOSTS_ERROR:
        break;
    }
    return KnownHostsState::error;
}

std::string option_string(ssh_session session, enum ssh_options_e option) {
    char* value = nullptr;
    if (ssh_options_get(session, option, &value) != SSH_OK || value == nullptr) {
        return {};
    }
    std::string out = value;
    ssh_string_free_char(value);
    return out;
}

} // namespace

struct PasswordSession::Impl {
    ssh_session session = nullptr;
    SshSettings settings;
    std::string note;

    ~Impl() {
        if (session != nullptr) {
            if (ssh_is_connected(session) != 0) {
                ssh_disconnect(session);
            }
            ssh_free(session);
        }
    }

    [[noreturn]] void fail_ssh(std::string_view step, std::string_view what) const {
        throw SshError(FailureClass::answered, std::string(step), fmt::format("{}: {}", what, ssh_get_error(session)));
    }

    void set(enum ssh_options_e option, const void* value, std::string_view what) {
        if (ssh_options_set(session, option, value) != SSH_OK) {
            fail_ssh("connect", fmt::format("cannot set {}", what));
        }
    }

    void connect(const SshTarget& target, const std::string& password) {
        session = ssh_new();
        if (session == nullptr) {
            throw Error(exit_code::k_io, "cannot create an SSH session: out of memory");
        }
        set(SSH_OPTIONS_HOST, target.address.c_str(), "host");
        if (ssh_options_parse_config(session, settings.ssh_config.empty() ? nullptr : settings.ssh_config.c_str()) !=
            SSH_OK) {
            throw Error(exit_code::k_config, fmt::format("cannot parse ssh configuration: {}", ssh_get_error(session)));
        }
        if (target.port > 0) {
            const unsigned int port = static_cast<unsigned int>(target.port);
            set(SSH_OPTIONS_PORT, &port, "port");
        }
        if (!target.user.empty()) {
            set(SSH_OPTIONS_USER, target.user.c_str(), "user");
        }
        if (!settings.known_hosts.empty()) {
            set(SSH_OPTIONS_KNOWNHOSTS, settings.known_hosts.c_str(), "known_hosts");
        }
        const long timeout = static_cast<long>(settings.connect_timeout.count());
        set(SSH_OPTIONS_TIMEOUT, &timeout, "timeout");
        const int yes = 1;
        set(SSH_OPTIONS_NODELAY, &yes, "nodelay");
        set(SSH_OPTIONS_STRICTHOSTKEYCHECK, &yes, "strict host key checking");
        unsigned int port = 0;
        ssh_options_get_port(session, &port);
        const std::string endpoint = fmt::format("{}:{}", target.address, port);
        if (ssh_connect(session) != SSH_OK) {
            throw SshError(classify_connect_failure(ssh_get_serverbanner(session) != nullptr), "connect",
                           ssh_get_error(session));
        }
        check_host_key(endpoint);
        const int rc = ssh_userauth_password(session, nullptr, password.c_str());
        if (rc != SSH_AUTH_SUCCESS) {
            const std::string user = option_string(session, SSH_OPTIONS_USER);
            if (rc == SSH_AUTH_ERROR) {
                fail_ssh("authentication", fmt::format("password for {}", user));
            }
            throw SshError(FailureClass::answered, "authentication", fmt::format("password refused for user {}", user));
        }
        const long io = static_cast<long>(settings.io_timeout.count());
        set(SSH_OPTIONS_TIMEOUT, &io, "timeout");
    }

    void check_host_key(const std::string& endpoint) {
        ssh_key key = nullptr;
        if (ssh_get_server_publickey(session, &key) != SSH_OK) {
            fail_ssh("host key", "no host key");
        }
        HostKeyFacts facts;
        facts.endpoint = endpoint;
        const char* type = ssh_key_type_to_char(ssh_key_type(key));
        facts.key_type = type != nullptr ? type : "?";
        unsigned char* hash = nullptr;
        size_t hash_len = 0;
        if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
            char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
            if (fp != nullptr) {
                facts.fingerprint = fp;
                ssh_string_free_char(fp);
            }
            ssh_clean_pubkey_hash(&hash);
        }
        ssh_key_free(key);
        facts.known_hosts = option_string(session, SSH_OPTIONS_KNOWNHOSTS);
        facts.state = state_of(ssh_session_is_known_server(session));
        switch (decide_host_key(facts.state, true)) {
        case HostKeyAction::accept:
            note = fmt::format("{} key {} known", facts.key_type, facts.fingerprint);
            return;
        case HostKeyAction::refuse:
            throw SshError(FailureClass::answered, "host key", host_key_refusal(facts));
        case HostKeyAction::record:
            break;
        }
        // Under an flock of the file, as SshSession records keys.
        const int fd = ::open(facts.known_hosts.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw SshError(
                FailureClass::answered, "host key",
                fmt::format("cannot record the host key in {}: {}", facts.known_hosts, std::strerror(errno)));
        }
        ::flock(fd, LOCK_EX);
        facts.state = state_of(ssh_session_is_known_server(session));
        int rc = SSH_OK;
        if (facts.state == KnownHostsState::unknown || facts.state == KnownHostsState::no_file) {
            rc = ssh_session_update_known_hosts(session);
        }
        ::close(fd);
        if (decide_host_key(facts.state, true) == HostKeyAction::refuse) {
            throw SshError(FailureClass::answered, "host key", host_key_refusal(facts));
        }
        if (rc != SSH_OK) {
            fail_ssh("host key", fmt::format("cannot record the host key in {}", facts.known_hosts));
        }
        note = fmt::format("{} key {} recorded in {}", facts.key_type, facts.fingerprint, facts.known_hosts);
    }
};

PasswordSession::PasswordSession(const SshTarget& target, const SshSettings& settings, const std::string& password)
    : m_impl(std::make_unique<Impl>()) {
    ssh_init();
    m_impl->settings = settings;
    m_impl->connect(target, password);
}

PasswordSession::~PasswordSession() = default;

const std::string& PasswordSession::host_key_note() const {
    return m_impl->note;
}

ExecResult PasswordSession::run(const std::string& command, std::string_view input) {
    ssh_session s = m_impl->session;
    ssh_channel ch = ssh_channel_new(s);
    if (ch == nullptr) {
        m_impl->fail_ssh("", "cannot open a channel");
    }
    struct Closer {
        ssh_channel ch;
        ~Closer() {
            ssh_channel_close(ch);
            ssh_channel_free(ch);
        }
    } closer{ch};
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
        m_impl->fail_ssh("", "cannot start the command");
    }
    while (!input.empty()) {
        const int n =
            ssh_channel_write(ch, input.data(), static_cast<uint32_t>(std::min<std::size_t>(input.size(), 32768)));
        if (n <= 0) {
            m_impl->fail_ssh("", "cannot write to the command");
        }
        input.remove_prefix(static_cast<std::size_t>(n));
    }
    ssh_channel_send_eof(ch);
    ExecResult result;
    const auto deadline = std::chrono::steady_clock::now() + m_impl->settings.io_timeout;
    std::vector<char> buf(32768);
    for (;;) {
        bool progress = false;
        for (int is_stderr : {0, 1}) {
            const int n = ssh_channel_read_nonblocking(ch, buf.data(), static_cast<uint32_t>(buf.size()), is_stderr);
            if (n == SSH_ERROR) {
                m_impl->fail_ssh("", "reading the command's output");
            }
            if (n > 0) {
                (is_stderr != 0 ? result.err : result.out).append(buf.data(), static_cast<std::size_t>(n));
                progress = true;
            }
        }
        if (progress) {
            continue;
        }
        if (ssh_channel_is_eof(ch) != 0 || ssh_channel_is_closed(ch) != 0) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline || interrupted()) {
            throw SshError(FailureClass::answered, "", interrupted() ? "interrupted" : "the command timed out");
        }
        ssh_channel_poll_timeout(ch, 100, 0);
    }
    result.exit_status = ssh_channel_get_exit_status(ch);
    return result;
}

void PasswordSession::upload(const std::string& /*local_path*/, const std::string& remote_path, mode_t /*mode*/) {
    fail(exit_code::k_usage, "bootstrap does not upload files ({})", remote_path);
}

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
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fail(exit_code::k_usage, "no terminal to ask for the password on: use --password-file FILE");
    }
    struct Tty {
        int fd;
        termios saved{};
        bool restore = false;
        ~Tty() {
            if (restore) {
                ::tcsetattr(fd, TCSAFLUSH, &saved);
            }
            ::close(fd);
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
