#pragma once
// A whole installation copied from its SQLite database into an empty
// PostgreSQL one (wp-hosts migrate-db): every table, every column, ids kept,
// in one transaction on the target, verified before it commits.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

class Database;

/// A table the copy takes, with every column of schema k_schema_version.
struct CopiedTable {
    std::string_view name;
    std::vector<std::string_view> columns;
};

/// The tables in the order they are copied (a row after the rows it refers to).
const std::vector<CopiedTable>& copied_tables();

/// One table as copied: its name and the rows that went.
struct TableCopyCount {
    std::string table;
    std::int64_t rows = 0;
};

/// Copies the SQLite database SOURCE, read in one snapshot, into the
/// PostgreSQL database TARGET (its schema made already) in one transaction:
/// every table of copied_tables(), its foreign keys dropped meanwhile and
/// added back (which checks every row at once); the row counts and the sums
/// of requests, bytes, billed_bytes and lines compared on both sides; each
/// identity sequence set past the largest id; then the commit. Error(73) when
/// the target holds rows already (its own 'unsplit' billing class aside),
/// Error(65) for a verification that differs (naming the table and both
/// sides' figures) or a row the target refuses, Error(70) when either schema
/// has a table or column the copy does not know. Nothing is committed unless
/// every check passed.
std::vector<TableCopyCount> copy_database(Database& source, Database& target);

} // namespace wp
