// wp-rollup: keep the daily usage summary true, and print the reports read from it.
#include "cmd/rollup.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    CLI::App app{"wp-rollup: daily usage summaries (late logs included) and the reports read from them", "wp-rollup"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-rollup");
    wp::RollupRequest request;
    wp::add_rollup_commands(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_rollup(app, request, options); });
}
