#pragma once
// The options every tool accepts, and wp.conf, which holds the ones marked as
// settings (never a choice of what one run does).

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "remote/ssh.h"

namespace wp {

/// Paths and settings shared by every tool (DESIGN.md "Files and state").
struct CommonOptions {
    std::string config; ///< set by --config or WP_CONFIG; empty means the default file
    std::string db = "/var/lib/wp/wp.db";
    std::string spool = "/var/spool/wp";
    std::string archive = "/var/lib/wp/archive";
    std::string rejects = "/var/lib/wp/rejects";
    std::string rules; ///< empty: DATADIR/billing.rules
    std::string lists; ///< empty: DATADIR
    std::string ssh_user;
    std::string identity;
    std::string known_hosts;
    int connect_timeout = 10; ///< seconds
    std::string collector;    ///< this collector's name (empty: the collector without one)
    int verbosity = 0;
    bool quiet = false;

    std::string rules_path() const;
    std::string lists_dir() const;
};

/// The settings every SSH tool derives from the shared options: identity,
/// known_hosts, connect timeout, and a connected host silent for three connect
/// timeouts taken as hung. Checked with check_ssh_settings.
SshSettings ssh_settings_from(const CommonOptions& options, const std::string& ssh_config, bool accept_new);

/// The configuration file used when neither --config nor WP_CONFIG names one.
inline constexpr std::string_view k_default_config = "/etc/wp/wp.conf";

/// Where the installed data files live (billing.rules, packages/…).
std::string data_dir();

/// Version string printed by --version.
std::string version_string(std::string_view program);

/// Registers the shared options (and --version) on a tool's command line. Every
/// option registered after this on the app or its subcommands is a command-line
/// choice unless marked with setting().
void add_common_options(CLI::App& app, CommonOptions& options, std::string_view program);

/// Marks an option as a setting, a value that holds for every run and so may
/// stand in wp.conf (paths, SSH, timeouts, jobs, thresholds, output
/// preferences). Every other option is a choice of one run, refused there.
CLI::Option* setting(CLI::Option* option);

/// Registers -j/--jobs, a setting from 1 to 64 (what: "hosts fetched at
/// once"); every tool that fans out checks its range here and only here.
CLI::Option* add_jobs_option(CLI::App& app, int& jobs, const std::string& what);

/// True if the option was marked with setting().
bool is_setting(const CLI::Option& option);

/// The long options of a tool, split as wp.conf sees them.
struct ToolKeys {
    std::string tool;                            ///< e.g. "wp-parse"
    std::set<std::string, std::less<>> settings; ///< may stand in wp.conf
    std::set<std::string, std::less<>> choices;  ///< command line only
};

/// The keys of the tool whose command line app is (app's name), read off its
/// options, its option groups' and its subcommands'; --help and --version aside.
ToolKeys keys_of(const CLI::App& app);

/// Calls visit with every long option of app, its option groups and its
/// subcommands (recursively), and the app or group it belongs to; --help and
/// --version aside.
void for_each_long_option(const CLI::App& app,
                          const std::function<void(const CLI::App& owner, const CLI::Option& option)>& visit);

/// One `key = value` line of a configuration file.
struct ConfigEntry {
    std::string section; ///< the tool of the `[wp-…]` line above it; empty before any
    std::string key;
    std::string value;
    int line = 0;
};

/// Parses wp.conf text: `key = value` lines, `[tool]` section lines, blank
/// lines and comments (`#` at the start of a line, or after a blank outside
/// quotes). A malformed line is Error(78) naming file and line.
std::vector<ConfigEntry> parse_config_text(std::string_view text, std::string_view file_name);

/// Checks every entry against the keys of every tool in tools (and of app's own
/// tool): a key before any section must be some tool's setting, a key in a
/// `[tool]` section that tool's setting. Then applies to app (the tool named
/// app.get_name()) its settings not given on the command line: its own
/// section's, else the ones before any section. A choice, an unknown key or
/// section, or a bad value is Error(78) naming file and line.
void apply_config(CLI::App& app, const std::vector<ConfigEntry>& entries, std::string_view file_name,
                  const std::vector<ToolKeys>& tools);

/// The configuration file to read: --config, else $WP_CONFIG, else the default
/// file; empty when that is the default file and it does not exist.
std::string config_path(const CommonOptions& options);

/// Reads and parses the file config_path() names (Error(78) if unreadable).
std::vector<ConfigEntry> read_config(const std::string& path);

/// A CLI11 error as the tools word theirs: lowercase, `--option: why`, a value
/// out of range named as such.
std::string cli_error_message(const CLI::Error& error);

} // namespace wp
