#pragma once
// wp-hosts: the inventory without SQL.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/options.h"
#include "store/inventory.h"

namespace wp {

/// What the wp-hosts command line asked for.
struct HostsRequest {
    std::string where;
    bool all = false;
    std::string format;
    std::vector<std::string> names;
    std::string import_file;
    Server server;         ///< for add
    ServerChanges changes; ///< for set (and the field options of add)
};

/// Registers list/add/set/retire/import/status/show on app, filling request.
void add_hosts_commands(CLI::App& app, HostsRequest& request);

/// Runs the selected subcommand; returns the exit status.
int run_hosts(CLI::App& app, const HostsRequest& request, const CommonOptions& options);

} // namespace wp
