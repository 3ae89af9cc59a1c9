#pragma once
// SSH to the fleet (libssh 0.10): sessions that honour ssh_config and wp.conf,
// strict known_hosts, exec with exit status, SFTP transfers, hard timeouts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace wp {

/// How a host failed, which decides how loudly it is reported (the man pages:
/// a host that does not answer is counted, one that answered and then failed
/// is a warning).
enum class FailureClass {
    unreachable, ///< never spoke SSH: refused, no route, connect or banner timeout
    answered,    ///< spoke SSH, then failed: host key, authentication, a command, a transfer
};

/// Whether a failed connection attempt counts as "did not answer": only when
/// the server never sent its SSH banner.
FailureClass classify_connect_failure(bool banner_received);

/// A failure talking to one host. The message names the cause, not the host;
/// step is set by connecting ("connect", "host key", "authentication") and
/// left empty by later operations, whose caller knows the step.
class SshError : public std::runtime_error {
public:
    SshError(FailureClass failure_class, std::string step, const std::string& message)
        : std::runtime_error(message), m_class(failure_class), m_step(std::move(step)) {}
    FailureClass failure_class() const noexcept { return m_class; }
    const std::string& step() const noexcept { return m_step; }

private:
    FailureClass m_class;
    std::string m_step;
};

/// What ssh_session_is_known_server() said about a host's key.
enum class KnownHostsState {
    ok,         ///< the key is in known_hosts
    changed,    ///< known_hosts has another key of the same type for the host
    other_type, ///< known_hosts has keys for the host, none of the offered type
    unknown,    ///< the host is not in known_hosts
    no_file,    ///< known_hosts does not exist
    error,      ///< known_hosts could not be read or parsed
};

/// What to do with an offered host key.
enum class HostKeyAction { accept, record, refuse };

/// The known_hosts policy: a known key is accepted; an unknown one (host not
/// listed, or no file yet) is recorded only with accept_new; a changed key,
/// a key of another type than the listed ones, or an unreadable file is
/// always refused.
HostKeyAction decide_host_key(KnownHostsState state, bool accept_new);

/// The facts a host-key refusal names.
struct HostKeyFacts {
    KnownHostsState state = KnownHostsState::unknown;
    std::string endpoint;    ///< "address:port" as connected
    std::string key_type;    ///< e.g. "ssh-ed25519"
    std::string fingerprint; ///< e.g. "SHA256:…"
    std::string known_hosts; ///< the file consulted
};

/// One-line reason for refusing a host key (for a state decide_host_key refuses).
std::string host_key_refusal(const HostKeyFacts& facts);

/// A word quoted for a POSIX shell: 'it'\''s'.
std::string shell_quote(std::string_view word);

/// Where a session goes. Empty or zero fields are left to ssh_config.
struct SshTarget {
    std::string name;    ///< inventory name, for messages
    std::string address; ///< host name, IP address, or a Host alias of ssh_config
    int port = 0;        ///< 0: ssh_config's Port, else 22
    std::string user;    ///< empty: ssh_config's User, else the local user
};

/// How every session of a run is set up.
struct SshSettings {
    std::string ssh_config;  ///< empty: ~/.ssh/config and /etc/ssh/ssh_config
    std::string identity;    ///< a key file used alone; empty: agent, then ssh_config's and default keys
    std::string known_hosts; ///< empty: ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts
    bool accept_new = false; ///< record unknown host keys (never changed ones)
    std::string password;    ///< not empty: log in by this password instead of keys (a first contact)
    std::chrono::seconds connect_timeout{10}; ///< TCP connect, banner, key exchange, authentication
    std::chrono::seconds io_timeout{30};      ///< longest silence of a connected host
};

/// Checks settings that are the same for every host (the identity file can be
/// loaded, …) so that a mistake is one configuration error, not one per host.
void check_ssh_settings(const SshSettings& settings);

/// How a remote command ended.
struct ExecResult {
    int exit_status = -1;    ///< -1 when it ended by a signal or reported nothing
    std::string exit_signal; ///< e.g. "TERM" (no SIG prefix), empty when none
    std::string out;         ///< standard output (empty when streamed)
    std::string err;         ///< standard error
    bool ok() const { return exit_status == 0 && exit_signal.empty(); }
    /// "exit status 2: <last stderr line>" or "killed by signal TERM".
    std::string describe() const;
};

/// Options of one remote command.
struct ExecOptions {
    /// Longest run (0: no limit but the session's deadline), and longest
    /// silence on stdout and stderr (0: none). On expiry the command's whole
    /// process group is sent SIGTERM (not left running, as closing its channel
    /// alone would), and SshError(answered) is thrown.
    std::chrono::seconds timeout{0};
    std::chrono::seconds idle_timeout{0};
    std::string_view stdin_data; ///< written to the command, then EOF
    /// When set, standard output is handed here as it arrives instead of
    /// being collected; it may throw to abort the command.
    std::function<void(std::string_view)> on_stdout;
    /// When set, called just before the command is sent, its channel open:
    /// nothing of the command can run on the host before then.
    std::function<void()> on_send;
};

/// One SSH session to one host, used by one thread. Connecting verifies the
/// host key and authenticates; every later step is bounded by the session's
/// io_timeout and deadline (a watchdog cuts the connection, since blocking
/// SFTP ignores libssh's own timeout). Failures are SshError.
class SshSession {
public:
    SshSession(const SshTarget& target, const SshSettings& settings);
    ~SshSession();
    SshSession(const SshSession&) = delete;
    SshSession& operator=(const SshSession&) = delete;

    /// Cuts the connection at this instant whatever it is doing (the whole-host budget).
    void set_deadline(std::chrono::steady_clock::time_point deadline);

    /// Runs a command with /bin/sh on the host (started from the login shell,
    /// which must be POSIX-like); stdout and stderr are drained together. A
    /// non-zero exit or a signal is a result, not an error.
    ExecResult exec(const std::string& command, const ExecOptions& options = {});

    /// Starts command as exec does, runs meanwhile (which may use this
    /// session: an SFTP download, another exec), then waits for the command
    /// at most as long as meanwhile returned (0: the session's deadline
    /// only) and returns its result. If meanwhile throws, the command is
    /// ended and the exception passed on.
    ExecResult exec_alongside(const std::string& command, const std::function<std::chrono::seconds()>& meanwhile);

    /// Downloads a remote file from offset up to the size it has when opened
    /// (a growing file is not chased) over SFTP with pipelined reads, handing
    /// the bytes to sink in order; returns the bytes transferred.
    std::uint64_t sftp_download(const std::string& remote_path, std::uint64_t offset,
                                const std::function<void(std::string_view)>& sink);

    /// Uploads a local file under a temporary name next to remote_path, sets
    /// mode, then renames it over remote_path.
    void sftp_upload(const std::string& local_path, const std::string& remote_path, mode_t mode);

    /// The server's SSH banner (e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2").
    std::string server_banner() const;
    /// What became of the host key: "TYPE key FINGERPRINT known", or
    /// "… recorded in FILE" when accept_new recorded it.
    const std::string& host_key_note() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace wp
