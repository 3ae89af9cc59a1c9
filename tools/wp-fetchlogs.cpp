// wp-fetchlogs: bring every server's Squid log into the spool, verified.
#include "cmd/fetchlogs.h"
#include "base/memcpy_tuning.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    wp::prefer_vector_memcpy(argv); // bulk data through libssh: see memcpy_tuning.cpp
    CLI::App app{"wp-fetchlogs: claim each server's Squid log, fetch every claimed file into the spool, verified",
                 "wp-fetchlogs"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-fetchlogs");
    wp::FetchRequest request;
    wp::add_fetchlogs_options(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_fetchlogs(request, options); });
}
