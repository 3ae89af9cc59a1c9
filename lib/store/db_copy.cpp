#include "store/db_copy.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sqlite3.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "store/db.h"
#include "store/pg_backend.h"

namespace wp {

namespace {

// COPY data is sent in pieces of about this size.
constexpr std::size_t k_batch_bytes = 1 << 20;

// The tables whose id is an identity column on PostgreSQL.
constexpr std::string_view k_identity_tables[] = {"servers", "users", "accounts", "billing_classes", "ingested_files"};

// What verification compares beyond the row count.
std::vector<std::string_view> summed_columns(std::string_view table) {
    if (table == "usage" || table == "usage_classes" || table == "sum_usage_daily" ||
        table == "sum_usage_daily_class") {
        return {"requests", "bytes", "billed_bytes"};
    }
    if (table == "ingested_files") {
        return {"lines"};
    }
    return {};
}

std::set<std::string> column_set(Statement& st) {
    std::set<std::string> names;
    while (st.step()) {
        names.insert(st.column_text(0));
    }
    st.reset();
    return names;
}

// Both schemas hold exactly the tables and columns copied_tables() names: a
// migration that added one without teaching the copy would lose it.
void check_schemas(Database& source, Database& target) {
    std::set<std::string> known;
    for (const auto& t : copied_tables()) {
        known.emplace(t.name);
    }
    Statement source_tables(source, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT GLOB 'sqlite_*'");
    Statement target_tables(target, "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                    "current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'wp_schema'");
    for (auto* st : {&source_tables, &target_tables}) {
        const Database& db = st == &source_tables ? source : target;
        for (const auto& name : column_set(*st)) {
            if (known.count(name) == 0) {
                fail(exit_code::k_software, "database {} has a table {} that migrate-db does not copy", db.path(),
                     name);
            }
        }
    }
    Statement source_columns(source, "SELECT name FROM pragma_table_info(?1)");
    Statement target_columns(target, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                     "current_schema() AND table_name = ?1");
    for (const auto& t : copied_tables()) {
        const std::set<std::string> wanted(t.columns.begin(), t.columns.end());
        for (auto* st : {&source_columns, &target_columns}) {
            const Database& db = st == &source_columns ? source : target;
            st->bind(1, t.name);
            if (column_set(*st) != wanted) {
                fail(exit_code::k_software,
                     "database {}: the columns of table {} are not the {} that migrate-db copies ({})", db.path(),
                     t.name, wanted.size(), fmt::join(t.columns, ", "));
            }
        }
    }
}

// A fresh schema holds one row: the billing class 'unsplit' (id 1).
void check_empty(Database& target) {
    std::vector<std::string> held;
    for (const auto& t : copied_tables()) {
        std::string extra;
        if (t.name == "billing_classes") {
            extra = " WHERE NOT (id = 1 AND name = 'unsplit' AND factor IS NULL)";
        }
        Statement count(target, fmt::format("SELECT count(*) FROM {}{}", t.name, extra));
        count.step();
        if (const std::int64_t n = count.column_int64(0); n > 0) {
            held.push_back(fmt::format("{} ({} row{})", t.name, n, n == 1 ? "" : "s"));
        }
    }
    if (!held.empty()) {
        fail(exit_code::k_cant_create,
             "database {} is not empty: it holds {}; migrate-db copies into an empty database only (make one with "
             "CREATE DATABASE)",
             target.path(), fmt::join(held, ", "));
    }
}

// Rows of the statement appended to batch in COPY's text format, up to
// about k_batch_bytes; false once the rows are done.
bool append_rows(Statement& rows, int columns, std::string& batch, std::int64_t& read) {
    sqlite3_stmt* st = rows.handle();
    while (batch.size() < k_batch_bytes) {
        if (!rows.step()) {
            return false;
        }
        for (int i = 0; i < columns; ++i) {
            if (i > 0) {
                batch += '\t';
            }
            std::optional<std::string_view> value;
            if (sqlite3_column_type(st, i) != SQLITE_NULL) {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
                value = std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
            }
            append_copy_text_field(batch, value);
        }
        batch += '\n';
        ++read;
    }
    if (interrupted()) {
        fail(exit_code::k_temp_fail, "interrupted");
    }
    return true;
}

std::int64_t copy_table(Database& source, Database& target, const CopiedTable& t) {
    Statement rows(source, fmt::format("SELECT {} FROM {}", fmt::join(t.columns, ", "), t.name));
    const int columns = static_cast<int>(t.columns.size());
    std::int64_t read = 0;
    const std::string copy = fmt::format("COPY {} ({}) FROM STDIN", t.name, fmt::join(t.columns, ", "));
    const std::int64_t copied =
        target.pg()->copy_in(copy, [&](std::string& batch) { return append_rows(rows, columns, batch, read); });
    if (copied != read) {
        fail(exit_code::k_data, "table {}: {} rows read from {}, {} copied into {}; nothing copied", t.name, read,
             source.path(), copied, target.path());
    }
    return copied;
}

// The target's foreign keys, each as the statements that drop it and add it
// again (names and definitions from the catalog, quoted by the server).
// Checked row by row they make COPY several times slower than one check of
// the whole table when the key is added back.
std::vector<std::pair<std::string, std::string>> foreign_keys(Database& target) {
    Statement keys(target, "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
                           "format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, "
                           "pg_get_constraintdef(c.oid)) "
                           "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                           "WHERE c.contype = 'f' AND n.nspname = current_schema() ORDER BY c.conname");
    std::vector<std::pair<std::string, std::string>> statements;
    while (keys.step()) {
        statements.emplace_back(keys.column_text(0), keys.column_text(1));
    }
    return statements;
}

void set_identity_sequences(Database& target) {
    for (const std::string_view table : k_identity_tables) {
        // The next id is one past the largest; an empty table's is 1.
        target.exec(fmt::format("SELECT setval(pg_get_serial_sequence('{0}', 'id'), coalesce(max(id), 1), "
                                "max(id) IS NOT NULL) FROM {0}",
                                table));
    }
}

// The row count and the sums of a table, on one side.
std::vector<std::int64_t> figures(Database& db, const CopiedTable& t) {
    std::string sql = "SELECT count(*)";
    for (const auto column : summed_columns(t.name)) {
        sql += fmt::format(", coalesce(sum({}), 0)", column);
    }
    Statement st(db, fmt::format("{} FROM {}", sql, t.name));
    st.step();
    std::vector<std::int64_t> values;
    for (int i = 0; i < st.column_count(); ++i) {
        values.push_back(st.column_int64(i));
    }
    return values;
}

std::string figures_text(const CopiedTable& t, const std::vector<std::int64_t>& values) {
    std::string text = fmt::format("rows {}", values.at(0));
    const auto columns = summed_columns(t.name);
    for (std::size_t i = 0; i < columns.size(); ++i) {
        text += fmt::format(", {} {}", columns[i], values.at(i + 1));
    }
    return text;
}

void verify(Database& source, Database& target) {
    for (const auto& t : copied_tables()) {
        const auto expected = figures(source, t);
        const auto got = figures(target, t);
        if (expected != got) {
            fail(exit_code::k_data, "verification failed, nothing copied: table {} holds {} in {} but {} in {}", t.name,
                 figures_text(t, expected), source.path(), figures_text(t, got), target.path());
        }
    }
}

} // namespace

const std::vector<CopiedTable>& copied_tables() {
    static const std::vector<CopiedTable> tables{
        {"servers",
         {"id", "name", "address", "port", "ssh_user", "city", "country", "provider", "virt", "active", "log_path",
          "rotate_cmd", "added_at", "retired_at", "notes", "collector"}},
        {"host_status",
         {"server_id", "last_contact", "last_error", "last_error_at", "consecutive_failures", "clock_offset_ms",
          "clock_uncertainty_ms", "clock_measured_at", "last_fetch"}},
        {"users", {"id", "name"}},
        {"accounts", {"id", "name", "quota_bytes", "added_at"}},
        {"account_assignments", {"user_id", "from_hour", "account_id", "set_at"}},
        {"billing_classes", {"id", "name", "factor"}},
        {"usage", {"server_id", "user_id", "hour", "requests", "bytes", "billed_bytes"}},
        {"usage_classes", {"server_id", "user_id", "hour", "class_id", "requests", "bytes", "billed_bytes"}},
        {"ingested_files",
         {"id", "sha256", "server_id", "source_name", "lines", "rejected", "first_ts", "last_ts", "ingested_at",
          "first_line_sha256", "collector"}},
        {"archive_files", {"path", "committed_size", "collector"}},
        {"dirty_days", {"server_id", "day"}},
        {"sum_usage_daily", {"day", "server_id", "user_id", "requests", "bytes", "billed_bytes"}},
        {"sum_usage_daily_class",
         {"day", "server_id", "user_id", "account_id", "class_id", "requests", "bytes", "billed_bytes"}},
        {"rollup_state", {"id", "zone", "rebuilt_at", "refreshed_at"}},
    };
    return tables;
}

std::vector<TableCopyCount> copy_database(Database& source, Database& target) {
    if (source.dialect() != Dialect::sqlite || target.dialect() != Dialect::postgresql) {
        fail(exit_code::k_software, "migrate-db copies an SQLite database into a PostgreSQL one, not {} into {}",
             source.path(), target.path());
    }
    check_schemas(source, target);
    // SQLite writes UTF-8 text; the server converts it to its own encoding.
    target.exec("SET client_encoding = 'UTF8'");
    ReadSnapshot snapshot(source);
    Transaction tx(target);
    std::vector<std::string_view> names;
    for (const auto& t : copied_tables()) {
        names.push_back(t.name);
    }
    // Self-exclusive: a second copy into the same database waits, then finds
    // it not empty.
    target.exec(fmt::format("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", fmt::join(names, ", ")));
    check_empty(target);
    // The schema's own 'unsplit' class gives way to the source's (the same row).
    target.exec("DELETE FROM billing_classes");
    const auto keys = foreign_keys(target);
    for (const auto& [drop, add] : keys) {
        target.exec(drop);
    }
    std::vector<TableCopyCount> counts;
    for (const auto& t : copied_tables()) {
        counts.push_back({std::string(t.name), copy_table(source, target, t)});
    }
    // Every row is checked here, in one pass per key.
    for (const auto& [drop, add] : keys) {
        target.exec(add);
    }
    verify(source, target);
    // Last: a sequence's setval stays when the transaction rolls back.
    set_identity_sequences(target);
    tx.commit();
    return counts;
}

} // namespace wp
