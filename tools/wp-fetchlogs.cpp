// wp-fetchlogs: bring every server's Squid log into the spool, verified.
#include "fetch.h"
#include "memcpy_tuning.h"
#include "tool.h"

int main(int argc, char** argv) {
    wp::prefer_vector_memcpy(argv); // bulk data through libssh: see memcpy_tuning.cpp
    CLI::App app{"wp-fetchlogs: claim each server's Squid log, fetch every claimed file into the spool, verified",
                 "wp-fetchlogs"};
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-fetchlogs");
    wp::FetchRequest request;
    app.add_option("-H,--hosts", request.hosts, "only these servers, comma-separated (inactive ones too)")
        ->delimiter(',');
    app.add_option("--where", request.where, "only servers matching this read-only SQL condition");
    app.add_option("--transfer", request.transfer, "sftp, zstd (compressed stream) or auto")
        ->check(CLI::IsMember({"sftp", "zstd", "auto"}))
        ->capture_default_str();
    app.add_flag("--dry-run", request.dry_run, "connect and list what would be claimed and fetched; change nothing");
    app.add_flag("--accept-new", request.accept_new, "record unknown host keys (changed ones are always refused)");
    app.add_option("-j,--jobs", request.jobs, "hosts fetched at once")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--timeout", request.timeout, "seconds allowed for one host")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    app.add_option("--ssh-config", request.ssh_config, "ssh_config file (default ~/.ssh/config)");
    return wp::run_tool(app, options, argc, argv, [&] { return wp::run_fetchlogs(request, options); });
}
