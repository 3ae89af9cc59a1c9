#pragma once
// wp-runall on one host: over SSH (push, command, script) or as a local
// command given the host's name (--local).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "remote/ssh.h"
#include "runall/runall_output.h"
#include "store/inventory.h"

namespace wp {

/// What is done on every host.
struct HostAction {
    std::string push_local;              ///< non-empty: upload this file first (--push)
    std::string push_remote;             ///< its remote path as given
    mode_t push_mode = 0644;             ///< the local file's permission bits, kept on the host
    std::string command;                 ///< remote shell command line; empty: none (a push alone)
    std::string stdin_data;              ///< written to the command's standard input (the --script)
    std::vector<std::string> local_argv; ///< --local: CMD then ARGS; the host name goes between
    bool local_interactive = false;      ///< --local keeps our stdin and terminal (serial, not --batch)
    std::chrono::seconds timeout{0};     ///< per command; 0: no limit
};

/// Runs the action on one host. A host-level failure is a result, never an
/// exception; exceptions mean the whole run must stop (a local disk error).
class HostRunner {
public:
    virtual ~HostRunner() = default;
    /// The host's result; host.contacted when an SSH session was made.
    virtual RunResult run(const Server& server, HostSink& sink) = 0;
};

/// How long a host may take to answer and authenticate: the connect
/// timeout, or --timeout (seconds, 0: none) when that is shorter, so that a
/// host that accepts the connection and then hangs (a stopped sshd, a wedged
/// box) holds the run no longer than a command may run.
std::chrono::seconds runall_connect_timeout(std::chrono::seconds connect_timeout, int timeout);

/// The SSH runner: connect (host key checked), push if asked, then run the
/// command with the timeout, standard output streamed to the sink.
std::unique_ptr<HostRunner> make_ssh_runner(HostAction action, SshSettings settings, std::string default_user);

/// The --local runner: CMD HOST ARGS… run here, without a shell, with
/// WP_HOST, WP_ADDRESS, WP_PORT (and WP_USER when known) in its environment.
std::unique_ptr<HostRunner> make_local_runner(HostAction action, std::string default_user);

/// Command words joined into one remote command line with spaces, as ssh(1)
/// does: the remote shell splits and expands them again.
std::string join_command_words(const std::vector<std::string>& words);

/// The remote command that runs a script fed on standard input with args:
/// `sh -s -- 'a' 'b c'`.
std::string script_command(const std::vector<std::string>& args);

/// Where --push writes on the host: a leading "~/" means the login
/// directory (SFTP paths are relative to it), and an empty path, "~", "." or
/// one ending in "/" gets the local file's base name appended.
std::string push_target_path(std::string_view remote, std::string_view local);

/// The environment of a --local command: base without any WP_HOST,
/// WP_ADDRESS, WP_PORT, WP_USER entries, then those of this host.
std::vector<std::string> local_command_environment(const char* const* base, const Server& server,
                                                   const std::string& user);

/// Finds CMD as execvp(3) would (a name with a slash as is, else on PATH);
/// Error naming it when it cannot be run.
std::string resolve_local_command(const std::string& command);

} // namespace wp
