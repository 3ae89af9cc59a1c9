#pragma once
// The options every tool accepts, and wp.conf, which can set any of them.

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace wp {

/// Paths and settings shared by every tool (DESIGN.md "Files and state").
struct CommonOptions {
    std::string config;        ///< set by --config or WP_CONFIG; empty means the default file
    std::string db = "/var/lib/wp/wp.db";
    std::string spool = "/var/spool/wp";
    std::string archive = "/var/lib/wp/archive";
    std::string rejects = "/var/lib/wp/rejects";
    std::string rules;         ///< empty: DATADIR/billing.rules
    std::string lists;         ///< empty: DATADIR
    std::string ssh_user;
    std::string identity;
    std::string known_hosts;
    int connect_timeout = 10;  ///< seconds
    int verbosity = 0;
    bool quiet = false;

    std::string rules_path() const;
    std::string lists_dir() const;
};

/// The configuration file used when neither --config nor WP_CONFIG names one.
inline constexpr std::string_view k_default_config = "/etc/wp/wp.conf";

/// Where the installed data files live (billing.rules, packages/…).
std::string data_dir();

/// Version string printed by --version.
std::string version_string(std::string_view program);

/// Registers the shared options (and --version) on a tool's command line.
void add_common_options(CLI::App& app, CommonOptions& options, std::string_view program);

/// One `key = value` line of a configuration file.
struct ConfigEntry {
    std::string key;
    std::string value;
    int line = 0;
};

/// Parses wp.conf text; a malformed line is Error(78) naming file and line.
std::vector<ConfigEntry> parse_config_text(std::string_view text, std::string_view file_name);

/// Every key some wp tool understands (so that one wp.conf serves all of them).
bool is_known_config_key(std::string_view key);

/// Applies entries to options not given on the command line. A key no wp tool
/// knows, or a bad value, is Error(78) naming file and line.
void apply_config(CLI::App& app, const std::vector<ConfigEntry>& entries, std::string_view file_name);

/// Finds the config file (--config, $WP_CONFIG, default) and applies it.
void load_config(CLI::App& app, CommonOptions& options);

} // namespace wp
