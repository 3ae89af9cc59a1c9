#pragma once
// wp-provision: take a freshly bought Debian VPS to a working proxy — plan,
// apply, bootstrap (DESIGN.md "wp-provision").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "store/inventory.h"
#include "cmd/options.h"
#include "provision/virt.h"

namespace wp {

/// What the wp-provision command line asked for.
struct ProvisionRequest {
    std::string command;            ///< plan, apply or bootstrap
    std::vector<std::string> hosts; ///< inventory names; with --name one [USER@]ADDRESS[:PORT]
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

/// Where to reach a host given as [USER@]ADDRESS[:PORT] ([v6]:PORT for IPv6).
struct HostTarget {
    std::string user; ///< empty: not given
    std::string address;
    int port = 22;
};

/// Parses a target; Error(64) naming what is wrong.
HostTarget parse_host_target(std::string_view text);

/// "%n" in hostname replaced by the server's name.
std::string expand_hostname(std::string_view pattern, std::string_view server);

/// The inventory's virt for a server: the detected one, except that an
/// OpenVZ-family host keeps what the operator set (openvz or virtuozzo:
/// nothing inside tells them apart) and "unknown" never overwrites a value.
std::string virt_for_inventory(std::string_view current, const VirtDetection& detected);

/// Runs the selected subcommand; returns the exit status (0, 1, 69).
int run_provision(const ProvisionRequest& request, const CommonOptions& options);

} // namespace wp
