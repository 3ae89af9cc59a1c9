#pragma once
// Every wp tool in one table: its name, its description, how its options are
// registered and how it runs. A tool's main and wp.conf's check build the
// command line from the same entry, so wp.conf is judged against exactly what
// the tools register (a key is some tool's setting, a choice, or a typo).

#include <functional>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/options.h"

namespace wp {

/// The whole of a tool's main: builds the command line of the tool named
/// program from its entry, then run_tool (parse, wp.conf, signals, the run,
/// the exit status). A name with no entry is a programming error (70).
int tool_main(std::string_view program, int argc, char** argv);

/// Calls visit with the command line of each wp tool, built as its main
/// builds it (its options bound to throwaway requests), app named after the tool.
void for_each_tool(const std::function<void(CLI::App& app)>& visit);

/// keys_of() every wp tool.
std::vector<ToolKeys> every_tool_keys();

/// Finds the configuration file (--config, $WP_CONFIG, default), checks it
/// against every tool (keys, and values on each tool's own command line), and
/// applies to app, the parsed command line of the running tool, its settings.
/// Errors are Error(78) naming file and line.
void load_config(CLI::App& app, CommonOptions& options);

} // namespace wp
