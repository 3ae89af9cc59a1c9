#include "cmd/rollup.h"

#include <algorithm>
#include <array>
#include <optional>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/table.h"
#include "store/db.h"
#include "summary/rollup.h"

namespace wp {

// ---- command line ---------------------------------------------------------------

namespace {

std::string name_of(Database& db, std::string_view table, std::int64_t id) {
    auto st = db.prepare(table == "servers" ? "SELECT name FROM servers WHERE id = ?"
                                            : "SELECT name FROM users WHERE id = ?");
    st.bind(1, id);
    return st.step() ? st.column_text(0) : fmt::format("#{}", id);
}

std::string describe(const std::optional<std::array<std::int64_t, 3>>& counts) {
    if (!counts) {
        return "no row";
    }
    return fmt::format("{} requests, {} bytes, {} billed", (*counts)[0], (*counts)[1], (*counts)[2]);
}

int run_verify(const RollupRequest& r, const CommonOptions& o) {
    auto db = open_for_reading(o.db);
    const DayCalendar calendar(r.tz.empty() ? "UTC" : r.tz);
    check_summary_zone(summary_zone(*db), calendar.zone());
    // A sum that overflowed into a REAL (older versions), or a negative one,
    // is no bill whatever the summary says.
    for (const std::string_view table : {"usage", "sum_usage_daily", "usage_classes", "sum_usage_daily_class"}) {
        auto bad = db->prepare(fmt::format(
            "SELECT count(*), min(CAST(bytes AS TEXT) || ' bytes, ' || CAST(billed_bytes AS TEXT) || ' billed, ' || "
            "CAST(requests AS TEXT) || ' requests') FROM {} WHERE typeof(requests) <> 'integer' OR typeof(bytes) <> "
            "'integer' OR typeof(billed_bytes) <> 'integer' OR requests < 0 OR bytes < 0 OR billed_bytes < 0",
            table));
        bad.step();
        if (bad.column_int64(0) > 0) {
            fail(exit_code::k_partial, "{} rows of {} hold values that are not 64-bit integers of 0 or more (e.g. {})",
                 bad.column_int64(0), table, bad.column_text(1));
        }
    }
    const auto outcome = verify_summary(*db, calendar);
    if (outcome.pending > 0) {
        info(0, "{} server-days wait for a refresh and were not compared", outcome.pending);
    }
    std::fflush(stdout);
    const std::size_t split_shown =
        verbosity() > 0 ? outcome.split_errors.size() : std::min<std::size_t>(100, outcome.split_errors.size());
    for (std::size_t i = 0; i < split_shown; ++i) {
        fmt::print(stderr, "{}: {}\n", program_name(), escape_control(outcome.split_errors[i]));
    }
    if (split_shown < outcome.split_errors.size()) {
        fmt::print(stderr, "{}: … and {} more (-v shows all)\n", program_name(),
                   outcome.split_errors.size() - split_shown);
    }
    if (!outcome.split_errors.empty()) {
        fmt::print(stderr, "{}: {} rows break billed bytes = sum of class bytes x factor\n", program_name(),
                   outcome.split_errors.size());
    }
    if (outcome.differences.empty()) {
        return outcome.split_errors.empty() ? exit_code::k_ok : exit_code::k_partial;
    }
    const std::size_t shown =
        verbosity() > 0 ? outcome.differences.size() : std::min<std::size_t>(100, outcome.differences.size());
    std::fflush(stdout);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto& d = outcome.differences[i];
        fmt::print(stderr, "{}: {} {} {}: summary {}; usage {}\n", program_name(), d.day,
                   escape_control(name_of(*db, "servers", d.server_id)),
                   escape_control(name_of(*db, "users", d.user_id)), describe(d.summary), describe(d.usage));
    }
    if (shown < outcome.differences.size()) {
        fmt::print(stderr, "{}: … and {} more (-v shows all)\n", program_name(), outcome.differences.size() - shown);
    }
    fmt::print(stderr, "{}: {} summary rows differ from usage; wp-rollup --rebuild (or --since DAY) recomputes them\n",
               program_name(), outcome.differences.size());
    return exit_code::k_partial;
}

int run_refresh(const RollupRequest& r, const CommonOptions& o) {
    const DayCalendar calendar(r.tz.empty() ? "UTC" : r.tz);
    const std::int64_t now = now_epoch();
    RefreshWindow window;
    window.rebuild = r.rebuild;
    if (r.days > 0) {
        window.first_day = calendar.day_of(now) - (r.days - 1);
    }
    if (!r.since.empty()) {
        const auto since = parse_day(r.since);
        if (!since) {
            fail(exit_code::k_usage, "--since: '{}' is not a day (YYYY-MM-DD)", r.since);
        }
        if (const auto today = calendar.day_of(now); *since > today) {
            // No day of usage can be there yet: a typo, not a refresh of nothing.
            fail(exit_code::k_usage, "--since: {} is in the future (today is {} in {})", r.since, day_name(today),
                 calendar.zone());
        }
        window.first_day = std::min(window.first_day.value_or(*since), *since);
    }
    // A refresh never creates a database: a mistyped --db is an error, not a
    // new empty database (wp-hosts and wp-parse create it).
    Database db(o.db, OpenMode::read_write);
    LockFile lock(o.db + ".rollup.lock");
    const auto outcome = refresh_summary(db, calendar, window, now, r.dry_run);
    if (r.dry_run) {
        if (window.rebuild) {
            fmt::print("rebuild\tevery day of every server, days in {}\n", calendar.zone());
        } else {
            Table table({{"server"}, {"day"}});
            for (const auto& p : outcome.recomputed) {
                table.add_row({name_of(db, "servers", p.server_id), day_name(p.day)});
            }
            table.print(stdout, OutputFormat::automatic);
        }
        return exit_code::k_ok;
    }
    info(1, "{} server-days recomputed, {} summary rows written, {} removed, {} dirty marks consumed (days in {})",
         window.rebuild ? std::string("all") : std::to_string(outcome.recomputed.size()), outcome.rows_written,
         outcome.rows_removed, outcome.marks_consumed, calendar.zone());
    return exit_code::k_ok;
}

} // namespace

void add_rollup_commands(CLI::App& app, RollupRequest& r) {
    app.require_subcommand(0, 1);
    setting(app.add_option("--tz", r.tz, "time zone of the summary's days, e.g. America/Toronto (default UTC)"));
    auto* days = app.add_option("--days", r.days, "also recompute the last N days, today included")
                     ->check(CLI::Range(1, 1000000));
    auto* since = app.add_option("--since", r.since, "also recompute every day from DAY (YYYY-MM-DD) to today");
    auto* rebuild = app.add_flag("--rebuild", r.rebuild, "rebuild the whole summary (the way to change --tz)");
    auto* verify = app.add_flag("--verify", r.verify, "recompute from usage and compare; change nothing");
    auto* dry_run = app.add_flag("-n,--dry-run", r.dry_run, "list the server-days a refresh would recompute");
    days->excludes(since);
    rebuild->excludes(days)->excludes(since);
    verify->excludes(days)->excludes(since)->excludes(rebuild)->excludes(dry_run);

    auto* report = app.add_subcommand("report", "usage by user, account, server, place, day or month");
    add_report_options(*report, r.report);

    // Shared options may follow `report`; refresh options there are a mistake.
    app.parse_complete_callback([&app, days, since, rebuild, verify, dry_run] {
        if (!app.got_subcommand("report")) {
            return;
        }
        for (const CLI::Option* opt : {days, since, rebuild, verify, dry_run}) {
            if (opt->count() > 0) {
                throw CLI::ValidationError(opt->get_name(), "refreshes the summary; it is not a report option");
            }
        }
    });
}

int run_rollup(CLI::App& app, const RollupRequest& r, const CommonOptions& o) {
    if (app.got_subcommand("report")) {
        auto db = open_for_reading(o.db);
        const auto built = summary_zone(*db);
        if (!r.tz.empty()) {
            const DayCalendar asked(r.tz); // an unknown zone is a usage error first
            check_summary_zone(built, asked.zone());
        }
        const DayCalendar calendar(built.value_or(r.tz.empty() ? "UTC" : r.tz));
        return run_report(*db, r.report, calendar, now_epoch());
    }
    if (r.verify) {
        return run_verify(r, o);
    }
    return run_refresh(r, o);
}

} // namespace wp
