#include "cmd/report.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/table.h"
#include "cmd/options.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

std::optional<std::string> month_start(std::string_view month) {
    if (month.size() != 7 || !parse_day(fmt::format("{}-01", month))) {
        return std::nullopt;
    }
    return fmt::format("{}-01", month);
}

} // namespace

void add_report_options(CLI::App& report, ReportRequest& r) {
    report
        .add_option("--by", r.by,
                    "group by user, account, server, country, city, provider, day, month "
                    "(several: --by account,month), or hour with --day")
        ->delimiter(',');
    report.add_option("--server", r.servers, "only these servers (NAME[,NAME…])")->delimiter(',');
    report.add_option("--user", r.users, "only these users")->delimiter(',');
    report.add_option("--account", r.accounts, "only these billing accounts")->delimiter(',');
    report.add_option("--country", r.countries, "only servers in these countries")->delimiter(',');
    report.add_option("--from", r.from, "first day, YYYY-MM-DD");
    report.add_option("--to", r.to, "last day, YYYY-MM-DD (inclusive)");
    report.add_option("--month", r.month, "one month, YYYY-MM");
    report.add_option("--day", r.day, "one day, YYYY-MM-DD (with --by hour: read hour by hour from usage)");
    report.add_option("--top", r.top, "only the N rows with the most billed bytes")->check(CLI::Range(1, 1000000));
    report.add_flag("--totals", r.totals, "the public site's figures: servers, countries, cities, bytes");
    setting(
        report.add_option("--format", r.format, "table, tsv, csv or json (default: table on a terminal, else tsv)"));
    auto* si = setting(report.add_flag("--si", r.si, "sizes in kB, MB, GB (powers of 1000) in a table"));
    auto* iec =
        setting(report.add_flag("--iec", r.iec, "sizes in KiB, MiB, GiB (powers of 1024) in a table (default)"));
    si->excludes(iec);
}

ReportQuery report_query_for(const ReportRequest& r) {
    ReportQuery q;
    q.keys = parse_report_keys(r.by);
    q.servers = r.servers;
    q.users = r.users;
    q.accounts = r.accounts;
    for (const auto& c : r.countries) {
        std::string upper;
        if (auto p = check_country(c, upper); !p.empty()) {
            fail(exit_code::k_usage, "--country: {}", p);
        }
        q.countries.push_back(upper);
    }
    q.top = r.top;
    auto day_arg = [](std::string_view option, const std::string& text) {
        if (!parse_day(text)) {
            fail(exit_code::k_usage, "{}: '{}' is not a day (YYYY-MM-DD)", option, text);
        }
        return text;
    };
    const int ranges = (!r.from.empty() || !r.to.empty() ? 1 : 0) + (r.month.empty() ? 0 : 1) + (r.day.empty() ? 0 : 1);
    if (ranges > 1) {
        fail(exit_code::k_usage, "give one of --from/--to, --month or --day");
    }
    if (!r.from.empty()) {
        q.from = day_arg("--from", r.from);
    }
    if (!r.to.empty()) {
        q.to = day_arg("--to", r.to);
    }
    if (q.from && q.to && *q.from > *q.to) {
        fail(exit_code::k_usage, "--from {} is after --to {}", *q.from, *q.to);
    }
    if (!r.month.empty()) {
        const auto first = month_start(r.month);
        if (!first) {
            fail(exit_code::k_usage, "--month: '{}' is not a month (YYYY-MM)", r.month);
        }
        q.from = *first;
        // The month's real last day: days are compared as text and as dates.
        const int year = std::stoi(r.month.substr(0, 4));
        const int mon = std::stoi(r.month.substr(5, 2));
        const auto next =
            parse_day(mon == 12 ? fmt::format("{:04}-01-01", year + 1) : fmt::format("{:04}-{:02}-01", year, mon + 1));
        q.to = next ? day_name(*next - 1) : r.month + "-31";
    }
    if (!r.day.empty()) {
        q.from = q.to = day_arg("--day", r.day);
    }
    const bool hourly = std::find(q.keys.begin(), q.keys.end(), ReportKey::hour) != q.keys.end();
    if (hourly) {
        if (r.day.empty()) {
            fail(exit_code::k_usage, "--by hour reads one day of usage: give --day YYYY-MM-DD");
        }
        for (const auto k : q.keys) {
            if (k == ReportKey::day || k == ReportKey::month) {
                fail(exit_code::k_usage, "--by hour cannot be combined with day or month");
            }
        }
        q.hour_day = parse_day(r.day);
        q.from.reset();
        q.to.reset();
    }
    if (r.totals) {
        if (!q.keys.empty() || !q.servers.empty() || !q.users.empty() || !q.accounts.empty() || !q.countries.empty() ||
            !r.from.empty() || !r.to.empty() || !r.day.empty() || q.top > 0) {
            fail(exit_code::k_usage, "--totals takes no --by, filter or --top (only --month)");
        }
    }
    return q;
}

int run_report(Database& db, const ReportRequest& r, const DayCalendar& calendar, std::int64_t now) {
    const ReportQuery q = report_query_for(r);
    OutputFormat format = r.format.empty() ? OutputFormat::automatic : parse_output_format(r.format);
    if (format == OutputFormat::automatic) {
        format = is_smart_terminal(stdout) ? OutputFormat::table : OutputFormat::tsv;
    }
    const SizeUnits units = r.si ? SizeUnits::si : SizeUnits::iec;
    if (!q.hour_day) {
        auto dirty = db.prepare("SELECT count(*) FROM dirty_days");
        dirty.step();
        if (const auto n = dirty.column_int64(0); n > 0) {
            info(0,
                 "note: {} server-days of usage changed since the last refresh and are not in this report "
                 "yet (run wp-rollup)",
                 n);
        }
    }
    if (r.totals) {
        const std::string month = r.month.empty() ? day_name(calendar.day_of(now)).substr(0, 7) : r.month;
        print_site_totals(stdout, site_totals(db, month), format, units);
        return exit_code::k_ok;
    }
    print_report(stdout, q, query_report(db, q, calendar), format, units);
    return exit_code::k_ok;
}

} // namespace wp
