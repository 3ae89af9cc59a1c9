// wp-parse: bill every Squid log line exactly once.
#include "cmd/parse.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    CLI::App app{"wp-parse: bill Squid access logs into hourly usage, archive them, keep what was not understood",
                 "wp-parse"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-parse");
    wp::ParseRequest request;
    wp::add_parse_options(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_parse(request, options); });
}
