#include "cmd/tool_catalog.h"

#include "cmd/fetchlogs.h"
#include "cmd/hosts.h"
#include "cmd/parse.h"
#include "cmd/provision.h"
#include "cmd/rollup.h"
#include "cmd/runall.h"

namespace wp {

namespace {

template <typename Request>
void visit_tool(const char* name, void (*add_options)(CLI::App&, Request&),
                const std::function<void(CLI::App&)>& visit) {
    CLI::App app{"", name};
    CommonOptions options;
    add_common_options(app, options, name);
    Request request;
    add_options(app, request);
    visit(app);
}

} // namespace

void for_each_tool(const std::function<void(CLI::App& app)>& visit) {
    visit_tool("wp-fetchlogs", add_fetchlogs_options, visit);
    visit_tool("wp-hosts", add_hosts_commands, visit);
    visit_tool("wp-parse", add_parse_options, visit);
    visit_tool("wp-provision", add_provision_commands, visit);
    visit_tool("wp-rollup", add_rollup_commands, visit);
    visit_tool("wp-runall", add_runall_options, visit);
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
