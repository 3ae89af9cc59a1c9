#include "cmd/parse.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <sys/stat.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "billing/billing.h"
#include "billing/ingest.h"
#include "billing/ingest_inputs.h"
#include "billing/reconcile.h"
#include "billing/squid_log.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

// Every file of the inputs under its server's name. One server's files are
// ingested by one worker, so that one thread writes its archive days.
std::map<std::string, std::vector<IngestJob>>
jobs_by_server(const std::vector<std::string>& inputs, const std::string& server_option, const std::string& spool) {
    std::map<std::string, std::vector<IngestJob>> by_server;
    for (const auto& input : inputs) {
        for (const auto& path : expand_input(input)) {
            std::string server = server_option.empty() ? server_for_path(path, spool) : server_option;
            if (server.empty()) {
                fail(exit_code::k_usage, "cannot tell the server of {}: give --server NAME", path);
            }
            by_server[server].push_back({path, server});
        }
    }
    return by_server;
}

// Brings the ledger level with the archive before new files are billed;
// true when the archive has problems (the run then ends in k_partial).
bool reconcile_before_ingest(const CommonOptions& opts, const BillingRules& rules, bool rebuild) {
    Database db(opts.db);
    ReconcileSettings settings;
    settings.archive = opts.archive;
    settings.spool = opts.spool;
    settings.rules = &rules;
    settings.rebuild = rebuild;
    settings.collector = opts.collector;
    const ReconcileReport report = reconcile_archive(db, settings);
    for (const auto& w : report.problems) {
        warn_message(w);
    }
    for (const auto& w : report.warnings) {
        warn_message(w);
    }
    for (const auto& n : report.notes) {
        info(1, "{}", n);
    }
    if (report.sources_billed > 0) {
        info(1, "billed {} source files ({} lines) from the archive", report.sources_billed, report.lines_billed);
    }
    return !report.problems.empty();
}

IngestSettings ingest_settings_for(const ParseRequest& req, const CommonOptions& opts) {
    IngestSettings settings;
    settings.db = opts.db;
    settings.archive = opts.archive;
    settings.rejects = opts.rejects;
    settings.spool = opts.spool;
    settings.zstd_level = req.zstd_level;
    settings.max_reject_ratio = req.max_reject_ratio;
    settings.keep = req.keep;
    settings.force_overlap = req.force_overlap;
    settings.records_only = !req.output.empty();
    if (!opts.collector.empty()) {
        settings.collector = opts.collector;
    }
    return settings;
}

} // namespace

void add_parse_options(CLI::App& app, ParseRequest& request) {
    app.add_option("input", request.inputs, "log files, directories (walked) or - (default: the spool)");
    app.add_option("--server", request.server, "server name for every input (needed for -)");
    app.add_option("--format", request.format, "native (default), common, combined, or a Squid logformat string");
    app.add_option("-o,--output", request.output,
                   "write merged (server, user, hour) records to FILE or - and touch nothing else");
    app.add_flag("--json", request.json, "with -o: JSON lines instead of TSV");
    add_jobs_option(app, request.jobs, "files parsed at once");
    setting(app.add_option("--max-reject-ratio", request.max_reject_ratio,
                           "share of lines not understood above which a file is not billed")
                ->check(CLI::Range(0.0, 1.0))
                ->capture_default_str());
    setting(
        app.add_option("--zstd-level", request.zstd_level, "archive compression level (1-19)")->capture_default_str());
    app.add_flag("--keep", request.keep, "leave billed spool files in place");
    app.add_flag("--force-overlap", request.force_overlap,
                 "bill files that start like a billed file of the server but differ from it");
    app.add_flag("--rebuild-db", request.rebuild_db,
                 "bill the whole archive into an empty database (usage, ledger, archive sizes) and stop");
}

int run_parse(const ParseRequest& req, const CommonOptions& opts) {
    const bool records_only = !req.output.empty();
    if (req.json && !records_only) {
        // Billing writes no records: without -o the flag would be ignored and
        // the input billed when a pipeline was meant.
        fail(exit_code::k_usage, "--json needs -o FILE or -o -: it is the format of the records -o writes");
    }
    if (req.zstd_level < 1 || req.zstd_level > 19) {
        fail(exit_code::k_usage, "--zstd-level must be between 1 and 19");
    }
    if (!req.server.empty()) {
        if (auto p = check_server_name(req.server); !p.empty()) {
            fail(exit_code::k_usage, "--server: {}", p);
        }
    }
    const LogGrammar grammar = LogGrammar::by_name_or_format(req.format);
    // The installed rules file, else the same table built in; a file named
    // with --rules must exist.
    struct stat rules_stat {};
    const BillingRules rules = !opts.rules.empty() || ::stat(opts.rules_path().c_str(), &rules_stat) == 0
                                   ? BillingRules::load(opts.rules_path())
                                   : BillingRules::defaults();

    if (req.rebuild_db && (records_only || !req.inputs.empty())) {
        fail(exit_code::k_usage, "--rebuild-db reads the archive alone: it takes no input and no --output");
    }
    std::vector<std::string> inputs = req.inputs;
    if (inputs.empty() && !req.rebuild_db) {
        struct stat sb {};
        if (::stat(opts.spool.c_str(), &sb) != 0) {
            fail_errno(errno, fmt::format("cannot read spool {}", opts.spool));
        }
        inputs.push_back(opts.spool);
    }
    const auto stdin_count = std::count(inputs.begin(), inputs.end(), "-");
    if (stdin_count > 1) {
        fail(exit_code::k_usage, "'-' may be given once");
    }
    if (stdin_count == 1 && req.server.empty()) {
        fail(exit_code::k_usage, "reading '-' needs --server NAME");
    }
    const auto by_server = jobs_by_server(inputs, req.server, opts.spool);

    std::optional<LockFile> lock;
    bool archive_problems = false;
    if (!records_only) {
        make_database_directory(opts.db);
        { Database create(opts.db); } // exists (and is migrated) before it is locked
        if (is_postgresql_uri(opts.db)) {
            // Collectors share the database and lock each server as they
            // bill it (billing/ingest); this lock is this collector's spool.
            make_directories(opts.spool);
            lock.emplace(opts.spool + "/.wp-parse.lock");
        } else {
            // The lock is the database file's own, whatever name reaches it.
            lock.emplace(opts.db, LockFile::OnFile{});
        }
        archive_problems = reconcile_before_ingest(opts, rules, req.rebuild_db);
        if (req.rebuild_db) {
            return archive_problems ? exit_code::k_partial : exit_code::k_ok;
        }
    }

    const IngestTotals state = ingest_files(by_server, req.jobs, ingest_settings_for(req, opts), grammar, rules);
    for (const auto& [tag, n] : state.unpriced) {
        warn("tag {} has no billing rule: {} lines billed by the default rule", tag, n);
    }
    if (records_only) {
        write_usage_records(req.output, req.json, state.records);
    }
    if (interrupted()) {
        return exit_code::k_temp_fail;
    }
    if (state.lines > 0 && state.understood == 0) {
        fail(exit_code::k_data, "no line of the input was understood as Squid {} format", grammar.description());
    }
    if (state.connection_lost) {
        return exit_code::k_temp_fail;
    }
    return state.failed_files > 0 || archive_problems ? exit_code::k_partial : exit_code::k_ok;
}

} // namespace wp
