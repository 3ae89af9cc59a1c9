#pragma once
// wp-users: users, the accounts they are billed to over time, and quotas.

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cmd/options.h"

namespace wp {

/// What the wp-users command line asked for.
struct UsersRequest {
    std::string format;
    std::string user;
    std::optional<std::string> account; ///< set --account
    bool names_only = false;            ///< list --names
    bool unassign = false;              ///< set --unassign
    std::string from;                   ///< set --from; empty: the current hour
    bool amend_closed = false;
    std::string import_file;
    std::string size; ///< quota SIZE
};

/// Registers list/show/set/import/accounts/quota on app, filling request.
void add_users_commands(CLI::App& app, UsersRequest& request);

/// Runs the selected subcommand; returns the exit status.
int run_users(CLI::App& app, const UsersRequest& request, const CommonOptions& options);

} // namespace wp
