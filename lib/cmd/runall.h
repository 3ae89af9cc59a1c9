#pragma once
// wp-runall: run a command, push a file, run a script, or run a local command
// for every selected server, serially or in parallel, known-down hosts skipped.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/inventory.h"
#include "cmd/options.h"

namespace wp {

/// What the wp-runall command line asked for.
struct RunallRequest {
    std::vector<std::string> hosts;   ///< -H: these servers ("-": names on stdin)
    std::string hosts_file;           ///< --hosts-file: names in a file ("-": stdin)
    std::vector<std::string> exclude; ///< -x: never these
    std::string where;                ///< read-only SQL filter on servers
    std::string status_file;          ///< Nagios-style "host state" lines; state 2 is down
    int down_after = 3;               ///< consecutive failures in host_status that make a host down; 0: never
    bool include_down = false;
    bool list = false;              ///< print the selection, run nothing
    std::vector<std::string> push;  ///< LOCAL REMOTE
    std::string script;             ///< local script run on each host with sh -s
    std::string local;              ///< local command run once per host
    std::vector<std::string> words; ///< the remote command, or the script's / local command's arguments
    int jobs = 1;
    int timeout = 900; ///< seconds per command; 0: no limit
    bool gather = false;
    std::string outdir;
    bool batch = false;
    bool accept_new = false;
    std::string ssh_config;
};

/// Host names in a file or on stdin: separated by blanks, commas or
/// newlines; `#` starts a comment. A bad name is Error(65) "source:line: …".
std::vector<std::string> parse_host_names(std::string_view text, std::string_view source);

/// A Nagios-style status file: `host state` per line (more fields may
/// follow); the last line naming a host wins.
struct StatusFile {
    std::map<std::string, int, std::less<>> states;
    std::vector<int> bad_lines; ///< line numbers not in that shape
};
StatusFile parse_status_file(std::string_view text);

/// Why a host is known to be down, or empty: its status-file state is 2, or
/// host_status counts down_after (> 0) consecutive failures.
std::string down_reason(std::string_view host, const StatusFile& status, std::int64_t consecutive_failures,
                        int down_after);

/// What the selection starts from.
struct SelectionInput {
    std::vector<Server> matching;      ///< servers the --where filter lets through, retired ones included
    std::vector<std::string> known;    ///< every server name in the inventory
    std::vector<std::string> named;    ///< -H, --hosts-file, stdin; empty: every active, non-retired server
    std::vector<std::string> excluded; ///< -x
};

/// The servers to run on, in the order named (else by name), duplicates
/// dropped. Named servers are taken whether active or not; --where narrows
/// them. A name (named or excluded) the inventory does not have is
/// Error(66) listing every such name: nothing runs on a list with a typo.
std::vector<Server> select_hosts(const SelectionInput& input);

/// How long a host may take to answer and authenticate: the connect
/// timeout, or --timeout (seconds, 0: none) when that is shorter, so that a
/// host that accepts the connection and then hangs (a stopped sshd, a wedged
/// box) holds the run no longer than a command may run.
std::chrono::seconds runall_connect_timeout(std::chrono::seconds connect_timeout, int timeout);

/// Registers wp-runall's options, and the command words after them (the
/// first word ends the options, as with ssh(1)).
void add_runall_options(CLI::App& app, RunallRequest& request);

/// Runs wp-runall; returns the exit status (0, 1, 69).
int run_runall(RunallRequest request, const CommonOptions& options);

} // namespace wp
