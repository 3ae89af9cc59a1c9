// wp-hosts: list, add, change, retire and import the servers of the fleet.
#include "cmd/hosts.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    CLI::App app{"wp-hosts: the proxy inventory without SQL", "wp-hosts"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-hosts");
    wp::HostsRequest request;
    wp::add_hosts_commands(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_hosts(app, request, options); });
}
