#include "cmd/tool_catalog.h"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "base/error.h"
#include "base/memcpy_tuning.h"
#include "cmd/fetchlogs.h"
#include "cmd/hosts.h"
#include "cmd/parse.h"
#include "cmd/provision.h"
#include "cmd/rollup.h"
#include "cmd/runall.h"
#include "cmd/tool.h"
#include "cmd/users.h"

namespace wp {

namespace {

/// The run of a tool, bound to the request its options fill.
using ToolRun = std::function<int()>;

/// One tool: what its main needs besides argc and argv.
struct ToolEntry {
    std::string_view name;
    std::string_view description;
    bool bulk_ssh_data; ///< moves bulk data through libssh: see base/memcpy_tuning.cpp
    /// Registers the tool's own options on app (after the common ones) and
    /// returns its run; app and options must outlive the run.
    std::function<ToolRun(CLI::App& app, const CommonOptions& options)> attach;
};

/// An entry's attach for a tool whose options fill a Request and whose run
/// is run(app, request, options).
template <typename Request, typename Run> auto attach(void (*add_options)(CLI::App&, Request&), Run run) {
    return [add_options, run](CLI::App& app, const CommonOptions& options) -> ToolRun {
        auto request = std::make_shared<Request>();
        add_options(app, *request);
        return [&app, &options, request, run] { return run(app, *request, options); };
    };
}

const std::vector<ToolEntry>& tools() {
    static const std::vector<ToolEntry> table = {
        {"wp-fetchlogs",
         "wp-fetchlogs: claim each server's Squid log, fetch every claimed file into the spool, verified", true,
         attach(add_fetchlogs_options,
                [](CLI::App&, const FetchRequest& r, const CommonOptions& o) { return run_fetchlogs(r, o); })},
        {"wp-hosts", "wp-hosts: the proxy inventory without SQL", false, attach(add_hosts_commands, run_hosts)},
        {"wp-parse", "wp-parse: bill Squid access logs into hourly usage, archive them, keep what was not understood",
         false,
         attach(add_parse_options,
                [](CLI::App&, const ParseRequest& r, const CommonOptions& o) { return run_parse(r, o); })},
        {"wp-provision", "wp-provision: plan and apply a new proxy's setup; bootstrap its key", true,
         attach(add_provision_commands,
                [](CLI::App&, const ProvisionRequest& r, const CommonOptions& o) { return run_provision(r, o); })},
        {"wp-rollup", "wp-rollup: daily usage summaries (late logs included) and the reports read from them", false,
         attach(add_rollup_commands, run_rollup)},
        {"wp-runall",
         "wp-runall: run a command, push a file or run a script on every selected server, serially or in "
         "parallel, with a summary",
         true,
         attach(add_runall_options,
                [](CLI::App&, const RunallRequest& r, const CommonOptions& o) { return run_runall(r, o); })},
        {"wp-users", "wp-users: users, the accounts their usage is billed to over time, and quotas", false,
         attach(add_users_commands, run_users)},
    };
    return table;
}

// Every --help, the commands' own included, ends by naming the pages to read.
void add_see_also(CLI::App& app, std::string_view tool) {
    app.footer(fmt::format("\nSee {}(1) and wp(7).", tool));
    for (CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); })) {
        add_see_also(*sub, tool);
    }
}

} // namespace

int tool_main(std::string_view program, int argc, char** argv) {
    for (const ToolEntry& tool : tools()) {
        if (tool.name != program) {
            continue;
        }
        if (tool.bulk_ssh_data) {
            prefer_vector_memcpy(argv);
        }
        CLI::App app{std::string(tool.description), std::string(tool.name)};
        CommonOptions options;
        add_common_options(app, options, tool.name);
        const ToolRun run = tool.attach(app, options);
        add_see_also(app, tool.name);
        return run_tool(app, options, argc, argv, run);
    }
    fmt::print(stderr, "{}: no such wp tool\n", program);
    return exit_code::k_software;
}

void for_each_tool(const std::function<void(CLI::App& app)>& visit) {
    for (const ToolEntry& tool : tools()) {
        CLI::App app{"", std::string(tool.name)};
        CommonOptions options;
        add_common_options(app, options, tool.name);
        // The run owns the request the options are bound to: it must live
        // while visit writes wp.conf's values through them.
        const ToolRun run = tool.attach(app, options);
        visit(app);
    }
}

std::vector<ToolKeys> every_tool_keys() {
    std::vector<ToolKeys> keys;
    for_each_tool([&keys](CLI::App& app) { keys.push_back(keys_of(app)); });
    return keys;
}

void load_config(CLI::App& app, CommonOptions& options) {
    const std::string path = config_path(options);
    if (path.empty()) {
        return; // no default file: built-in defaults
    }
    const std::vector<ConfigEntry> entries = read_config(path);
    const std::vector<ToolKeys> tools = every_tool_keys();
    // A value meant for another tool is checked too: every tool refuses the
    // same file, instead of the one that would use the value, later.
    for_each_tool([&](CLI::App& other) {
        if (other.get_name() != app.get_name()) {
            apply_config(other, entries, path, tools);
        }
    });
    apply_config(app, entries, path, tools);
    options.config = path;
}

} // namespace wp
