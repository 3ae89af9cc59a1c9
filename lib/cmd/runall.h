#pragma once
// wp-runall: run a command, push a file, run a script, or run a local command
// for every selected server, serially or in parallel, known-down hosts skipped.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/host_options.h"
#include "cmd/options.h"

namespace wp {

/// What the wp-runall command line asked for.
struct RunallRequest {
    HostOptions select;      ///< -H, --hosts-file, -x, --where
    std::string status_file; ///< Nagios-style "host state" lines; state 2 is down
    int down_after = 3;      ///< consecutive failures in host_status that make a host down; 0: never
    bool include_down = false;
    bool list = false;              ///< print the selection folded, run nothing
    bool list_each = false;         ///< print the selection one name a line, run nothing
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

/// Registers wp-runall's options, and the command words after them (the
/// first word ends the options, as with ssh(1)).
void add_runall_options(CLI::App& app, RunallRequest& request);

/// Runs wp-runall; returns the exit status (0, 1, 69).
int run_runall(RunallRequest request, const CommonOptions& options);

} // namespace wp
