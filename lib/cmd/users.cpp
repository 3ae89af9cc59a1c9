#include "cmd/users.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/table.h"
#include "base/units.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

constexpr std::int64_t k_hour = 3600;

OutputFormat format_of(const UsersRequest& r) {
    const OutputFormat f = r.format.empty() ? OutputFormat::automatic : parse_output_format(r.format);
    if (f == OutputFormat::automatic) {
        return is_smart_terminal(stdout) ? OutputFormat::table : OutputFormat::tsv;
    }
    return f;
}

// Unassigned: "-" where a reader looks, empty (JSON null) where a script does.
std::string account_cell(const std::optional<std::string>& account, OutputFormat format) {
    return account.value_or(format == OutputFormat::table ? "-" : "");
}

std::string time_cell(const std::optional<std::int64_t>& t) {
    return t ? format_utc(*t) : "";
}

std::string account_text(const std::optional<std::string>& account) {
    return account.value_or("unassigned");
}

const std::vector<Table::Column> k_user_columns = {
    {"user"}, {"account"}, {"first_seen"}, {"last_seen"}, {"requests", true}, {"bytes", true}, {"billed_bytes", true}};

std::vector<std::string> user_row(const UserSummary& u, OutputFormat format) {
    return {u.name,
            account_cell(u.account, format),
            time_cell(u.first_seen),
            time_cell(u.last_seen),
            std::to_string(u.totals.requests),
            std::to_string(u.totals.bytes),
            std::to_string(u.totals.billed_bytes)};
}

// A table as JSON: one object per row, joined into an array.
std::string json_array(const Table& table) {
    char* data = nullptr;
    std::size_t size = 0;
    std::FILE* mem = ::open_memstream(&data, &size);
    if (mem == nullptr) {
        fail_errno(errno, "cannot buffer output");
    }
    table.print(mem, OutputFormat::json);
    std::fclose(mem);
    std::string lines(data, size);
    std::free(data);
    std::string out = "[";
    std::size_t start = 0;
    while (start < lines.size()) {
        const std::size_t end = lines.find('\n', start);
        out += start == 0 ? "" : ",";
        out += lines.substr(start, end - start);
        start = end + 1;
    }
    return out + "]";
}

int list_users(Accounts& accounts, const UsersRequest& r) {
    if (r.names_only) {
        for (const auto& name : accounts.user_names()) {
            fmt::print("{}\n", escape_control(name));
        }
        return exit_code::k_ok;
    }
    const OutputFormat format = format_of(r);
    Table table(k_user_columns);
    for (const auto& u : accounts.list_users()) {
        table.add_row(user_row(u, format));
    }
    table.print(stdout, format);
    return exit_code::k_ok;
}

int show_user(Accounts& accounts, const UsersRequest& r) {
    const OutputFormat format = format_of(r);
    const UserDetail d = accounts.user_detail(r.user);
    Table summary(k_user_columns);
    summary.add_row(user_row(d.summary, format));
    Table history({{"from"}, {"account"}, {"set_at"}});
    for (const auto& a : d.history) {
        history.add_row({format_utc(a.from_hour), account_cell(a.account, format), format_utc(a.set_at)});
    }
    Table by_account({{"account"}, {"requests", true}, {"bytes", true}, {"billed_bytes", true}});
    for (const auto& a : d.by_account) {
        by_account.add_row({account_cell(a.account, format), std::to_string(a.totals.requests),
                            std::to_string(a.totals.bytes), std::to_string(a.totals.billed_bytes)});
    }
    if (format == OutputFormat::json) {
        // One object: the user's fields, then its history and its usage per account.
        std::string user = json_array(summary);
        user = user.substr(1, user.size() - 3); // the object without its closing brace
        fmt::print("{},\"history\":{},\"by_account\":{}}}\n", user, json_array(history), json_array(by_account));
        return exit_code::k_ok;
    }
    summary.print(stdout, format);
    std::fputs("\n", stdout);
    history.print(stdout, format);
    std::fputs("\n", stdout);
    by_account.print(stdout, format);
    return exit_code::k_ok;
}

// What changed, for -v, and the closed months' invoices that change, always.
void tell(std::string_view where, const AssignmentRequest& request, const AssignmentOutcome& outcome) {
    if (!outcome.closed_months_changed.empty()) {
        warn("{}{}: the invoices of closed month{} {} change ({} -> {}); issue them again", where, request.user,
             outcome.closed_months_changed.size() == 1 ? "" : "s", fmt::join(outcome.closed_months_changed, ", "),
             account_text(outcome.previous), account_text(request.account));
    }
    if (!outcome.changed) {
        info(1, "{}{}: {} from {} already, nothing changed", where, request.user, account_text(request.account),
             format_utc(request.from_hour));
        return;
    }
    info(1, "{}{}: {} from {} (was {}{}{}{})", where, request.user, account_text(request.account),
         format_utc(request.from_hour), account_text(outcome.previous), outcome.replaced ? ", replaced" : "",
         outcome.created_user ? ", new user" : "", outcome.created_account ? ", new account" : "");
}

std::int64_t current_hour() {
    const std::int64_t now = now_epoch();
    return now - now % k_hour;
}

// The assignment set asks for, checked before the database is opened.
AssignmentRequest assignment_of(const UsersRequest& r) {
    AssignmentRequest request;
    request.user = r.user;
    if (auto why = check_user_name(r.user); !why.empty()) {
        fail(exit_code::k_usage, "{}", why);
    }
    request.account = r.unassign ? std::nullopt : r.account;
    if (request.account) {
        if (auto why = check_account_name(*request.account); !why.empty()) {
            fail(exit_code::k_usage, "--account: {}", why);
        }
    }
    request.amend_closed = r.amend_closed;
    request.from_hour = current_hour();
    if (!r.from.empty()) {
        std::string why;
        const auto from = parse_hour_time(r.from, why);
        if (!from) {
            fail(exit_code::k_usage, "--from: {}", why);
        }
        request.from_hour = *from;
    }
    return request;
}

int import_users(Accounts& accounts, const UsersRequest& r, const std::string& text) {
    const std::string source = r.import_file == "-" ? "<stdin>" : r.import_file;
    const ImportOutcome out = accounts.import_csv(text, source, current_hour(), r.amend_closed);
    if (!out.problems.empty()) {
        std::fflush(stdout);
        for (const auto& p : out.problems) {
            fmt::print(stderr, "{}: {}\n", program_name(),
                       escape_control(fmt::format("{}:{}: {}: {}", source, p.line, p.column, p.why)));
        }
        const std::size_t bad = out.problems.size() + out.problems_left_out;
        fail(exit_code::k_data, "{}: {} bad row{}{}; nothing imported", source, bad, bad == 1 ? "" : "s",
             out.problems_left_out ? fmt::format(" ({} not shown)", out.problems_left_out) : "");
    }
    std::size_t changed = 0;
    for (const auto& row : out.rows) {
        tell(fmt::format("{}:{}: ", source, row.line), row.request, row.outcome);
        changed += row.outcome.changed ? 1 : 0;
    }
    info(1, "{}: {} rows, {} changed an assignment", source, out.rows.size(), changed);
    return exit_code::k_ok;
}

int list_accounts(Accounts& accounts, const UsersRequest& r) {
    const OutputFormat format = format_of(r);
    Table table({{"account"}, {"quota_bytes", true}, {"users"}});
    for (const auto& a : accounts.list_accounts()) {
        table.add_row({a.name,
                       a.quota_bytes ? std::to_string(*a.quota_bytes) : (format == OutputFormat::table ? "-" : ""),
                       fmt::format("{}", fmt::join(a.users, ","))});
    }
    table.print(stdout, format);
    return exit_code::k_ok;
}

// The quota SIZE asks for: nullopt for none (Error(64) if not a size).
std::optional<std::int64_t> quota_of(const UsersRequest& r) {
    if (r.size == "none") {
        return std::nullopt;
    }
    std::string why;
    const auto bytes = parse_size(r.size, why);
    if (!bytes) {
        fail(exit_code::k_usage, "quota: {}", why);
    }
    if (*bytes == 0) {
        fail(exit_code::k_usage, "quota: '{}' is 0 bytes; a quota must be more ('none' clears it)", r.size);
    }
    return bytes;
}

} // namespace

void add_users_commands(CLI::App& app, UsersRequest& r) {
    app.require_subcommand(1);
    const std::string formats = "table, tsv, csv or json (default: table on a terminal, else tsv)";
    auto* list = app.add_subcommand("list", "users: current account, first and last usage, totals");
    auto* list_format = setting(list->add_option("--format", r.format, formats));
    list->add_flag("--names", r.names_only, "only the names, one per line, quickly (no usage is read)")
        ->excludes(list_format);

    auto* show = app.add_subcommand("show", "one user: account history, first and last usage, totals per account");
    show->add_option("user", r.user, "user name as the logs have it")->required();
    setting(show->add_option("--format", r.format, formats));

    auto* set = app.add_subcommand("set", "bill a user's usage to an account from an hour on");
    set->add_option("user", r.user, "user name as the logs have it (a new one is added)")->required();
    auto* account = set->add_option_function<std::string>(
        "--account", [&r](const std::string& v) { r.account = v; },
        "account to bill (created on first use): letters, digits and . _ @ + -");
    auto* unassign =
        set->add_flag("--unassign", r.unassign, "bill the user to no account from --from on")->excludes(account);
    set->add_option("--from", r.from,
                    "YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]], in UTC unless it ends in Z or +HH:MM; on a whole "
                    "hour (default: the start of the current hour)");
    set->add_flag("--amend-closed", r.amend_closed, "allow a change that reaches back into a closed month");
    set->callback([account, unassign] {
        if (account->count() == 0 && unassign->count() == 0) {
            throw CLI::ValidationError("set", "give --account ACCOUNT or --unassign");
        }
    });

    auto* import = app.add_subcommand("import", "assignments from CSV rows user,account[,from]; all or nothing");
    import->add_option("file", r.import_file, "CSV file, or - for standard input")->required();
    import->add_flag("--amend-closed", r.amend_closed, "allow changes that reach back into closed months");

    auto* accounts = app.add_subcommand("accounts", "accounts: quota and the users billed to each now");
    setting(accounts->add_option("--format", r.format, formats));

    auto* quota = app.add_subcommand("quota", "set or clear an account's monthly allowance");
    quota->add_option("account", r.user, "account name")->required();
    quota->add_option("size", r.size, "e.g. 500GB, 1.5TiB or a number of bytes; none clears it")->required();
}

int run_users(CLI::App& app, const UsersRequest& r, const CommonOptions& options) {
    const std::string command = app.get_subcommands().at(0)->get_name();
    if (command == "list" || command == "show" || command == "accounts") {
        const auto reader = open_for_reading(options.db);
        Accounts accounts(*reader, now_epoch());
        if (command == "list") {
            return list_users(accounts, r);
        }
        return command == "show" ? show_user(accounts, r) : list_accounts(accounts, r);
    }
    if (command == "quota") {
        const auto bytes = quota_of(r);
        Database db(options.db, OpenMode::read_write);
        Accounts(db, now_epoch()).set_quota(r.user, bytes);
        info(1, "{}: quota {}", r.user, bytes ? fmt::format("{} bytes", *bytes) : std::string("none"));
        return exit_code::k_ok;
    }
    // set and import add users: they may make the database, once their
    // input is known to be there and sound.
    std::optional<AssignmentRequest> assignment;
    std::string text;
    if (command == "set") {
        assignment = assignment_of(r);
    } else {
        text = read_file_or_stdin(r.import_file);
    }
    make_database_directory(options.db);
    Database db(options.db, OpenMode::create);
    Accounts accounts(db, now_epoch());
    if (assignment) {
        tell("", *assignment, accounts.assign(*assignment));
        return exit_code::k_ok;
    }
    return import_users(accounts, r, text);
}

} // namespace wp
