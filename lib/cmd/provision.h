#pragma once
// wp-provision: take a freshly bought Debian VPS to a working proxy — plan,
// apply, bootstrap (DESIGN.md "wp-provision").

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/host_options.h"
#include "cmd/options.h"
#include "store/inventory.h"

namespace wp {

/// What the wp-provision command line asked for.
struct ProvisionRequest {
    std::string command;            ///< plan, apply or bootstrap
    std::vector<std::string> hosts; ///< inventory names and ranges; with --name one [USER@]ADDRESS[:PORT]
    HostOptions select;             ///< -H, --hosts-file, -x, --where
    bool list = false;              ///< print the selection folded, provision nothing
    std::string name;               ///< a server to add (or already added by an earlier run)
    std::optional<std::string> city;
    std::optional<std::string> country;
    std::optional<std::string> provider;
    std::string to_release;
    std::string files;
    std::string hostname; ///< "%n" stands for the server's inventory name
    std::vector<std::string> resolvers;
    bool no_ask = false;
    std::string answers;
    bool learn = false;
    std::string ssh_config;
    bool accept_new = false;
    int jobs = 1;
    int timeout = 3600; ///< seconds for one whole host
    std::string password_file;
};

/// Registers plan/apply/bootstrap and their options on app.
void add_provision_commands(CLI::App& app, ProvisionRequest& request);

/// Runs the selected subcommand; returns the exit status (0, 1, 69).
int run_provision(const ProvisionRequest& request, const CommonOptions& options);

} // namespace wp
