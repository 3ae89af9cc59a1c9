// wp-provision: take a freshly bought Debian VPS to a working proxy.
#include "base/memcpy_tuning.h"
#include "cmd/provision.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    wp::prefer_vector_memcpy(argv); // bulk data through libssh: see memcpy_tuning.cpp
    CLI::App app{"wp-provision: plan and apply a new proxy's setup; bootstrap its key", "wp-provision"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-provision");
    wp::ProvisionRequest request;
    wp::add_provision_commands(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_provision(request, options); });
}
