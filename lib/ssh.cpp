#include "ssh.h"
#include "options.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <limits>
#include <mutex>
#include <random>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "error.h"
#include "tool.h"

namespace wp {

using Clock = std::chrono::steady_clock;

FailureClass classify_connect_failure(bool banner_received) {
    return banner_received ? FailureClass::answered : FailureClass::unreachable;
}

HostKeyAction decide_host_key(KnownHostsState state, bool accept_new) {
    switch (state) {
    case KnownHostsState::ok:
        return HostKeyAction::accept;
    case KnownHostsState::unknown:
    case KnownHostsState::no_file:
        return accept_new ? HostKeyAction::record : HostKeyAction::refuse;
    case KnownHostsState::changed:
    case KnownHostsState::other_type:
    case KnownHostsState::error:
        return HostKeyAction::refuse;
    }
    return HostKeyAction::refuse;
}

std::string host_key_refusal(const HostKeyFacts& f) {
    switch (f.state) {
    case KnownHostsState::changed:
        return fmt::format("{} offered {} key {}, which does not match the key recorded in {}: the key has "
                           "CHANGED (the host was reinstalled, or someone is in the middle); refused",
                           f.endpoint, f.key_type, f.fingerprint, f.known_hosts);
    case KnownHostsState::other_type:
        return fmt::format("{} offered {} key {}, but {} records a key of another type for it: refused as a "
                           "possibly CHANGED key",
                           f.endpoint, f.key_type, f.fingerprint, f.known_hosts);
    case KnownHostsState::unknown:
    case KnownHostsState::no_file:
        return fmt::format("{} offered {} key {}, which is not in {}; check it, then record it with --accept-new",
                           f.endpoint, f.key_type, f.fingerprint, f.known_hosts);
    case KnownHostsState::error:
        return fmt::format("cannot check {} key {} of {}: {} cannot be read", f.key_type, f.fingerprint,
                           f.endpoint, f.known_hosts);
    case KnownHostsState::ok:
        break;
    }
    return fmt::format("{} offered {} key {}", f.endpoint, f.key_type, f.fingerprint);
}

std::string shell_quote(std::string_view word) {
    std::string out = "'";
    for (char c : word) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    out += '\'';
    return out;
}

std::string ExecResult::describe() const {
    std::string last;
    std::string_view rest = err;
    while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
            last = std::string(line);
        }
        if (nl == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(nl + 1);
    }
    while (!last.empty() && (last.back() == '\r' || last.back() == ' ')) {
        last.pop_back();
    }
    std::string what = !exit_signal.empty() ? fmt::format("killed by signal {}", exit_signal)
                       : exit_status >= 0  ? fmt::format("exit status {}", exit_status)
                                           : std::string("no exit status");
    return last.empty() ? what : fmt::format("{}: {}", what, last);
}

namespace {

std::once_flag g_libssh_init;

void init_libssh() {
    std::call_once(g_libssh_init, [] { ssh_init(); });
}

KnownHostsState known_hosts_state(enum ssh_known_hosts_e e) {
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

std::string sftp_error_text(int code) {
    switch (code) {
    case SSH_FX_EOF:
        return "end of file";
    case SSH_FX_NO_SUCH_FILE:
        return "No such file or directory";
    case SSH_FX_PERMISSION_DENIED:
        return "Permission denied";
    case SSH_FX_FAILURE:
        return "failure";
    case SSH_FX_BAD_MESSAGE:
        return "bad message";
    case SSH_FX_NO_CONNECTION:
        return "no connection";
    case SSH_FX_CONNECTION_LOST:
        return "connection lost";
    case SSH_FX_OP_UNSUPPORTED:
        return "operation unsupported";
    case SSH_FX_FILE_ALREADY_EXISTS:
        return "File exists";
    case SSH_FX_WRITE_PROTECT:
        return "write protected";
    case SSH_FX_NO_MEDIA:
        return "no media";
    default:
        return fmt::format("SFTP error {}", code);
    }
}

// Cuts a session's socket when its deadline passes, when it has been silent
// for too long during a blocking step, or on Ctrl-C: blocking SFTP calls do
// not honour SSH_OPTIONS_TIMEOUT, but they do return once the socket is shut.
class Watchdog {
public:
    Watchdog() = default;
    ~Watchdog() { stop(); }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    void start(int fd) {
        std::lock_guard lock(m_mutex);
        m_fd = fd;
        if (!m_thread.joinable()) {
            m_thread = std::thread([this] { loop(); });
        }
    }

    void stop() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_cv.notify_all();
        if (m_thread.joinable()) {
            m_thread.join();
        }
    }

    void set_deadline(Clock::time_point deadline) {
        {
            std::lock_guard lock(m_mutex);
            m_deadline = deadline;
        }
        m_cv.notify_all();
    }

    void arm_idle(std::chrono::seconds limit) {
        {
            std::lock_guard lock(m_mutex);
            m_idle_limit = limit;
            m_idle_at = Clock::now() + limit;
            m_idle_armed = true;
        }
        m_cv.notify_all();
    }

    void kick() {
        std::lock_guard lock(m_mutex);
        if (m_idle_armed) {
            m_idle_at = Clock::now() + m_idle_limit;
        }
    }

    void disarm_idle() {
        std::lock_guard lock(m_mutex);
        m_idle_armed = false;
    }

    /// Why the connection was cut, or empty.
    std::string fired() const {
        std::lock_guard lock(m_mutex);
        return m_reason;
    }

private:
    void loop() {
        std::unique_lock lock(m_mutex);
        while (!m_stop) {
            const auto now = Clock::now();
            std::string why;
            // On Ctrl-C only blocking steps are cut here: exec notices the
            // interrupt itself and signals the remote command first.
            if (interrupted() && m_idle_armed) {
                why = "interrupted";
            } else if (now >= m_deadline) {
                why = "time limit for the host reached";
            } else if (m_idle_armed && now >= m_idle_at) {
                why = fmt::format("timed out: no data for {} s", m_idle_limit.count());
            }
            if (!why.empty()) {
                m_reason = why;
                if (m_fd >= 0) {
                    ::shutdown(m_fd, SHUT_RDWR);
                }
                return;
            }
            auto wake = std::min(now + std::chrono::milliseconds(100), m_deadline);
            if (m_idle_armed) {
                wake = std::min(wake, m_idle_at);
            }
            m_cv.wait_until(lock, wake);
        }
    }

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::thread m_thread;
    int m_fd = -1;
    bool m_stop = false;
    Clock::time_point m_deadline = Clock::time_point::max();
    bool m_idle_armed = false;
    std::chrono::seconds m_idle_limit{0};
    Clock::time_point m_idle_at = Clock::time_point::max();
    std::string m_reason;
};

// Arms the watchdog's silence limit for the length of one blocking step.
class IdleGuard {
public:
    IdleGuard(Watchdog& dog, std::chrono::seconds limit) : m_dog(dog) { m_dog.arm_idle(limit); }
    ~IdleGuard() { m_dog.disarm_idle(); }
    IdleGuard(const IdleGuard&) = delete;
    IdleGuard& operator=(const IdleGuard&) = delete;

private:
    Watchdog& m_dog;
};

std::string option_string(ssh_session session, enum ssh_options_e option) {
    char* value = nullptr;
    if (ssh_options_get(session, option, &value) != SSH_OK || value == nullptr) {
        return {};
    }
    std::string out = value;
    ssh_string_free_char(value);
    return out;
}

// libssh keeps a channel closed before the server closed it until the
// server's close arrives, and calls its callbacks meanwhile: they are removed
// first, since they point into the exec call that is over.
struct ChannelCloser {
    ssh_channel_callbacks_struct* callbacks = nullptr;
    void operator()(ssh_channel ch) const {
        if (ch != nullptr) {
            if (callbacks != nullptr) {
                ssh_remove_channel_callbacks(ch, callbacks);
            }
            if (ssh_channel_is_open(ch) != 0) {
                ssh_channel_close(ch);
            }
            ssh_channel_free(ch);
        }
    }
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelCloser>;

extern "C" void on_exit_signal(ssh_session /*session*/, ssh_channel /*channel*/, const char* signal, int /*core*/,
                               const char* /*errmsg*/, const char* /*lang*/, void* userdata) {
    auto* result = static_cast<ExecResult*>(userdata);
    result->exit_signal = signal != nullptr ? signal : "?";
}

constexpr std::size_t k_max_stderr = 64 * 1024;
constexpr std::uint32_t k_sftp_chunk = 32 * 1024;
constexpr std::size_t k_sftp_in_flight = 64;
constexpr std::string_view k_pid_marker = "wp-pid:";

} // namespace

SshSettings ssh_settings_from(const CommonOptions& options, const std::string& ssh_config, bool accept_new) {
    SshSettings ssh;
    ssh.ssh_config = ssh_config;
    ssh.identity = options.identity;
    ssh.known_hosts = options.known_hosts;
    ssh.accept_new = accept_new;
    ssh.connect_timeout = std::chrono::seconds(options.connect_timeout);
    ssh.io_timeout = std::chrono::seconds(3 * options.connect_timeout);
    check_ssh_settings(ssh);
    return ssh;
}

void check_ssh_settings(const SshSettings& settings) {
    init_libssh();
    if (!settings.identity.empty()) {
        ssh_key key = nullptr;
        if (::access(settings.identity.c_str(), R_OK) != 0) {
            fail_errno(errno, fmt::format("cannot read identity {}", settings.identity));
        }
        if (ssh_pki_import_privkey_file(settings.identity.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
            fail(exit_code::k_config,
                 "cannot load identity {}: not a private key, or protected by a passphrase (use an agent then)",
                 settings.identity);
        }
        ssh_key_free(key);
    }
    if (!settings.ssh_config.empty() && ::access(settings.ssh_config.c_str(), R_OK) != 0) {
        const int err = errno;
        fail(exit_code::k_config, "cannot read ssh configuration {}: {}", settings.ssh_config, std::strerror(err));
    }
}

struct SshSession::Impl {
    SshTarget target;
    SshSettings settings;
    ssh_session session = nullptr;
    sftp_session sftp = nullptr;
    std::string endpoint;
    Watchdog watchdog;

    ~Impl() {
        watchdog.stop();
        if (sftp != nullptr) {
            sftp_free(sftp);
        }
        if (session != nullptr) {
            if (ssh_is_connected(session) != 0) {
                ssh_disconnect(session);
            }
            ssh_free(session);
        }
    }

    // A failed step of a connected session: a cut by the watchdog says why.
    [[noreturn]] void fail_step(std::string_view what, std::string_view detail = {}) const {
        std::string why = watchdog.fired();
        if (why.empty()) {
            why = !detail.empty() ? std::string(detail) : std::string(ssh_get_error(session));
            if (why.empty()) {
                why = "connection lost";
            }
        }
        throw SshError(FailureClass::answered, "",
                       what.empty() ? why : fmt::format("{}: {}", what, why));
    }

    [[noreturn]] void fail_sftp(std::string_view what) const {
        const int code = sftp != nullptr ? sftp_get_error(sftp) : 0;
        const bool protocol_error = code == SSH_FX_OK || code == SSH_FX_CONNECTION_LOST ||
                                    code == SSH_FX_NO_CONNECTION || code == SSH_FX_BAD_MESSAGE;
        if (!watchdog.fired().empty() || protocol_error) {
            fail_step(what);
        }
        fail_step(what, sftp_error_text(code));
    }

    void connect() {
        init_libssh();
        session = ssh_new();
        if (session == nullptr) {
            throw Error(exit_code::k_io, "cannot create an SSH session: out of memory");
        }
        auto set = [this](enum ssh_options_e option, const void* value, std::string_view what) {
            if (ssh_options_set(session, option, value) != SSH_OK) {
                throw SshError(FailureClass::answered, "connect",
                               fmt::format("cannot set {}: {}", what, ssh_get_error(session)));
            }
        };
        // Host first, then ssh_config, then our overrides: connecting would
        // otherwise parse ssh_config itself and override them (the port).
        set(SSH_OPTIONS_HOST, target.address.c_str(), "host");
        const char* config = settings.ssh_config.empty() ? nullptr : settings.ssh_config.c_str();
        if (ssh_options_parse_config(session, config) != SSH_OK) {
            throw Error(exit_code::k_config,
                        fmt::format("cannot parse ssh configuration {}: {}",
                                    config != nullptr ? config : "~/.ssh/config", ssh_get_error(session)));
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
        const long connect_seconds = static_cast<long>(settings.connect_timeout.count());
        set(SSH_OPTIONS_TIMEOUT, &connect_seconds, "timeout");
        const int yes = 1;
        set(SSH_OPTIONS_NODELAY, &yes, "nodelay");
        // Off (e.g. from ssh_config), libssh reports a CHANGED key as OK.
        set(SSH_OPTIONS_STRICTHOSTKEYCHECK, &yes, "strict host key checking");

        unsigned int port = 0;
        ssh_options_get_port(session, &port);
        std::string host = option_string(session, SSH_OPTIONS_HOST);
        endpoint = fmt::format("{}:{}", host.empty() ? target.address : host, port);

        if (ssh_connect(session) != SSH_OK) {
            const bool banner = ssh_get_serverbanner(session) != nullptr;
            throw SshError(classify_connect_failure(banner), "connect", ssh_get_error(session));
        }
        verify_host_key();
        authenticate();
        // From here on libssh's timeout bounds each channel read.
        const long io_seconds = static_cast<long>(settings.io_timeout.count());
        set(SSH_OPTIONS_TIMEOUT, &io_seconds, "timeout");
        watchdog.start(ssh_get_fd(session));
    }

    void verify_host_key() {
        ssh_key key = nullptr;
        if (ssh_get_server_publickey(session, &key) != SSH_OK) {
            throw SshError(FailureClass::answered, "host key", ssh_get_error(session));
        }
        HostKeyFacts facts;
        facts.endpoint = endpoint;
        facts.key_type = ssh_key_type_to_char(ssh_key_type(key)) ? ssh_key_type_to_char(ssh_key_type(key)) : "?";
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
        facts.state = known_hosts_state(ssh_session_is_known_server(session));

        switch (decide_host_key(facts.state, settings.accept_new)) {
        case HostKeyAction::accept:
            return;
        case HostKeyAction::refuse:
            throw SshError(FailureClass::answered, "host key", host_key_refusal(facts));
        case HostKeyAction::record:
            record_host_key(facts);
            return;
        }
    }

    // Appends under an flock of the file itself, so that parallel sessions
    // (and parallel runs) never interleave their lines.
    void record_host_key(const HostKeyFacts& facts) {
        const std::string& file = facts.known_hosts;
        const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            const int err = errno;
            throw SshError(FailureClass::answered, "host key",
                           fmt::format("cannot record {} key {} of {} in {}: {}", facts.key_type, facts.fingerprint,
                                       facts.endpoint, file, std::strerror(err)));
        }
        ::flock(fd, LOCK_EX);
        const auto state = known_hosts_state(ssh_session_is_known_server(session));
        int rc = SSH_OK;
        if (state == KnownHostsState::unknown || state == KnownHostsState::no_file) {
            rc = ssh_session_update_known_hosts(session);
        }
        ::close(fd);
        if (state != KnownHostsState::ok && state != KnownHostsState::unknown && state != KnownHostsState::no_file) {
            HostKeyFacts now = facts;
            now.state = state;
            throw SshError(FailureClass::answered, "host key", host_key_refusal(now));
        }
        if (rc != SSH_OK) {
            throw SshError(FailureClass::answered, "host key",
                           fmt::format("cannot record {} key {} of {} in {}: {}", facts.key_type, facts.fingerprint,
                                       facts.endpoint, file, ssh_get_error(session)));
        }
        info(1, "{}: recorded {} key {} of {} in {}", target.name, facts.key_type, facts.fingerprint,
             facts.endpoint, file);
    }

    void authenticate() {
        int rc = SSH_AUTH_ERROR;
        std::string how;
        if (!settings.identity.empty()) {
            // The configured key alone: an agent holding many keys would
            // otherwise exhaust the server's MaxAuthTries before it.
            ssh_key key = nullptr;
            if (ssh_pki_import_privkey_file(settings.identity.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
                throw Error(exit_code::k_config, fmt::format("cannot load identity {}", settings.identity));
            }
            rc = ssh_userauth_publickey(session, nullptr, key);
            ssh_key_free(key);
            how = fmt::format("key {}", settings.identity);
        } else {
            rc = ssh_userauth_publickey_auto(session, nullptr, nullptr);
            how = "the agent's and the default keys";
        }
        if (rc == SSH_AUTH_SUCCESS) {
            return;
        }
        const std::string user = option_string(session, SSH_OPTIONS_USER);
        if (rc == SSH_AUTH_ERROR) {
            throw SshError(FailureClass::answered, "authentication",
                           fmt::format("as {} with {}: {}", user, how, ssh_get_error(session)));
        }
        throw SshError(FailureClass::answered, "authentication",
                       fmt::format("{} refused for user {}", how, user));
    }

    ExecResult exec(const std::string& command, const ExecOptions& options, bool track_pid);

    void ensure_sftp() {
        if (sftp != nullptr) {
            return;
        }
        IdleGuard guard(watchdog, settings.io_timeout);
        sftp = sftp_new(session);
        if (sftp == nullptr) {
            fail_step("sftp");
        }
        if (sftp_init(sftp) != SSH_OK) {
            const int code = sftp_get_error(sftp);
            sftp_free(sftp);
            sftp = nullptr;
            fail_step("sftp", code != SSH_FX_OK ? sftp_error_text(code) : std::string());
        }
    }
};

SshSession::SshSession(const SshTarget& target, const SshSettings& settings) : m_impl(std::make_unique<Impl>()) {
    m_impl->target = target;
    m_impl->settings = settings;
    m_impl->connect();
}

SshSession::~SshSession() = default;

void SshSession::set_deadline(std::chrono::steady_clock::time_point deadline) {
    m_impl->watchdog.set_deadline(deadline);
}

std::string SshSession::server_banner() const {
    const char* banner = ssh_get_serverbanner(m_impl->session);
    return banner != nullptr ? banner : "";
}

ExecResult SshSession::exec(const std::string& command, const ExecOptions& options) {
    return m_impl->exec(command, options, true);
}

ExecResult SshSession::Impl::exec(const std::string& command, const ExecOptions& options, bool track_pid) {
    Impl& s = *this;
    ExecResult result;
    // Declared before the channel, so that both outlive it.
    ssh_channel_callbacks_struct callbacks {};
    callbacks.userdata = &result;
    callbacks.channel_exit_signal_function = on_exit_signal;
    ssh_callbacks_init(&callbacks);
    ChannelPtr channel(ssh_channel_new(s.session), ChannelCloser{&callbacks});
    if (!channel) {
        s.fail_step("cannot open a channel");
    }
    ssh_add_channel_callbacks(channel.get(), &callbacks);

    if (ssh_channel_open_session(channel.get()) != SSH_OK) {
        s.fail_step("cannot open a channel");
    }
    // The command runs as the process-group leader sshd made of the login
    // shell; its pid, announced first on stderr, lets a timeout end the whole
    // group from a second channel. (sshd refuses "signal" requests on root
    // logins, which skip privilege separation.)
    const std::string wrapped =
        track_pid ? fmt::format("printf '{}%s\\n' \"$$\" >&2; exec /bin/sh -c {}", k_pid_marker, shell_quote(command))
                  : command;
    long remote_pid = 0;
    if (ssh_channel_request_exec(channel.get(), wrapped.c_str()) != SSH_OK) {
        s.fail_step("cannot start the command");
    }
    std::string_view input = options.stdin_data;
    while (!input.empty()) {
        const auto chunk = static_cast<uint32_t>(std::min<std::size_t>(input.size(), 32768));
        const int n = ssh_channel_write(channel.get(), input.data(), chunk);
        if (n <= 0) {
            s.fail_step("cannot write to the command");
        }
        input.remove_prefix(static_cast<std::size_t>(n));
    }
    ssh_channel_send_eof(channel.get());

    const auto started = Clock::now();
    const auto deadline = options.timeout.count() > 0 ? started + options.timeout : Clock::time_point::max();
    auto last_data = started;
    // Closing the channel alone leaves a command without a PTY running.
    auto end_remote_command = [&] {
        ssh_channel_request_send_signal(channel.get(), "TERM");
        channel.reset();
        if (remote_pid > 1 && s.watchdog.fired().empty()) {
            try {
                ExecOptions kill_options;
                kill_options.timeout = std::chrono::seconds(5);
                s.exec(fmt::format("kill -TERM -- -{0} 2>/dev/null || kill -TERM {0}", remote_pid), kill_options,
                       false);
            } catch (const SshError&) {
                // the host is going away anyway
            }
        }
    };
    auto stop_command = [&](std::string_view why) {
        end_remote_command();
        throw SshError(FailureClass::answered, "", std::string(why));
    };
    auto take_pid = [&] {
        // "wp-pid:N\n", normally the first line of stderr.
        const auto at = result.err.find(k_pid_marker);
        if (at == std::string::npos || (at > 0 && result.err[at - 1] != '\n')) {
            return;
        }
        const auto nl = result.err.find('\n', at);
        if (nl == std::string::npos) {
            return;
        }
        const std::string digits = result.err.substr(at + k_pid_marker.size(), nl - at - k_pid_marker.size());
        if (!digits.empty() && digits.size() < 10 && std::all_of(digits.begin(), digits.end(), [](char c) {
                return c >= '0' && c <= '9';
            })) {
            remote_pid = std::stol(digits);
        }
        result.err.erase(at, nl - at + 1);
    };
    std::vector<char> buf(64 * 1024);
    for (;;) {
        bool progress = false;
        const int n = ssh_channel_read_nonblocking(channel.get(), buf.data(), static_cast<uint32_t>(buf.size()), 0);
        if (n == SSH_ERROR) {
            s.fail_step("reading the command's output");
        }
        if (n > 0) {
            progress = true;
            const std::string_view data(buf.data(), static_cast<std::size_t>(n));
            if (options.on_stdout) {
                try {
                    options.on_stdout(data);
                } catch (...) {
                    end_remote_command();
                    throw;
                }
            } else {
                result.out.append(data);
            }
        }
        const int e = ssh_channel_read_nonblocking(channel.get(), buf.data(), static_cast<uint32_t>(buf.size()), 1);
        if (e == SSH_ERROR) {
            s.fail_step("reading the command's output");
        }
        if (e > 0) {
            progress = true;
            if (result.err.size() < k_max_stderr) {
                result.err.append(buf.data(), std::min<std::size_t>(static_cast<std::size_t>(e),
                                                                     k_max_stderr - result.err.size()));
            }
            if (track_pid && remote_pid == 0) {
                take_pid();
            }
        }
        if (progress) {
            last_data = Clock::now();
            continue;
        }
        // A timed-out read returns 0 just like EOF: only this flag tells them apart.
        if (ssh_channel_is_eof(channel.get()) != 0 || ssh_channel_is_closed(channel.get()) != 0) {
            break;
        }
        // The kill command of an interrupted exec (untracked) must still run.
        if (track_pid && interrupted()) {
            stop_command("interrupted");
        }
        if (!s.watchdog.fired().empty()) {
            s.fail_step("");
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            stop_command(fmt::format("timed out after {} s", options.timeout.count()));
        }
        if (options.idle_timeout.count() > 0 && now >= last_data + options.idle_timeout) {
            stop_command(fmt::format("timed out: no output for {} s", options.idle_timeout.count()));
        }
        if (ssh_channel_poll_timeout(channel.get(), 100, 0) == SSH_ERROR) {
            s.fail_step("reading the command's output");
        }
    }
    if (track_pid && remote_pid == 0) {
        take_pid();
    }
    result.exit_status = ssh_channel_get_exit_status(channel.get());
    if (result.exit_status == -1 && result.exit_signal.empty() && !s.watchdog.fired().empty()) {
        s.fail_step("");
    }
    return result;
}

std::uint64_t SshSession::sftp_download(const std::string& remote_path, std::uint64_t offset,
                                        const std::function<void(std::string_view)>& sink) {
    Impl& s = *m_impl;
    s.ensure_sftp();
    IdleGuard guard(s.watchdog, s.settings.io_timeout);
    sftp_file file = sftp_open(s.sftp, remote_path.c_str(), O_RDONLY, 0);
    if (file == nullptr) {
        s.fail_sftp("open");
    }
    struct FileCloser {
        sftp_file f;
        ~FileCloser() { sftp_close(f); }
    } closer{file};
    if (offset > 0 && sftp_seek64(file, offset) != 0) {
        s.fail_sftp("seek");
    }
    // Read up to the size the file has now: a file that keeps growing is
    // not chased (near its end every reply is short, and each short reply
    // restarts the pipeline). The caller's checksum tells it grew.
    std::uint64_t end = std::numeric_limits<std::uint64_t>::max();
    if (sftp_attributes attributes = sftp_fstat(file)) {
        if ((attributes->flags & SSH_FILEXFER_ATTR_SIZE) != 0) {
            end = attributes->size;
        }
        sftp_attributes_free(attributes);
    }

    // Requests stay in flight while earlier replies are consumed. A short
    // reply means end of file or a short read: what is in flight past it is
    // discarded and reading restarts right after the data received.
    struct Request {
        int id;
        std::uint32_t length;
    };
    std::deque<Request> in_flight;
    auto discard_in_flight = [&] {
        std::vector<char> scratch(k_sftp_chunk);
        for (const auto& r : in_flight) {
            sftp_async_read(file, scratch.data(), r.length, static_cast<uint32_t>(r.id));
        }
        in_flight.clear();
    };
    std::vector<char> buf(k_sftp_chunk);
    std::uint64_t position = offset;
    std::uint64_t requested = offset;
    std::uint64_t received = 0;
    try {
        for (;;) {
            while (in_flight.size() < k_sftp_in_flight && requested < end) {
                const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(k_sftp_chunk, end - requested));
                const int id = sftp_async_read_begin(file, length);
                if (id < 0) {
                    s.fail_sftp("read");
                }
                in_flight.push_back({id, length});
                requested += length;
            }
            if (in_flight.empty()) {
                break; // all of the size at open received
            }
            const Request r = in_flight.front();
            in_flight.pop_front();
            const int n = sftp_async_read(file, buf.data(), r.length, static_cast<uint32_t>(r.id));
            if (n < 0) {
                s.fail_sftp("read");
            }
            if (n > 0) {
                sink(std::string_view(buf.data(), static_cast<std::size_t>(n)));
                position += static_cast<std::uint64_t>(n);
                received += static_cast<std::uint64_t>(n);
                s.watchdog.kick();
            }
            if (static_cast<std::uint32_t>(n) < r.length) {
                discard_in_flight();
                if (n == 0) {
                    break;
                }
                if (sftp_seek64(file, position) != 0) {
                    s.fail_sftp("seek");
                }
                requested = position;
            }
        }
    } catch (...) {
        if (s.watchdog.fired().empty()) {
            discard_in_flight(); // else libssh keeps the replies queued for ever
        }
        throw;
    }
    return received;
}

void SshSession::sftp_upload(const std::string& local_path, const std::string& remote_path, mode_t mode) {
    Impl& s = *m_impl;
    const int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail_errno(errno, fmt::format("cannot open {}", local_path));
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } fd_closer{fd};
    s.ensure_sftp();
    IdleGuard guard(s.watchdog, s.settings.io_timeout);
    const auto slash = remote_path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : remote_path.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? remote_path : remote_path.substr(slash + 1);
    std::random_device rd;
    const std::string temp = fmt::format("{}.{}.wp-tmp.{:08x}", dir, base, rd());
    sftp_file file = sftp_open(s.sftp, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode & 07777);
    if (file == nullptr) {
        s.fail_sftp(fmt::format("create {}", temp));
    }
    bool done = false;
    struct TempRemover {
        Impl& s;
        const std::string& temp;
        const bool& done;
        ~TempRemover() {
            if (!done && s.sftp != nullptr && s.watchdog.fired().empty()) {
                sftp_unlink(s.sftp, temp.c_str());
            }
        }
    } remover{s, temp, done};
    {
        struct FileCloser {
            sftp_file f;
            ~FileCloser() {
                if (f != nullptr) {
                    sftp_close(f);
                }
            }
        } closer{file};
        std::vector<char> buf(k_sftp_chunk);
        for (;;) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                fail_errno(errno, fmt::format("cannot read {}", local_path));
            }
            if (n == 0) {
                break;
            }
            std::size_t off = 0;
            while (off < static_cast<std::size_t>(n)) {
                const ssize_t w = sftp_write(file, buf.data() + off, static_cast<std::size_t>(n) - off);
                if (w < 0) {
                    s.fail_sftp(fmt::format("write {}", temp));
                }
                off += static_cast<std::size_t>(w);
                s.watchdog.kick();
            }
        }
        closer.f = nullptr;
        if (sftp_close(file) != SSH_OK) {
            s.fail_sftp(fmt::format("close {}", temp));
        }
    }
    // The remote umask applied at creation; the mode asked for is exact.
    if (sftp_chmod(s.sftp, temp.c_str(), mode & 07777) != 0) {
        s.fail_sftp(fmt::format("chmod {}", temp));
    }
    if (sftp_rename(s.sftp, temp.c_str(), remote_path.c_str()) != 0) {
        // SFTP v3 (OpenSSH) renames only onto a free name, and libssh 0.10
        // does not send the posix-rename extension: rename(2) through mv
        // replaces atomically.
        ExecOptions mv_options;
        mv_options.timeout = s.settings.io_timeout;
        const auto r = s.exec(fmt::format("mv -f -- {} {}", shell_quote(temp), shell_quote(remote_path)), mv_options,
                              true);
        if (!r.ok()) {
            throw SshError(FailureClass::answered, "",
                           fmt::format("rename {} to {}: {}", temp, remote_path, r.describe()));
        }
    }
    done = true;
}

} // namespace wp
