#pragma once
// What every tool's main shares: parsing, config, signals, exit status.

#include <functional>
#include <string>
#include <string_view>

#include "base/diagnostics.h"
#include "cmd/options.h"
#include <CLI/CLI.hpp>

namespace wp {

/// Parses the command line (errors -> 64), loads wp.conf (errors -> 78), runs
/// body, and turns a wp::Error into `prog: message` and its exit status. Also
/// sets SIGPIPE to default, turns SIGINT/SIGTERM into a flag (re-raised at the
/// end), and checks that stdout was written before returning 0.
int run_tool(CLI::App& app, CommonOptions& options, int argc, char** argv, const std::function<int()>& body);

/// Marks command (wp-hosts check, wp-rollup quota) as a monitoring plugin:
/// when it is the command run, a bad command line or wp.conf is not 64 or
/// 78 with a message on stderr but `LABEL UNKNOWN - message` on stdout and
/// exit 3, as monitoring plugins answer.
void mark_monitoring_plugin(const CLI::App* command, std::string label);

} // namespace wp
