#pragma once
// The options that select servers, the same in wp-runall, wp-fetchlogs,
// wp-provision and wp-hosts list: -H/-w, -x, --hosts-file, --where.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "store/inventory.h"

namespace wp {

/// The selection options as given.
struct HostOptions {
    std::vector<std::string> hosts;   ///< -H/-w arguments: names, ranges, globs ("-": names on stdin)
    std::string hosts_file;           ///< --hosts-file ("-": stdin)
    std::vector<std::string> exclude; ///< -x arguments
    std::string where;                ///< read-only SQL filter on servers
};

/// Registers -H/-w/--hosts, --hosts-file, -x/--exclude and --where.
void add_host_options(CLI::App& app, HostOptions& options);

/// What the command line names, ranges expanded (globs are resolved later).
struct NamedHosts {
    std::vector<std::string> words;    ///< from -H, --hosts-file, stdin, in that order
    std::vector<std::string> from_h;   ///< the words -H gave
    std::vector<std::string> excluded; ///< the words -x gave
    bool explicit_list = false;        ///< a list was given, even an empty one
    bool from_stdin = false;
};

/// Reads the lists: -H and -x (a bad one is Error(64) naming the option),
/// --hosts-file and stdin (Error(65) naming file and line). more_words are
/// names given otherwise (positional), checked as -H's; stdin is read when
/// -H or --hosts-file is "-" or read_stdin is set.
NamedHosts named_hosts(const HostOptions& options, const std::vector<std::string>& more_words = {},
                       bool read_stdin = false);

/// Which default set a tool takes when no server is named.
struct DefaultHosts {
    bool inactive = false; ///< inactive servers too (wp-hosts list)
    bool retired = false;  ///< retired servers too (wp-hosts list --all)
};

/// The servers selected, in the order named (else by name); see
/// store/host_selection. An explicit empty list selects none.
std::vector<Server> select_servers(Inventory& inventory, const HostOptions& options, const NamedHosts& named,
                                   DefaultHosts defaults = {});

/// --list: the names folded into ranges as `nodeset -f` does, on one line
/// (nothing for none).
void print_folded(const std::vector<std::string>& names);

/// The names of servers, in their order.
std::vector<std::string> names_of(const std::vector<Server>& servers);

} // namespace wp
