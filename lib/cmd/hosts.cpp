#include "cmd/hosts.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <sys/stat.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/table.h"
#include "cmd/tool.h"
#include "health/health_check.h"
#include "health/pipeline_facts.h"
#include "store/db.h"
#include "store/db_copy.h"
#include "store/pg_backend.h"

namespace wp {

namespace {

void add_field_options(CLI::App* sub, HostsRequest& r) {
    sub->add_option_function<std::string>(
        "--address", [&r](const std::string& v) { r.changes.address = v; }, "host name or IP address (default: NAME)");
    sub->add_option_function<std::string>(
        "--port",
        [&r](const std::string& v) {
            int port = 0;
            if (auto p = check_port(v, port); !p.empty()) {
                throw CLI::ValidationError("--port", p);
            }
            r.changes.port = port;
        },
        "SSH port (default 22)");
    sub->add_option_function<std::string>(
        "--ssh-user", [&r](const std::string& v) { r.changes.ssh_user = v; }, "remote user for this server");
    sub->add_option_function<std::string>(
        "--city", [&r](const std::string& v) { r.changes.city = v; }, "city");
    sub->add_option_function<std::string>(
        "--country",
        [&r](const std::string& v) {
            std::string upper;
            if (auto p = check_country(v, upper); !v.empty() && !p.empty()) {
                throw CLI::ValidationError("--country", p);
            }
            r.changes.country = upper;
        },
        "ISO 3166-1 alpha-2 country code, e.g. CA");
    sub->add_option_function<std::string>(
        "--provider", [&r](const std::string& v) { r.changes.provider = v; }, "VPS provider");
    sub->add_option_function<std::string>(
        "--virt", [&r](const std::string& v) { r.changes.virt = v; },
        "xen, openvz, virtuozzo, kvm, vmware, lxc, physical, unknown");
    sub->add_option_function<std::string>(
        "--log-path", [&r](const std::string& v) { r.changes.log_path = v; },
        "Squid access log (default /var/log/squid/access.log)");
    sub->add_option_function<std::string>(
        "--rotate-cmd", [&r](const std::string& v) { r.changes.rotate_cmd = v; },
        "command that makes Squid reopen its log (default 'squid -k rotate')");
    sub->add_option_function<std::string>(
        "--notes", [&r](const std::string& v) { r.changes.notes = v; }, "notes");
    sub->add_option_function<std::string>(
        "--collector", [&r](const std::string& v) { r.changes.collector = v; },
        "the collector that fetches it (its collector = in wp.conf; '' for the one without a name)");
}

// add and set both take --active yes|no and its short form --inactive.
void add_active_options(CLI::App* sub, HostsRequest& r) {
    auto* active = sub->add_option_function<std::string>(
        "--active",
        [&r](const std::string& v) {
            if (v == "yes" || v == "1" || v == "true") {
                r.changes.active = true;
            } else if (v == "no" || v == "0" || v == "false") {
                r.changes.active = false;
            } else {
                throw CLI::ValidationError("--active", fmt::format("'{}' is not yes or no", v));
            }
        },
        "yes or no (no: not contacted by any tool)");
    sub->add_flag_callback(
           "--inactive", [&r] { r.changes.active = false; }, "the same as --active no")
        ->excludes(active);
}

OutputFormat format_of(const HostsRequest& r) {
    return r.format.empty() ? OutputFormat::automatic : parse_output_format(r.format);
}

std::string opt(const std::optional<std::string>& v) {
    return v.value_or("");
}

int list_servers(Inventory& inv, const HostsRequest& r) {
    // Every server not retired (with --all, those too), or those named.
    const auto servers = select_servers(inv, r.select, named_hosts(r.select), {.inactive = true, .retired = r.all});
    // The same columns with or without --all, so that scripts can rely on them.
    Table table({{"name"},
                 {"address"},
                 {"port", true},
                 {"city"},
                 {"country"},
                 {"provider"},
                 {"virt"},
                 {"active", false, true},
                 {"retired_at"}});
    for (const auto& s : servers) {
        table.add_row({s.name, s.address, std::to_string(s.port), opt(s.city), opt(s.country), opt(s.provider), s.virt,
                       s.active ? "yes" : "no", s.retired_at ? format_utc(*s.retired_at) : ""});
    }
    table.print(stdout, format_of(r));
    return exit_code::k_ok;
}

int add_server(Inventory& inv, const HostsRequest& r) {
    Server s;
    s.name = r.names.at(0);
    const auto& c = r.changes;
    s.address = c.address.value_or("");
    s.port = c.port.value_or(22);
    s.ssh_user = c.ssh_user;
    s.city = c.city;
    s.country = c.country;
    s.provider = c.provider;
    s.virt = c.virt.value_or("unknown");
    s.active = c.active.value_or(true);
    if (c.log_path) s.log_path = *c.log_path;
    if (c.rotate_cmd) s.rotate_cmd = *c.rotate_cmd;
    s.notes = c.notes;
    if (c.collector && !c.collector->empty()) {
        s.collector = c.collector;
    }
    inv.add(s);
    return exit_code::k_ok;
}

std::string utc_or_empty(const std::optional<std::int64_t>& epoch) {
    return epoch ? format_utc(*epoch) : "";
}

// The format a listing is written in, automatic decided for stdout.
OutputFormat resolved_format(const HostsRequest& r) {
    const OutputFormat f = format_of(r);
    if (f != OutputFormat::automatic) {
        return f;
    }
    return is_smart_terminal(stdout) ? OutputFormat::table : OutputFormat::tsv;
}

// A clock reading for people: "+30.01 s ±0.01 s", the uncertainty rounded up.
std::string clock_text(const std::optional<ClockReading>& clock) {
    if (!clock) {
        return "";
    }
    const std::int64_t centis = (clock->uncertainty_ms + 9) / 10;
    return fmt::format("{:+.2f} s \u00b1{}.{:02} s", static_cast<double>(clock->offset_ms) / 1000.0, centis / 100,
                       centis % 100);
}

std::string number_or_empty(const std::optional<ClockReading>& clock, std::int64_t ClockReading::*field) {
    return clock ? std::to_string((*clock).*field) : "";
}

using Field = std::pair<Table::Column, std::string>;

// The clock as status and show give it: for people the text, when it was
// read and (with now) how long ago, as wp-hosts check words ages; for
// scripts the exact milliseconds and when.
std::vector<Field> clock_fields(const std::optional<ClockReading>& clock, bool people,
                                std::optional<std::int64_t> now = std::nullopt) {
    std::vector<Field> fields;
    if (people) {
        fields.push_back({{"clock_offset"}, clock_text(clock)});
    } else {
        fields.push_back({{"clock_offset_ms", true}, number_or_empty(clock, &ClockReading::offset_ms)});
        fields.push_back({{"clock_uncertainty_ms", true}, number_or_empty(clock, &ClockReading::uncertainty_ms)});
    }
    fields.push_back({{"clock_measured_at"}, clock ? format_utc(clock->measured_at) : ""});
    if (people && now) {
        fields.push_back(
            {{"clock_age", true}, clock ? short_age(std::max<std::int64_t>(0, *now - clock->measured_at)) : ""});
    }
    return fields;
}

// A table shows the clock as text; TSV, CSV and JSON carry the exact
// milliseconds. Columns are only ever added at the end.
int status_servers(Inventory& inv, const HostsRequest& r) {
    const std::int64_t now = now_epoch();
    const OutputFormat format = resolved_format(r);
    const bool people = format == OutputFormat::table;
    std::vector<Table::Column> columns{
        {"name"}, {"last_contact"}, {"last_error"}, {"last_error_at"}, {"consecutive_failures", true}, {"last_fetch"}};
    for (auto& [column, value] : clock_fields(std::nullopt, people, now)) {
        columns.push_back(std::move(column));
    }
    Table table(std::move(columns));
    for (const auto& h : inv.status(r.names, r.where)) {
        std::vector<std::string> row{h.name,
                                     utc_or_empty(h.last_contact),
                                     opt(h.last_error),
                                     utc_or_empty(h.last_error_at),
                                     std::to_string(h.consecutive_failures),
                                     utc_or_empty(h.last_fetch)};
        for (auto& [column, value] : clock_fields(h.clock, people, now)) {
            row.push_back(std::move(value));
        }
        table.add_row(std::move(row));
    }
    table.print(stdout, format);
    return exit_code::k_ok;
}

// One server, every field and its status: `key: value` lines for people, one
// row of a listing (the same keys as columns) for scripts.
int show_server(Inventory& inv, const HostsRequest& r) {
    const std::string& name = r.names.at(0);
    const auto s = inv.find(name);
    if (!s) {
        fail(exit_code::k_no_input, "no server named {}", name);
    }
    const HostStatus h = inv.status({name}).at(0);
    const OutputFormat format = resolved_format(r);
    const bool people = format == OutputFormat::table;
    std::vector<Field> fields{
        {{"name"}, s->name},
        {{"address"}, s->address},
        {{"port", true}, std::to_string(s->port)},
        {{"ssh_user"}, opt(s->ssh_user)},
        {{"city"}, opt(s->city)},
        {{"country"}, opt(s->country)},
        {{"provider"}, opt(s->provider)},
        {{"virt"}, s->virt},
        {{"active", false, true}, s->active ? "yes" : "no"},
        {{"log_path"}, s->log_path},
        {{"rotate_cmd"}, s->rotate_cmd},
        {{"notes"}, opt(s->notes)},
        {{"collector"}, opt(s->collector)},
        {{"added_at"}, format_utc(s->added_at)},
        {{"retired_at"}, utc_or_empty(s->retired_at)},
        {{"last_contact"}, utc_or_empty(h.last_contact)},
        {{"last_fetch"}, utc_or_empty(h.last_fetch)},
        {{"consecutive_failures", true}, std::to_string(h.consecutive_failures)},
        {{"last_error"}, opt(h.last_error)},
        {{"last_error_at"}, utc_or_empty(h.last_error_at)},
    };
    for (auto& field : clock_fields(h.clock, people)) {
        fields.push_back(std::move(field));
    }
    if (people) {
        std::size_t width = 0;
        for (const auto& [column, value] : fields) {
            width = std::max(width, column.name.size());
        }
        fmt::memory_buffer out;
        for (const auto& [column, value] : fields) {
            // A value on one line: a newline in notes must not pass for a field.
            if (value.empty()) {
                fmt::format_to(std::back_inserter(out), "{}:\n", column.name);
            } else {
                fmt::format_to(std::back_inserter(out), "{:<{}} {}\n", column.name + ":", width + 1, tsv_escape(value));
            }
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
        return exit_code::k_ok;
    }
    std::vector<Table::Column> columns;
    std::vector<std::string> row;
    for (auto& [column, value] : fields) {
        columns.push_back(std::move(column));
        row.push_back(std::move(value));
    }
    Table table(std::move(columns));
    table.add_row(std::move(row));
    table.print(stdout, format);
    return exit_code::k_ok;
}

// ---- check ------------------------------------------------------------------------

void add_check_options(CLI::App* check, CheckRequest& c) {
    auto pair = [&](std::string_view name, std::string& warn, std::string& crit, std::string_view what) {
        setting(check->add_option(fmt::format("--warn-{}", name), warn, fmt::format("WARNING at {} (none: off)", what))
                    ->capture_default_str());
        setting(check->add_option(fmt::format("--crit-{}", name), crit, fmt::format("CRITICAL at {} (none: off)", what))
                    ->capture_default_str());
    };
    pair("fetch-age", c.warn_fetch_age, c.crit_fetch_age, "this long without a fetch");
    pair("failures", c.warn_failures, c.crit_failures, "this many consecutive failures");
    pair("clock", c.warn_clock, c.crit_clock, "a clock this far off");
    pair("spool-files", c.warn_spool_files, c.crit_spool_files, "this many files waiting in the spool");
    pair("spool-bytes", c.warn_spool_bytes, c.crit_spool_bytes, "this size waiting in the spool");
    pair("spool-age", c.warn_spool_age, c.crit_spool_age, "a spool file this old");
    pair("rejects-held", c.warn_rejects_held, c.crit_rejects_held, "this many spool files held for rejects");
    pair("summary-age", c.warn_summary_age, c.crit_summary_age, "an ingest this old not in the summary");
    check->add_option("--prometheus", c.prometheus, "also write the facts as node_exporter textfile metrics to FILE");
}

Threshold threshold_of(ThresholdKind kind, std::string_view name, const std::string& warn, const std::string& crit) {
    Threshold t{parse_threshold(kind, fmt::format("--warn-{}", name), warn),
                parse_threshold(kind, fmt::format("--crit-{}", name), crit)};
    check_threshold_order(t, name, warn, crit);
    return t;
}

CheckThresholds thresholds_of(const CheckRequest& c) {
    CheckThresholds t;
    t.fetch_age = threshold_of(ThresholdKind::duration, "fetch-age", c.warn_fetch_age, c.crit_fetch_age);
    t.failures = threshold_of(ThresholdKind::count, "failures", c.warn_failures, c.crit_failures);
    t.clock = threshold_of(ThresholdKind::duration, "clock", c.warn_clock, c.crit_clock);
    t.spool_files = threshold_of(ThresholdKind::count, "spool-files", c.warn_spool_files, c.crit_spool_files);
    t.spool_bytes = threshold_of(ThresholdKind::size, "spool-bytes", c.warn_spool_bytes, c.crit_spool_bytes);
    t.spool_age = threshold_of(ThresholdKind::duration, "spool-age", c.warn_spool_age, c.crit_spool_age);
    t.rejects_held = threshold_of(ThresholdKind::count, "rejects-held", c.warn_rejects_held, c.crit_rejects_held);
    t.summary_age = threshold_of(ThresholdKind::duration, "summary-age", c.warn_summary_age, c.crit_summary_age);
    return t;
}

// The installation in the SQLite database db copied into the empty
// PostgreSQL database to; wp.conf's db is the operator's to change after.
int migrate_database(const std::string& db, const std::string& to) {
    if (!is_postgresql_uri(to)) {
        fail(exit_code::k_usage,
             "--to {}: not a PostgreSQL database (postgresql://USER@HOST:PORT/NAME or service=NAME)", to);
    }
    if (is_postgresql_uri(db)) {
        fail(exit_code::k_usage, "the database {} is PostgreSQL already: migrate-db copies from an SQLite one",
             redacted_conninfo(db));
    }
    const auto source = open_for_reading(db);
    Database target(to, OpenMode::create);
    for (const auto& [table, rows] : copy_database(*source, target)) {
        info(1, "{}: {} row{} copied", table, rows, rows == 1 ? "" : "s");
    }
    return exit_code::k_ok;
}

} // namespace

std::pair<CheckStatus, std::string> check_pipeline(const CheckRequest& request, const CommonOptions& options,
                                                   std::int64_t now) {
    try {
        const CheckThresholds thresholds = thresholds_of(request);
        if (!database_exists(options.db)) {
            fail(exit_code::k_no_input, "no database {} (wp-hosts add creates one)", options.db);
        }
        const auto db = open_for_reading(options.db);
        const PipelineFacts facts = gather_pipeline_facts(*db, options.spool, options.rejects, now);
        const CheckVerdict verdict = judge_pipeline(facts, thresholds);
        if (!request.prometheus.empty()) {
            try {
                atomic_write_file(request.prometheus, prometheus_metrics(facts, verdict.status), 0644);
            } catch (const Error& e) {
                // The error names the temporary: name the file asked for first.
                fail(e.code(), "{} not written: {}", request.prometheus, e.what());
            }
        }
        return {verdict.status, verdict.line};
    } catch (const std::exception& e) {
        return {CheckStatus::unknown, fmt::format("WP UNKNOWN - {}", escape_control(e.what()))};
    }
}

void add_hosts_commands(CLI::App& app, HostsRequest& r) {
    app.require_subcommand(1);
    auto* list = app.add_subcommand("list", "list servers");
    add_host_options(*list, r.select);
    list->add_flag("--all", r.all, "include retired servers");
    setting(list->add_option("--format", r.format, "table, tsv, csv or json (default: table on a terminal, else tsv)"));

    auto* add = app.add_subcommand("add", "add a server");
    add->add_option("name", r.names, "server name")->required()->expected(1);
    add_field_options(add, r);
    add_active_options(add, r);

    auto* set = app.add_subcommand("set", "change a server's fields");
    set->add_option("name", r.names, "server name")->required()->expected(1);
    add_field_options(set, r);
    add_active_options(set, r);
    set->add_option_function<std::string>(
        "--rename", [&r](const std::string& v) { r.changes.name = v; }, "new name");

    auto* retire = app.add_subcommand("retire", "retire servers (their history is kept)");
    retire->add_option("name", r.names, "server names")->required();

    auto* import = app.add_subcommand("import", "import servers from CSV with a header row");
    import->add_option("file", r.import_file, "CSV file, or - for standard input")->required();

    auto* status =
        app.add_subcommand("status", "last contact, last error, consecutive failures, last fetch, clock offset");
    status->add_option("name", r.names, "server names (default: all)");
    status->add_option("--where", r.where, "SQL filter over the servers columns (read-only)");
    setting(status->add_option("--format", r.format, "table, tsv, csv or json"));

    auto* show = app.add_subcommand("show", "one server: every field, its status and its clock");
    show->add_option("name", r.names, "server name")->required()->expected(1);
    setting(show->add_option("--format", r.format,
                             "table (key: value lines), tsv, csv or json (default: table on a terminal, else tsv)"));
    auto* check = app.add_subcommand("check", "the pipeline's health (a monitoring plugin)");
    mark_monitoring_plugin(check, "WP");
    add_check_options(check, r.check);
    auto* migrate_db =
        app.add_subcommand("migrate-db", "copy the whole SQLite database into an empty PostgreSQL database");
    migrate_db->add_option("--to", r.migrate_to, "the PostgreSQL database, postgresql://USER@HOST:PORT/NAME")
        ->required();
}

int run_hosts(CLI::App& app, const HostsRequest& r, const CommonOptions& options) {
    const std::string command = app.get_subcommands().at(0)->get_name();
    if (command == "check") {
        const auto [status, line] = check_pipeline(r.check, options, now_epoch());
        fmt::print("{}\n", line);
        return static_cast<int>(status);
    }
    if (command == "migrate-db") {
        return migrate_database(options.db, r.migrate_to);
    }
    if (command == "list" || command == "status" || command == "show") {
        const auto reader = open_for_reading(options.db);
        Inventory inv(*reader);
        if (command == "show") {
            return show_server(inv, r);
        }
        return command == "list" ? list_servers(inv, r) : status_servers(inv, r);
    }
    // Only adding servers makes a new database: set and retire on a mistyped
    // --db name no server and are errors.
    const bool adds = command == "add" || command == "import";
    if (adds) {
        make_database_directory(options.db);
    }
    Database db(options.db, adds ? OpenMode::create : OpenMode::read_write);
    Inventory inv(db);
    if (command == "add") {
        return add_server(inv, r);
    }
    if (command == "set") {
        inv.change(r.names.at(0), r.changes);
        return exit_code::k_ok;
    }
    if (command == "retire") {
        Transaction tx(db);
        for (const auto& n : r.names) {
            inv.retire(n);
        }
        tx.commit();
        return exit_code::k_ok;
    }
    if (command == "import") {
        const std::string text = read_file_or_stdin(r.import_file);
        const auto count = inv.import_csv(text, r.import_file == "-" ? "<stdin>" : r.import_file);
        info(1, "imported {} servers", count);
    }
    return exit_code::k_ok;
}

} // namespace wp
