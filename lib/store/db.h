#pragma once
// The database with RAII: connection, prepared statements, write transactions,
// schema. Two engines behind one interface: an SQLite file (the default) or a
// PostgreSQL database named by a libpq URI (store/pg_backend). SQL is written
// once, with ?N parameters; the few places where the engines differ ask
// dialect().

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace wp {

class Database;
class PgConnection;
class PgStatement;

/// The engine behind a Database.
enum class Dialect { sqlite, postgresql };

/// A PostgreSQL connection string (postgresql://, postgres:// or service=NAME)
/// rather than an SQLite file's path.
bool is_postgresql_uri(std::string_view db);

/// A prepared statement, reset for reuse with reset().
class Statement {
public:
    Statement();
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, std::nullptr_t);
    Statement& bind(int index, const std::optional<std::string>& value);
    Statement& bind(int index, const std::optional<std::int64_t>& value);

    /// Steps once: true when a row is available, false when done.
    bool step();
    /// Steps to completion (for statements that return no rows).
    void run();
    void reset();

    int column_count() const;
    std::string column_name(int index) const;
    bool is_null(int index) const;
    std::int64_t column_int64(int index) const;
    double column_double(int index) const;
    std::string column_text(int index) const;
    std::optional<std::string> column_optional_text(int index) const;

    sqlite3_stmt* handle() const { return m_stmt; }

private:
    void check_bind(int rc, int index);
    Database* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
    std::unique_ptr<PgStatement> m_pg;
};

/// How a database is opened.
enum class OpenMode { read_only, read_write, create };

/// One connection: to an SQLite file (WAL, busy timeout, foreign keys) or to
/// PostgreSQL; the schema migrated either way.
class Database {
public:
    /// Opens (and with OpenMode::create creates and migrates) the database.
    /// A PostgreSQL database is never created, only its schema.
    explicit Database(const std::string& path, OpenMode mode = OpenMode::create);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs SQL without results (schema, pragmas); never with untrusted text.
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql) { return Statement(*this, sql); }
    /// Rows the last INSERT, UPDATE or DELETE changed.
    std::int64_t changes() const;
    const std::string& path() const { return m_path; }
    Dialect dialect() const { return m_pg ? Dialect::postgresql : Dialect::sqlite; }
    /// The SQLite connection (nullptr on PostgreSQL).
    sqlite3* handle() const { return m_db; }
    /// The PostgreSQL connection (nullptr on SQLite).
    PgConnection* pg() const { return m_pg.get(); }

    /// Throws wp::Error for an SQLite result code, with context.
    [[noreturn]] void throw_error(int rc, std::string_view context) const;

private:
    void open(const std::string& name, int flags, OpenMode mode);
    std::string m_path;
    sqlite3* m_db = nullptr;
    std::unique_ptr<PgConnection> m_pg;
};

/// Opens an existing database only to read it (listings, reports, checks):
/// read-only when this user may not write it or its directory (a WAL
/// database with nothing left in its WAL is then read from the file alone),
/// else read-write (so that the WAL index and a pending migration work) with
/// query_only on. Never creates a database. A file this user may not read
/// is Error(77) naming it.
std::unique_ptr<Database> open_for_reading(const std::string& path);

/// BEGIN IMMEDIATE … COMMIT (PostgreSQL: BEGIN … COMMIT); rolled back unless
/// commit() was called.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& m_db;
    bool m_done = false;
};

/// BEGIN … COMMIT around reads only: every query inside sees one snapshot
/// (a check, a statement), whatever commits meanwhile.
class ReadSnapshot {
public:
    explicit ReadSnapshot(Database& db);
    ~ReadSnapshot();
    ReadSnapshot(const ReadSnapshot&) = delete;
    ReadSnapshot& operator=(const ReadSnapshot&) = delete;

private:
    Database& m_db;
};

/// Makes the directory a new SQLite database goes in; nothing for PostgreSQL.
void make_database_directory(const std::string& db);
/// An SQLite file is there; a PostgreSQL database is taken to be (connecting
/// says when it is not).
bool database_exists(const std::string& db);

/// SQL naming day number EXPR (days since 1970-01-01) as YYYY-MM-DD.
std::string day_name_sql(const Database& db, std::string_view expr);

/// The schema version this build writes (SQLite: PRAGMA user_version;
/// PostgreSQL: the wp_schema table).
inline constexpr int k_schema_version = 6;

/// Brings the schema up to k_schema_version; refuses a newer database.
void migrate(Database& db);

} // namespace wp
