#pragma once
// SQLite with RAII: connection, prepared statements, write transactions, schema.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace wp {

class Database;

/// A prepared statement, reset for reuse with reset().
class Statement {
public:
    Statement() = default;
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
};

/// How a database is opened.
enum class OpenMode { read_only, read_write, create };

/// One SQLite connection: WAL, busy timeout, foreign keys, migrated schema.
class Database {
public:
    /// Opens (and with OpenMode::create creates and migrates) the database.
    explicit Database(const std::string& path, OpenMode mode = OpenMode::create);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs SQL without results (schema, pragmas); never with untrusted text.
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql) { return Statement(*this, sql); }
    std::int64_t last_insert_rowid() const;
    int changes() const;
    const std::string& path() const { return m_path; }
    sqlite3* handle() const { return m_db; }

    /// Throws wp::Error for an SQLite result code, with context.
    [[noreturn]] void throw_error(int rc, std::string_view context) const;

private:
    void open(const std::string& name, int flags, OpenMode mode);
    std::string m_path;
    sqlite3* m_db = nullptr;
};

/// Opens an existing database only to read it (listings, reports, checks):
/// read-only when this user may not write it or its directory (a WAL
/// database with nothing left in its WAL is then read from the file alone),
/// else read-write (so that the WAL index and a pending migration work) with
/// query_only on. Never creates a database. A file this user may not read
/// is Error(77) naming it.
std::unique_ptr<Database> open_for_reading(const std::string& path);

/// BEGIN IMMEDIATE … COMMIT; rolled back unless commit() was called.
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

/// The schema version this build writes (PRAGMA user_version).
inline constexpr int k_schema_version = 5;

/// Brings the schema up to k_schema_version; refuses a newer database.
void migrate(Database& db);

} // namespace wp
