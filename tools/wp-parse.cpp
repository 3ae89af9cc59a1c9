// wp-parse: bill every Squid log line exactly once.
#include "ingest.h"
#include "tool.h"

int main(int argc, char** argv) {
    CLI::App app{"wp-parse: bill Squid access logs into hourly usage, archive them, keep what was not understood",
                 "wp-parse"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-parse");
    wp::ParseRequest request;
    app.add_option("input", request.inputs, "log files, directories (walked) or - (default: the spool)");
    app.add_option("--server", request.server, "server name for every input (needed for -)");
    app.add_option("--format", request.format,
                   "native (default), common, combined, or a Squid logformat string");
    app.add_option("-o,--output", request.output,
                   "write merged (server, user, hour) records to FILE or - and touch nothing else");
    app.add_flag("--json", request.json, "with -o: JSON lines instead of TSV");
    app.add_option("-j,--jobs", request.jobs, "files parsed at once")->capture_default_str();
    app.add_option("--max-reject-ratio", request.max_reject_ratio,
                   "share of lines not understood above which a file is not billed")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--zstd-level", request.zstd_level, "archive compression level (1-19)")->capture_default_str();
    app.add_flag("--keep", request.keep, "leave billed spool files in place");
    app.add_flag("--force-overlap", request.force_overlap,
                 "bill files that start like a billed file of the server but differ from it");
    app.add_flag("--rebuild-db", request.rebuild_db,
                 "bill the whole archive into an empty database (usage, ledger, archive sizes) and stop");
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_parse(request, options); });
}
