#include "cmd/rollup.h"

#include <algorithm>
#include <array>
#include <optional>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/table.h"
#include "base/units.h"
#include "cmd/tool.h"
#include "store/db.h"
#include "summary/invoice.h"
#include "summary/rollup.h"
#include "summary/statement.h"

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
    // (PostgreSQL's columns are bigint: only the sign can be wrong there.)
    const std::string_view not_integer =
        db->dialect() == Dialect::sqlite
            ? "typeof(requests) <> 'integer' OR typeof(bytes) <> 'integer' OR typeof(billed_bytes) <> 'integer' OR "
            : "";
    for (const std::string_view table : {"usage", "sum_usage_daily", "usage_classes", "sum_usage_daily_class"}) {
        auto bad = db->prepare(fmt::format(
            "SELECT count(*), min(CAST(bytes AS TEXT) || ' bytes, ' || CAST(billed_bytes AS TEXT) || ' billed, ' || "
            "CAST(requests AS TEXT) || ' requests') FROM {} WHERE {}requests < 0 OR bytes < 0 OR billed_bytes < 0",
            table, not_integer));
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
        fmt::print(
            stderr,
            "{}: {} rows break the class split (usage = its classes, billed = bytes x factor, the summary's split "
            "= the hours' under their accounts); wp-rollup --rebuild recomputes the summary's\n",
            program_name(), outcome.split_errors.size());
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
    // On PostgreSQL the refresh locks the marks and days it works on, so that
    // the collectors' refreshes run at once (summary/rollup).
    std::optional<LockFile> lock;
    if (db.dialect() == Dialect::sqlite) {
        lock.emplace(o.db + ".rollup.lock");
    }
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

// ---- invoice ---------------------------------------------------------------------

StatementFormat statement_format_for(const InvoiceRequest& r) {
    if (!r.format.empty()) {
        return parse_statement_format(r.format);
    }
    if (r.all_accounts) {
        return StatementFormat::html;
    }
    if (!r.output.empty() && r.output != "-") {
        // -o statement.html: the file's name says what it is.
        const auto dot = r.output.rfind('.');
        const std::string ext = dot == std::string::npos ? "" : r.output.substr(dot + 1);
        for (const auto f : {StatementFormat::html, StatementFormat::json, StatementFormat::csv, StatementFormat::tsv,
                             StatementFormat::table}) {
            if (ext == statement_extension(f)) {
                return f;
            }
        }
        return StatementFormat::tsv;
    }
    return is_smart_terminal(stdout) ? StatementFormat::table : StatementFormat::tsv;
}

void write_statement(const std::string& path, const std::string& text) {
    if (path.empty() || path == "-") {
        if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
            fail_errno(errno, "cannot write the statement to standard output");
        }
        return;
    }
    AtomicFile file(path);
    file.write(text);
    file.commit();
}

// ---- quota -------------------------------------------------------------------------

// A percentage with at most two decimals, in hundredths of a percent.
std::int64_t parse_percent(std::string_view option, const std::string& text) {
    std::int64_t hundredths = 0;
    int decimals = -1;
    bool digits = false;
    for (const char c : text) {
        if (c == '.' && decimals < 0) {
            decimals = 0;
        } else if (c >= '0' && c <= '9' && decimals < 2 && hundredths <= 100000000) {
            hundredths = hundredths * 10 + (c - '0');
            digits = true;
            decimals += decimals >= 0 ? 1 : 0;
        } else {
            digits = false;
            break;
        }
    }
    for (int d = std::max(decimals, 0); d < 2; ++d) {
        hundredths *= 10;
    }
    if (decimals == 0) {
        digits = false; // "80." is no number written by a person who meant one
    }
    if (!digits || hundredths > 100000) {
        fail(exit_code::k_usage, "{}: '{}' is not a percentage from 0 to 1000 (at most two decimals)", option,
             escape_control(text));
    }
    return hundredths;
}

// Products of two 64-bit counts, exact.
__extension__ using Wide = __int128;

// floor(a * b / c) without overflow (quota and usage are 64-bit).
std::int64_t scaled(std::int64_t a, std::int64_t b, std::int64_t c) {
    return static_cast<std::int64_t>(static_cast<Wide>(a) * b / c);
}

// ceil(a * b / c) without overflow: the least whole count that reaches a
// threshold of a * b / c.
std::int64_t scaled_up(std::int64_t a, std::int64_t b, std::int64_t c) {
    const Wide p = static_cast<Wide>(a) * b;
    return static_cast<std::int64_t>((p + c - 1) / c);
}

std::string calendar_zone(Database& db, const std::string& zone) {
    return zone.empty() ? summary_zone(db).value_or("UTC") : zone;
}

} // namespace

int run_invoice(const InvoiceRequest& r, const std::string& zone, const CommonOptions& o, std::int64_t now) {
    const int targets = (r.account.empty() ? 0 : 1) + (r.unassigned ? 1 : 0) + (r.all_accounts ? 1 : 0);
    if (targets != 1) {
        fail(exit_code::k_usage, "give one of --account ACCOUNT, --unassigned or --all-accounts");
    }
    if (r.all_accounts != !r.outdir.empty()) {
        fail(exit_code::k_usage, "--all-accounts and --outdir DIR go together");
    }
    const StatementFormat format = statement_format_for(r);
    const SizeUnits units = r.si ? SizeUnits::si : SizeUnits::iec;
    if (!zone.empty()) {
        const DayCalendar asked(zone); // an unknown zone is a usage error first
    }
    month_period(r.month, DayCalendar()); // so is a month that is none

    auto db = open_for_reading(o.db);
    // One snapshot for every figure and every file: an hourly wp-parse
    // committing meanwhile cannot split a statement or a batch.
    const ReadSnapshot snapshot(*db);
    const DayCalendar calendar(calendar_zone(*db, zone));
    const InvoicePeriod period = month_period(r.month, calendar);
    check_closed(period, now);
    if (!r.all_accounts) {
        const auto account = r.unassigned ? std::nullopt : std::optional<std::string>(r.account);
        write_statement(r.output, render_statement(compute_invoice(*db, account, period, calendar), format, units));
        return exit_code::k_ok;
    }
    make_directories(r.outdir);
    const std::string ext(statement_extension(format));
    for (const auto& name : account_names(*db)) {
        if (!is_valid_account_name(name)) {
            fail(exit_code::k_data, "account '{}' cannot name a file ([A-Za-z0-9._@+-], first a letter or digit)",
                 escape_control(name));
        }
        write_statement(fmt::format("{}/{}-{}.{}", r.outdir, name, period.month, ext),
                        render_statement(compute_invoice(*db, name, period, calendar), format, units));
    }
    // No account name starts with '_': this file can be no account's.
    if (has_unassigned_usage(*db, period)) {
        write_statement(fmt::format("{}/_unassigned-{}.{}", r.outdir, period.month, ext),
                        render_statement(compute_invoice(*db, std::nullopt, period, calendar), format, units));
    }
    return exit_code::k_ok;
}

std::pair<QuotaStatus, std::string> check_quotas(const QuotaRequest& r, const std::string& zone, const CommonOptions& o,
                                                 std::int64_t now) {
    try {
        const std::int64_t warn = parse_percent("--warn", r.warn);
        const std::int64_t crit = parse_percent("--crit", r.crit);
        if (warn > crit) {
            fail(exit_code::k_usage, "--warn {}% is above --crit {}%", r.warn, r.crit);
        }
        const SizeUnits units = r.si ? SizeUnits::si : SizeUnits::iec;
        if (!zone.empty()) {
            const DayCalendar asked(zone);
        }
        auto db = open_for_reading(o.db);
        const ReadSnapshot snapshot(*db);
        const DayCalendar calendar(calendar_zone(*db, zone));
        const InvoicePeriod period = current_period(now, calendar);
        auto uses = quota_usage(*db, period);
        const std::string head = fmt::format("{} ({})", period.month, period.zone);
        if (uses.empty()) {
            return {QuotaStatus::ok, fmt::format("QUOTA OK - {}: no account has a quota", head)};
        }
        // Highest share first, then by name.
        std::stable_sort(uses.begin(), uses.end(), [](const QuotaUse& a, const QuotaUse& b) {
            return static_cast<Wide>(a.billed_bytes) * b.quota_bytes >
                   static_cast<Wide>(b.billed_bytes) * a.quota_bytes;
        });
        auto level = [&](const QuotaUse& u) {
            const Wide used = static_cast<Wide>(u.billed_bytes) * 10000;
            if (used >= static_cast<Wide>(crit) * u.quota_bytes) {
                return QuotaStatus::critical;
            }
            return used >= static_cast<Wide>(warn) * u.quota_bytes ? QuotaStatus::warning : QuotaStatus::ok;
        };
        auto describe = [&](const QuotaUse& u) {
            return fmt::format("{} {}% ({} of {})", u.account, scaled(u.billed_bytes, 100, u.quota_bytes),
                               human_size(u.billed_bytes, units), human_size(u.quota_bytes, units));
        };
        QuotaStatus status = QuotaStatus::ok;
        std::string parts;
        std::int64_t ok = 0;
        for (const QuotaStatus s : {QuotaStatus::critical, QuotaStatus::warning}) {
            std::string list;
            for (const auto& u : uses) {
                if (level(u) == s) {
                    list += (list.empty() ? "" : ", ") + describe(u);
                }
            }
            if (!list.empty()) {
                status = std::max(status, s);
                parts += fmt::format("{}{} {}", parts.empty() ? "" : "; ",
                                     s == QuotaStatus::critical ? "critical" : "warning", list);
            }
        }
        for (const auto& u : uses) {
            ok += level(u) == QuotaStatus::ok ? 1 : 0;
        }
        if (status == QuotaStatus::ok) {
            parts = fmt::format("ok {} of {} accounts, highest {}", ok, uses.size(), describe(uses.front()));
        } else if (ok > 0) {
            parts += fmt::format("; ok {} of {} accounts", ok, uses.size());
        }
        std::sort(uses.begin(), uses.end(), [](const QuotaUse& a, const QuotaUse& b) { return a.account < b.account; });
        std::string perf;
        for (const auto& u : uses) {
            // Ranges as the plugin guidelines write them: `@N:` alerts from N
            // on, as the check does (a bare N would alert only above N).
            perf += fmt::format(" '{}'={}B;@{}:;@{}:;0;{}", u.account, u.billed_bytes,
                                scaled_up(u.quota_bytes, warn, 10000), scaled_up(u.quota_bytes, crit, 10000),
                                u.quota_bytes);
        }
        return {status, fmt::format("QUOTA {} - {}: {} |{}", check_status_word(status), head, parts, perf)};
    } catch (const std::exception& e) {
        return {QuotaStatus::unknown, fmt::format("QUOTA UNKNOWN - {}", escape_control(e.what()))};
    }
}

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

    auto* invoice = app.add_subcommand("invoice", "the statement of an account for a closed month");
    auto& iv = r.invoice;
    auto* account = invoice->add_option("--account", iv.account, "the account billed");
    auto* unassigned = invoice->add_flag("--unassigned", iv.unassigned, "the users no account holds");
    auto* all = invoice->add_flag("--all-accounts", iv.all_accounts, "every account's statement, into --outdir");
    invoice->add_option("--month", iv.month, "the month, YYYY-MM (closed: over in the zone)")->required();
    invoice->add_option("--format", iv.format,
                        "table, tsv, csv, json or html (default: table on a terminal, else "
                        "tsv; html with --all-accounts)");
    auto* isi = setting(invoice->add_flag("--si", iv.si, "sizes in kB, MB, GB (powers of 1000)"));
    auto* iiec = setting(invoice->add_flag("--iec", iv.iec, "sizes in KiB, MiB, GiB (powers of 1024; default)"));
    isi->excludes(iiec);
    auto* output = invoice->add_option("-o,--output", iv.output, "write the statement to FILE (atomically)");
    auto* outdir = invoice->add_option("--outdir", iv.outdir, "with --all-accounts: DIR/ACCOUNT-YYYY-MM.EXT");
    account->excludes(unassigned)->excludes(all);
    unassigned->excludes(all);
    output->excludes(outdir)->excludes(all);

    auto* quota = app.add_subcommand("quota", "accounts near or over their quota this month (a monitoring plugin)");
    mark_monitoring_plugin(quota, "QUOTA");
    setting(quota->add_option("--warn", r.quota.warn, "WARNING at this percent of the quota")->capture_default_str());
    setting(quota->add_option("--crit", r.quota.crit, "CRITICAL at this percent of the quota")->capture_default_str());
    auto* qsi = setting(quota->add_flag("--si", r.quota.si, "sizes in kB, MB, GB (powers of 1000)"));
    auto* qiec = setting(quota->add_flag("--iec", r.quota.iec, "sizes in KiB, MiB, GiB (powers of 1024; default)"));
    qsi->excludes(qiec);

    // Shared options may follow a subcommand; refresh options there are a mistake.
    app.parse_complete_callback([&app, days, since, rebuild, verify, dry_run] {
        if (app.get_subcommands().empty()) {
            return;
        }
        for (const CLI::Option* opt : {days, since, rebuild, verify, dry_run}) {
            if (opt->count() > 0) {
                throw CLI::ValidationError(opt->get_name(),
                                           "refreshes the summary; it is no option of report, invoice or quota");
            }
        }
    });
}

int run_rollup(CLI::App& app, const RollupRequest& r, const CommonOptions& o) {
    if (app.got_subcommand("invoice")) {
        return run_invoice(r.invoice, r.tz, o, now_epoch());
    }
    if (app.got_subcommand("quota")) {
        const auto [status, line] = check_quotas(r.quota, r.tz, o, now_epoch());
        fmt::print("{}\n", line);
        return static_cast<int>(status);
    }
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
