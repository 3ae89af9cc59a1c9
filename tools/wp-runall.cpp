// wp-runall: run a command, push a file or run a script on every selected server.
#include "base/memcpy_tuning.h"
#include "cmd/runall.h"
#include "cmd/tool.h"

int main(int argc, char** argv) {
    wp::prefer_vector_memcpy(argv); // bulk data through libssh: see memcpy_tuning.cpp
    CLI::App app{"wp-runall: run a command, push a file or run a script on every selected server, serially or "
                 "in parallel, with a summary",
                 "wp-runall"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-runall");
    wp::RunallRequest request;
    wp::add_runall_options(app, request);
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_runall(request, options); });
}
