#pragma once
// The schema on PostgreSQL: the same tables, columns and meaning as the
// SQLite schema of store/db, in PostgreSQL's types (bigint for every integer,
// text in the "C" collation so that names and days sort as in SQLite), and
// the views a web site reads, which both engines share.

#include <string_view>

namespace wp {

class Database;

/// Brings a PostgreSQL database's schema up to k_schema_version, numbered
/// as SQLite's migrations are, under an advisory lock; refuses a newer one.
/// A database without the schema gets it only when `create` (adding a
/// server, a user, billing); else it is Error(66), as a missing SQLite file.
void migrate_postgresql(Database& db, bool create);

/// The read side for a web site (migration 6 on both engines): views over
/// the summaries, the inventory and the accounts, by name rather than id.
extern const std::string_view k_read_views;

} // namespace wp
