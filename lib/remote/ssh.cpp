#include "remote/ssh.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <fnmatch.h>
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

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "remote/sftp_client.h"

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
        return fmt::format("cannot check {} key {} of {}: {} cannot be read", f.key_type, f.fingerprint, f.endpoint,
                           f.known_hosts);
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
                       : exit_status >= 0   ? fmt::format("exit status {}", exit_status)
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
// libssh 0.10 keeps a channel's receive window near 1.28 MB, which caps a
// stream at about 25 MB/s over a 50 ms round trip; a read asking for more
// grows the window to what it asks (ssh_channel_read_timeout), so streamed
// output is read in blocks this large (80 MB/s at 50 ms).
constexpr std::uint32_t k_stream_window = 4 * 1024 * 1024;
// SFTP reads of 255 KiB (the most OpenSSH's sftp-server serves at once, and
// what its own client asks for; a server that sends less is asked again for
// the rest), a window's worth in flight; writes of 32 KiB, which every
// server takes.
constexpr std::uint32_t k_sftp_read_chunk = 255 * 1024;
constexpr std::uint32_t k_sftp_write_chunk = 32 * 1024;
constexpr std::string_view k_pid_marker = "wp-pid:";
constexpr const char* k_ciphers = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
                                  "aes128-ctr,aes256-ctr,aes192-ctr";

// The keywords of OpenSSH's ssh_config(5) (9.x), lower case, deprecated ones
// included: libssh ignores what it does not know without a word, OpenSSH
// refuses it; we say so and go on.
bool is_ssh_config_keyword(std::string_view keyword) {
    static constexpr std::string_view k_keywords =
        " host match addkeystoagent addressfamily batchmode bindaddress bindinterface canonicaldomains"
        " canonicalizefallbacklocal canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames"
        " casignaturealgorithms certificatefile channeltimeout checkhostip ciphers clearallforwardings compression"
        " connectionattempts connecttimeout controlmaster controlpath controlpersist dynamicforward"
        " enableescapecommandline enablesshkeysign escapechar exitonforwardfailure fingerprinthash"
        " forkafterauthentication forwardagent forwardx11 forwardx11timeout forwardx11trusted gatewayports"
        " globalknownhostsfile gssapiauthentication gssapidelegatecredentials hashknownhosts"
        " hostbasedacceptedalgorithms hostbasedauthentication hostbasedkeytypes hostkeyalgorithms hostkeyalias"
        " hostname identitiesonly identityagent identityfile ignoreunknown include ipqos"
        " kbdinteractiveauthentication kbdinteractivedevices kexalgorithms knownhostscommand localcommand"
        " localforward loglevel logverbose macs nohostauthenticationforlocalhost numberofpasswordprompts"
        " obscurekeystroketiming passwordauthentication permitlocalcommand permitremoteopen pkcs11provider port"
        " preferredauthentications proxycommand proxyjump proxyusefdpass pubkeyacceptedalgorithms"
        " pubkeyacceptedkeytypes pubkeyauthentication rekeylimit remotecommand remoteforward requesttty"
        " requiredrsasize revokedhostkeys securitykeyprovider sendenv serveralivecountmax serveraliveinterval"
        " sessiontype setenv stdinnull streamlocalbindmask streamlocalbindunlink stricthostkeychecking"
        " syslogfacility tag tcpkeepalive tunnel tunneldevice updatehostkeys user userknownhostsfile"
        " verifyhostkeydns visualhostkey xauthlocation challengeresponseauthentication protocol cipher"
        " rsaauthentication rhostsrsaauthentication useroaming useprivilegedport gssapikeyexchange"
        " gssapiclientidentity gssapiserveridentity gssapirenewalforcesrekey gssapitrustdns ";
    return k_keywords.find(fmt::format(" {} ", keyword)) != std::string_view::npos;
}

// Warns, as OpenSSH would refuse them, about the lines of an ssh_config file
// whose keyword OpenSSH does not know (and IgnoreUnknown does not cover).
void warn_unknown_ssh_config_keywords(const std::string& path, std::string_view text) {
    std::vector<std::string> ignored; // IgnoreUnknown patterns seen so far
    int number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++number;
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos || line[first] == '#') {
            continue;
        }
        line.remove_prefix(first);
        const auto stop = line.find_first_of(" \t\r=");
        std::string keyword(line.substr(0, stop));
        std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (keyword == "ignoreunknown" && stop != std::string_view::npos) {
            std::string value(line.substr(stop));
            std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) {
                return c == '=' || c == ',' ? ' ' : static_cast<char>(std::tolower(c));
            });
            std::size_t at = 0;
            while ((at = value.find_first_not_of(" \t\r", at)) != std::string::npos) {
                const auto to = value.find_first_of(" \t\r", at);
                ignored.push_back(value.substr(at, to - at));
                at = to;
            }
        }
        if (is_ssh_config_keyword(keyword) || std::any_of(ignored.begin(), ignored.end(), [&](const std::string& p) {
                return ::fnmatch(p.c_str(), keyword.c_str(), 0) == 0;
            })) {
            continue;
        }
        warn("{}: line {}: unknown ssh_config keyword '{}', ignored", path, number, line.substr(0, stop));
    }
}

} // namespace

void check_ssh_settings(const SshSettings& settings) {
    init_libssh();
    if (!settings.identity.empty()) {
        ssh_key key = nullptr;
        if (::access(settings.identity.c_str(), R_OK) != 0) {
            // A setting that does not work, whatever the reason: 78, as for ssh_config.
            const int err = errno;
            fail(exit_code::k_config, "cannot read identity {}: {}", settings.identity, std::strerror(err));
        }
        if (ssh_pki_import_privkey_file(settings.identity.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
            fail(exit_code::k_config,
                 "cannot load identity {}: not a private key, or protected by a passphrase (use an agent then)",
                 settings.identity);
        }
        ssh_key_free(key);
    }
    if (!settings.ssh_config.empty()) {
        if (::access(settings.ssh_config.c_str(), R_OK) != 0) {
            const int err = errno;
            fail(exit_code::k_config, "cannot read ssh configuration {}: {}", settings.ssh_config, std::strerror(err));
        }
        std::string text;
        try {
            text = read_file(settings.ssh_config);
        } catch (const Error& e) {
            throw Error(exit_code::k_config, e.what());
        }
        warn_unknown_ssh_config_keywords(settings.ssh_config, text);
    }
}

struct SshSession::Impl {
    SshTarget target;
    SshSettings settings;
    ssh_session session = nullptr;
    sftp_session sftp = nullptr;
    std::string endpoint;
    std::string host_key_note;
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
        throw SshError(FailureClass::answered, "", what.empty() ? why : fmt::format("{}: {}", what, why));
    }

    [[noreturn]] void fail_sftp(std::string_view what) const {
        const int code = sftp != nullptr ? sftp_get_error(sftp) : 0;
        const bool protocol_error = code == SSH_FX_OK || code == SSH_FX_CONNECTION_LOST ||
                                    code == SSH_FX_NO_CONNECTION || code == SSH_FX_BAD_MESSAGE;
        if (!watchdog.fired().empty() || protocol_error) {
            fail_step(what);
        }
        fail_step(what, sftp_status_text(static_cast<std::uint32_t>(code)));
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
        // AES-GCM first (AES-NI makes it the cheapest on both ends; libssh
        // puts chacha20-poly1305 first). Set before ssh_config, whose
        // Ciphers line, if any, still decides.
        set(SSH_OPTIONS_CIPHERS_S_C, k_ciphers, "ciphers");
        set(SSH_OPTIONS_CIPHERS_C_S, k_ciphers, "ciphers");
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
            host_key_note = fmt::format("{} key {} known", facts.key_type, facts.fingerprint);
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
        Fd lock(::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (!lock) {
            const int err = errno;
            throw SshError(FailureClass::answered, "host key",
                           fmt::format("cannot record {} key {} of {} in {}: {}", facts.key_type, facts.fingerprint,
                                       facts.endpoint, file, std::strerror(err)));
        }
        ::flock(lock.get(), LOCK_EX);
        const auto state = known_hosts_state(ssh_session_is_known_server(session));
        int rc = SSH_OK;
        if (state == KnownHostsState::unknown || state == KnownHostsState::no_file) {
            rc = ssh_session_update_known_hosts(session);
        }
        lock.reset();
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
        info(1, "{}: recorded {} key {} of {} in {}", target.name, facts.key_type, facts.fingerprint, facts.endpoint,
             file);
        host_key_note = fmt::format("{} key {} recorded in {}", facts.key_type, facts.fingerprint, file);
    }

    void authenticate() {
        int rc = SSH_AUTH_ERROR;
        std::string how;
        if (!settings.password.empty()) {
            rc = ssh_userauth_password(session, nullptr, settings.password.c_str());
            how = "password";
        } else if (!settings.identity.empty()) {
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
        throw SshError(FailureClass::answered, "authentication", fmt::format("{} refused for user {}", how, user));
    }

    struct Command;
    class SftpChannel;
    void start_command(Command& c, const std::string& command, const ExecOptions& options);
    void end_command(Command& c);
    ExecResult finish_command(Command& c, const ExecOptions& options);
    ExecResult exec(const std::string& command, const ExecOptions& options, bool track_pid);
    ExecResult exec_alongside(const std::string& command, const std::function<std::chrono::seconds()>& meanwhile);

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
            fail_step("sftp", code != SSH_FX_OK ? sftp_status_text(static_cast<std::uint32_t>(code)) : std::string());
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

const std::string& SshSession::host_key_note() const {
    return m_impl->host_key_note;
}

std::string SshSession::server_banner() const {
    const char* banner = ssh_get_serverbanner(m_impl->session);
    return banner != nullptr ? banner : "";
}

ExecResult SshSession::exec(const std::string& command, const ExecOptions& options) {
    return m_impl->exec(command, options, true);
}

ExecResult SshSession::exec_alongside(const std::string& command,
                                      const std::function<std::chrono::seconds()>& meanwhile) {
    return m_impl->exec_alongside(command, meanwhile);
}

// A command on its own channel: started, possibly left running while the
// session does other work, then drained. Not movable: libssh's callbacks
// point at result.
struct SshSession::Impl::Command {
    explicit Command(bool track) : track_pid(track) {}
    Command(const Command&) = delete;
    Command& operator=(const Command&) = delete;

    ExecResult result;
    ssh_channel_callbacks_struct callbacks{};
    bool track_pid;
    long remote_pid = 0;
    ChannelPtr channel{nullptr, ChannelCloser{}}; // last: closed before the callbacks go

    // "wp-pid:N\n", normally the first line of stderr.
    void take_pid() {
        const auto at = result.err.find(k_pid_marker);
        if (at == std::string::npos || (at > 0 && result.err[at - 1] != '\n')) {
            return;
        }
        const auto nl = result.err.find('\n', at);
        if (nl == std::string::npos) {
            return;
        }
        const std::string digits = result.err.substr(at + k_pid_marker.size(), nl - at - k_pid_marker.size());
        if (!digits.empty() && digits.size() < 10 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            remote_pid = std::stol(digits);
        }
        result.err.erase(at, nl - at + 1);
    }
};

void SshSession::Impl::start_command(Command& c, const std::string& command, const ExecOptions& options) {
    c.callbacks.userdata = &c.result;
    c.callbacks.channel_exit_signal_function = on_exit_signal;
    ssh_callbacks_init(&c.callbacks);
    c.channel = ChannelPtr(ssh_channel_new(session), ChannelCloser{&c.callbacks});
    if (!c.channel) {
        fail_step("cannot open a channel");
    }
    ssh_add_channel_callbacks(c.channel.get(), &c.callbacks);
    if (ssh_channel_open_session(c.channel.get()) != SSH_OK) {
        fail_step("cannot open a channel");
    }
    // The command runs as the process-group leader sshd made of the login
    // shell; its pid, announced first on stderr, lets a timeout end the whole
    // group from a second channel. (sshd refuses "signal" requests on root
    // logins, which skip privilege separation.)
    const std::string wrapped =
        c.track_pid ? fmt::format("printf '{}%s\\n' \"$$\" >&2; exec /bin/sh -c {}", k_pid_marker, shell_quote(command))
                    : command;
    if (options.on_send) {
        options.on_send();
    }
    if (ssh_channel_request_exec(c.channel.get(), wrapped.c_str()) != SSH_OK) {
        fail_step("cannot start the command");
    }
    std::string_view input = options.stdin_data;
    while (!input.empty()) {
        const auto chunk = static_cast<uint32_t>(std::min<std::size_t>(input.size(), 32768));
        const int n = ssh_channel_write(c.channel.get(), input.data(), chunk);
        if (n <= 0) {
            fail_step("cannot write to the command");
        }
        input.remove_prefix(static_cast<std::size_t>(n));
    }
    ssh_channel_send_eof(c.channel.get());
}

// Closing the channel alone leaves a command without a PTY running: the
// signal request, then a kill of its process group from another channel.
void SshSession::Impl::end_command(Command& c) {
    if (!c.channel) {
        return;
    }
    if (c.track_pid && c.remote_pid == 0 && watchdog.fired().empty()) {
        std::vector<char> buf(4096);
        int e = 0;
        while ((e = ssh_channel_read_nonblocking(c.channel.get(), buf.data(), static_cast<uint32_t>(buf.size()), 1)) >
               0) {
            if (c.result.err.size() < k_max_stderr) {
                c.result.err.append(buf.data(), static_cast<std::size_t>(e));
            }
        }
        c.take_pid();
    }
    ssh_channel_request_send_signal(c.channel.get(), "TERM");
    c.channel.reset();
    if (c.remote_pid > 1 && watchdog.fired().empty()) {
        try {
            ExecOptions kill_options;
            kill_options.timeout = std::chrono::seconds(5);
            exec(fmt::format("kill -TERM -- -{0} 2>/dev/null || kill -TERM {0}", c.remote_pid), kill_options, false);
        } catch (const SshError&) {
            // the host is going away anyway
        }
    }
}

ExecResult SshSession::Impl::finish_command(Command& c, const ExecOptions& options) {
    ssh_channel channel = c.channel.get();
    ExecResult& result = c.result;
    const auto started = Clock::now();
    const auto deadline = options.timeout.count() > 0 ? started + options.timeout : Clock::time_point::max();
    auto last_data = started;
    auto stop_command = [&](std::string_view why) {
        end_command(c);
        throw SshError(FailureClass::answered, "", std::string(why));
    };
    // Streamed output: a wide window (see k_stream_window). Only what is
    // buffered is read, so neither read blocks.
    std::vector<char> out_buf(options.on_stdout ? k_stream_window : 64 * 1024);
    auto read_stdout = [&]() -> int {
        if (!options.on_stdout) {
            return ssh_channel_read_nonblocking(channel, out_buf.data(), static_cast<uint32_t>(out_buf.size()), 0);
        }
        const int available = ssh_channel_poll(channel, 0);
        if (available <= 0) {
            return available == SSH_ERROR ? SSH_ERROR : 0;
        }
        return ssh_channel_read_timeout(channel, out_buf.data(), static_cast<uint32_t>(out_buf.size()), 0, 0);
    };
    std::vector<char> buf(64 * 1024);
    for (;;) {
        bool progress = false;
        const int n = read_stdout();
        if (n == SSH_ERROR) {
            fail_step("reading the command's output");
        }
        if (n > 0) {
            progress = true;
            const std::string_view data(out_buf.data(), static_cast<std::size_t>(n));
            if (options.on_stdout) {
                try {
                    options.on_stdout(data);
                } catch (...) {
                    end_command(c);
                    throw;
                }
            } else {
                result.out.append(data);
            }
        }
        const int e = ssh_channel_read_nonblocking(channel, buf.data(), static_cast<uint32_t>(buf.size()), 1);
        if (e == SSH_ERROR) {
            fail_step("reading the command's output");
        }
        if (e > 0) {
            progress = true;
            if (result.err.size() < k_max_stderr) {
                result.err.append(buf.data(),
                                  std::min<std::size_t>(static_cast<std::size_t>(e), k_max_stderr - result.err.size()));
            }
            if (c.track_pid && c.remote_pid == 0) {
                c.take_pid();
            }
        }
        if (progress) {
            last_data = Clock::now();
            continue;
        }
        // A timed-out read returns 0 just like EOF: only this flag tells them apart.
        if (ssh_channel_is_eof(channel) != 0 || ssh_channel_is_closed(channel) != 0) {
            break;
        }
        // The kill command of an interrupted exec (untracked) must still run.
        if (c.track_pid && interrupted()) {
            stop_command("interrupted");
        }
        if (!watchdog.fired().empty()) {
            fail_step("");
        }
        const auto now = Clock::now();
        if (now >= deadline) {
            stop_command(fmt::format("timed out after {} s", options.timeout.count()));
        }
        if (options.idle_timeout.count() > 0 && now >= last_data + options.idle_timeout) {
            stop_command(fmt::format("timed out: no output for {} s", options.idle_timeout.count()));
        }
        if (ssh_channel_poll_timeout(channel, 100, 0) == SSH_ERROR) {
            fail_step("reading the command's output");
        }
    }
    if (c.track_pid && c.remote_pid == 0) {
        c.take_pid();
    }
    result.exit_status = ssh_channel_get_exit_status(channel);
    if (result.exit_status == -1 && result.exit_signal.empty() && !watchdog.fired().empty()) {
        fail_step("");
    }
    return std::move(result);
}

ExecResult SshSession::Impl::exec(const std::string& command, const ExecOptions& options, bool track_pid) {
    Command c(track_pid);
    start_command(c, command, options);
    return finish_command(c, options);
}

ExecResult SshSession::Impl::exec_alongside(const std::string& command,
                                            const std::function<std::chrono::seconds()>& meanwhile) {
    Command c(true);
    ExecOptions options;
    start_command(c, command, options);
    try {
        options.timeout = meanwhile();
    } catch (...) {
        end_command(c);
        throw;
    }
    return finish_command(c, options);
}

// Downloads over an SFTP channel of its own, speaking the protocol itself
// (lib/sftp_client.h) rather than through libssh's sftp_* calls, for two
// reasons measured on libssh 0.10: its channel window stays near 1.28 MB
// (about 12 MB/s over a 50 ms round trip), and while the reader lags behind
// the server its channel buffer is shifted (memmove of everything unread)
// for every packet that arrives, which took 40% of the CPU of a loopback
// download. Here each read takes all that is buffered at once, with a
// window of k_stream_window.
class SshSession::Impl::SftpChannel final : public SftpTransport {
public:
    explicit SftpChannel(Impl& s) : m_s(s) {
        m_channel = ChannelPtr(ssh_channel_new(s.session), ChannelCloser{});
        if (!m_channel || ssh_channel_open_session(m_channel.get()) != SSH_OK ||
            ssh_channel_request_subsystem(m_channel.get(), "sftp") != SSH_OK) {
            s.fail_step("sftp");
        }
    }

    void send(std::string_view packet) override {
        while (!packet.empty()) {
            const int n = ssh_channel_write(m_channel.get(), packet.data(), static_cast<uint32_t>(packet.size()));
            if (n <= 0) {
                m_s.fail_step("sftp");
            }
            packet.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    std::size_t receive(char* into, std::size_t room, std::string_view what) override {
        for (;;) {
            const int n = ssh_channel_read_timeout(m_channel.get(), into, static_cast<uint32_t>(room), 0, 500);
            if (n == SSH_ERROR) {
                m_s.fail_step(what);
            }
            if (n > 0) {
                m_s.watchdog.kick();
                return static_cast<std::size_t>(n);
            }
            if (ssh_channel_is_eof(m_channel.get()) != 0 || ssh_channel_is_closed(m_channel.get()) != 0) {
                m_s.fail_step(what, "the SFTP server went away");
            }
            if (!m_s.watchdog.fired().empty()) {
                m_s.fail_step(what);
            }
        }
    }

    [[noreturn]] void fail(std::string_view what, std::string_view reason) override { m_s.fail_step(what, reason); }

private:
    Impl& m_s;
    ChannelPtr m_channel{nullptr, ChannelCloser{}};
};

std::uint64_t SshSession::sftp_download(const std::string& remote_path, std::uint64_t offset,
                                        const std::function<void(std::string_view)>& sink) {
    Impl& s = *m_impl;
    IdleGuard guard(s.watchdog, s.settings.io_timeout);
    Impl::SftpChannel channel(s);
    SftpClient client(channel, SftpReadShape{k_stream_window, k_sftp_read_chunk});
    // Read up to the size the file has now: a file that keeps growing is
    // not chased. The caller's checksum tells it grew.
    const auto [handle, end] = client.open(remote_path);
    const std::uint64_t received = client.read(handle, offset, end, [&](std::string_view data) {
        sink(data);
        s.watchdog.kick();
    });
    client.close(handle);
    return received;
}

void SshSession::sftp_upload(const std::string& local_path, const std::string& remote_path, mode_t mode) {
    Impl& s = *m_impl;
    const Fd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        fail_errno(errno, fmt::format("cannot open {}", local_path));
    }
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
        std::vector<char> buf(k_sftp_write_chunk);
        for (;;) {
            const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
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
        const auto r =
            s.exec(fmt::format("mv -f -- {} {}", shell_quote(temp), shell_quote(remote_path)), mv_options, true);
        if (!r.ok()) {
            throw SshError(FailureClass::answered, "",
                           fmt::format("rename {} to {}: {}", temp, remote_path, r.describe()));
        }
    }
    done = true;
}

} // namespace wp
