#include "store/db.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include <sqlite3.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "store/pg_backend.h"
#include "store/pg_schema.h"

namespace wp {

namespace {

int exit_code_for_sqlite(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return exit_code::k_temp_fail;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return exit_code::k_no_perm;
    case SQLITE_CANTOPEN:
        return exit_code::k_cant_create;
    case SQLITE_FULL:
    case SQLITE_IOERR:
        return exit_code::k_io;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return exit_code::k_data;
    default:
        return exit_code::k_io;
    }
}

// Migration 1: the first schema (docs/ARCHITECTURE.md names its readers). Times are UTC epoch seconds.
constexpr std::string_view k_migration_1 = R"SQL(
CREATE TABLE servers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
                CHECK (name <> '' AND name NOT GLOB '*[^A-Za-z0-9._-]*' AND substr(name, 1, 1) GLOB '[A-Za-z0-9]'),
    address     TEXT NOT NULL CHECK (address <> ''),
    port        INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    ssh_user    TEXT,
    city        TEXT,
    country     TEXT,
    provider    TEXT,
    virt        TEXT NOT NULL DEFAULT 'unknown'
                CHECK (virt IN ('xen','openvz','virtuozzo','kvm','vmware','lxc','physical','unknown')),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    log_path    TEXT NOT NULL DEFAULT '/var/log/squid/access.log' CHECK (substr(log_path, 1, 1) = '/'),
    rotate_cmd  TEXT NOT NULL DEFAULT 'squid -k rotate',
    added_at    INTEGER NOT NULL,
    retired_at  INTEGER,
    notes       TEXT,
    CHECK (retired_at IS NULL OR active = 0)
);

CREATE TABLE host_status (
    server_id            INTEGER PRIMARY KEY REFERENCES servers(id),
    last_contact         INTEGER,
    last_error           TEXT,
    last_error_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0)
);

CREATE TABLE users (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    account TEXT
);

CREATE TABLE usage (
    server_id    INTEGER NOT NULL REFERENCES servers(id),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    hour         INTEGER NOT NULL CHECK (hour % 3600 = 0),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    bytes        INTEGER NOT NULL CHECK (bytes >= 0),
    billed_bytes INTEGER NOT NULL CHECK (billed_bytes >= 0),
    PRIMARY KEY (server_id, user_id, hour)
) WITHOUT ROWID;
CREATE INDEX usage_by_hour ON usage(hour);

CREATE TABLE ingested_files (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
    server_id   INTEGER NOT NULL REFERENCES servers(id),
    source_name TEXT NOT NULL,
    lines       INTEGER NOT NULL CHECK (lines >= 0),
    rejected    INTEGER NOT NULL CHECK (rejected >= 0 AND rejected <= lines),
    first_ts    INTEGER,
    last_ts     INTEGER,
    ingested_at INTEGER NOT NULL
);

CREATE TABLE archive_files (
    path           TEXT PRIMARY KEY,
    committed_size INTEGER NOT NULL CHECK (committed_size >= 0)
);

CREATE TABLE dirty_days (
    server_id INTEGER NOT NULL REFERENCES servers(id),
    day       TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    PRIMARY KEY (server_id, day)
) WITHOUT ROWID;

CREATE TABLE sum_usage_daily (
    day          TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    server_id    INTEGER NOT NULL REFERENCES servers(id),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    bytes        INTEGER NOT NULL CHECK (bytes >= 0),
    billed_bytes INTEGER NOT NULL CHECK (billed_bytes >= 0),
    PRIMARY KEY (day, server_id, user_id)
) WITHOUT ROWID;
)SQL";

// Migration 2: the time zone wp-rollup built sum_usage_daily's days in.
constexpr std::string_view k_migration_2 = R"SQL(
CREATE TABLE rollup_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    zone         TEXT NOT NULL CHECK (zone <> ''),
    rebuilt_at   INTEGER,
    refreshed_at INTEGER NOT NULL
);
)SQL";

// Migration 3: the overlap guard's key on the ledger, and sums that stay
// 64-bit integers (SQLite turns an overflowing integer sum into a REAL).
constexpr std::string_view k_migration_3 = R"SQL(
ALTER TABLE ingested_files ADD COLUMN first_line_sha256 TEXT CHECK (first_line_sha256 IS NULL OR length(first_line_sha256) = 64);
CREATE INDEX ingested_files_by_first_line ON ingested_files(server_id, first_line_sha256);
CREATE TRIGGER usage_sums_insert BEFORE INSERT ON usage
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'usage sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER usage_sums_update BEFORE UPDATE ON usage
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'usage sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER daily_sums_insert BEFORE INSERT ON sum_usage_daily
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'daily sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER daily_sums_update BEFORE UPDATE ON sum_usage_daily
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'daily sums must be 64-bit integers (overflow)'); END;
)SQL";

// Migration 4: billing accounts with dated assignments (users.account moves
// there, from the beginning of time), quotas, and usage split by billing class.
// Rows written before the split was kept get the class 'unsplit' (no factor):
// their totals stay, their split is unknown and shown as such. The daily
// class split also carries the account each hour was billed to (0: none), so
// that reports by account read the summary.
constexpr std::string_view k_migration_4 = R"SQL(
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
                CHECK (name <> '' AND name NOT GLOB '*[^A-Za-z0-9._@+-]*' AND substr(name, 1, 1) GLOB '[A-Za-z0-9]'),
    quota_bytes INTEGER CHECK (quota_bytes IS NULL OR quota_bytes > 0),
    added_at    INTEGER NOT NULL
);
CREATE TABLE account_assignments (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    from_hour  INTEGER NOT NULL CHECK (from_hour >= 0 AND from_hour % 3600 = 0),
    account_id INTEGER REFERENCES accounts(id),
    set_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, from_hour)
) WITHOUT ROWID;
INSERT INTO accounts(name, added_at)
    SELECT DISTINCT account, CAST(strftime('%s', 'now') AS INTEGER) FROM users
    WHERE account IS NOT NULL AND account <> '' ORDER BY account;
INSERT INTO account_assignments(user_id, from_hour, account_id, set_at)
    SELECT u.id, 0, a.id, CAST(strftime('%s', 'now') AS INTEGER) FROM users u JOIN accounts a ON a.name = u.account;
ALTER TABLE users DROP COLUMN account;

CREATE TABLE billing_classes (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL CHECK (name <> '' AND name NOT GLOB '*[^a-z0-9_-]*'),
    factor INTEGER CHECK (factor IS NULL OR factor BETWEEN 0 AND 1000),
    CHECK ((name = 'unsplit') = (factor IS NULL)),
    UNIQUE (name, factor)
);
INSERT INTO billing_classes(id, name, factor) VALUES (1, 'unsplit', NULL);

CREATE TABLE usage_classes (
    server_id    INTEGER NOT NULL REFERENCES servers(id),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    hour         INTEGER NOT NULL CHECK (hour % 3600 = 0),
    class_id     INTEGER NOT NULL REFERENCES billing_classes(id),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    bytes        INTEGER NOT NULL CHECK (bytes >= 0),
    billed_bytes INTEGER NOT NULL CHECK (billed_bytes >= 0),
    PRIMARY KEY (server_id, user_id, hour, class_id)
) WITHOUT ROWID;
CREATE INDEX usage_classes_by_hour ON usage_classes(hour);
INSERT INTO usage_classes(server_id, user_id, hour, class_id, requests, bytes, billed_bytes)
    SELECT server_id, user_id, hour, 1, requests, bytes, billed_bytes FROM usage;

CREATE TABLE sum_usage_daily_class (
    day          TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    server_id    INTEGER NOT NULL REFERENCES servers(id),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    account_id   INTEGER NOT NULL CHECK (account_id >= 0),
    class_id     INTEGER NOT NULL REFERENCES billing_classes(id),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    bytes        INTEGER NOT NULL CHECK (bytes >= 0),
    billed_bytes INTEGER NOT NULL CHECK (billed_bytes >= 0),
    PRIMARY KEY (day, server_id, user_id, account_id, class_id)
) WITHOUT ROWID;
INSERT INTO sum_usage_daily_class(day, server_id, user_id, account_id, class_id, requests, bytes, billed_bytes)
    SELECT s.day, s.server_id, s.user_id,
           coalesce((SELECT x.account_id FROM account_assignments x WHERE x.user_id = s.user_id), 0),
           1, s.requests, s.bytes, s.billed_bytes FROM sum_usage_daily s;

CREATE TRIGGER usage_class_sums_insert BEFORE INSERT ON usage_classes
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'usage sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER usage_class_sums_update BEFORE UPDATE ON usage_classes
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'usage sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER daily_class_sums_insert BEFORE INSERT ON sum_usage_daily_class
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'daily sums must be 64-bit integers (overflow)'); END;
CREATE TRIGGER daily_class_sums_update BEFORE UPDATE ON sum_usage_daily_class
WHEN typeof(NEW.requests) <> 'integer' OR typeof(NEW.bytes) <> 'integer' OR typeof(NEW.billed_bytes) <> 'integer'
BEGIN SELECT RAISE(ABORT, 'daily sums must be 64-bit integers (overflow)'); END;
)SQL";

// Migration 5: what fleet health needs in host_status: the host's clock as
// last measured (its offset from ours and the measurement's uncertainty, both
// in milliseconds, and when), and the last time wp-fetchlogs fetched from it.
constexpr std::string_view k_migration_5 = R"SQL(
ALTER TABLE host_status ADD COLUMN clock_offset_ms INTEGER;
ALTER TABLE host_status ADD COLUMN clock_uncertainty_ms INTEGER CHECK (clock_uncertainty_ms IS NULL OR clock_uncertainty_ms >= 0);
ALTER TABLE host_status ADD COLUMN clock_measured_at INTEGER;
ALTER TABLE host_status ADD COLUMN last_fetch INTEGER;
)SQL";

// Migration 6: several collectors. A server belongs to one collector (NULL:
// the collector that has no name, as a single installation is), the ledger
// records which collector billed a file and so holds its archive, and each
// collector's archive files have their committed sizes ('': no name).
constexpr std::string_view k_migration_6 = R"SQL(
ALTER TABLE servers ADD COLUMN collector TEXT
    CHECK (collector IS NULL OR (collector <> '' AND collector NOT GLOB '*[^A-Za-z0-9._-]*'));
ALTER TABLE ingested_files ADD COLUMN collector TEXT;
CREATE TABLE archive_files_6 (
    path           TEXT NOT NULL,
    committed_size INTEGER NOT NULL CHECK (committed_size >= 0),
    collector      TEXT NOT NULL DEFAULT '' CHECK (collector NOT GLOB '*[^A-Za-z0-9._-]*'),
    PRIMARY KEY (collector, path)
) WITHOUT ROWID;
INSERT INTO archive_files_6(path, committed_size) SELECT path, committed_size FROM archive_files;
DROP TABLE archive_files;
ALTER TABLE archive_files_6 RENAME TO archive_files;
)SQL";

// A database that must exist already is there and readable, said before
// SQLite would blame its WAL index or call it read-only. A missing one is
// most often a first run: say how one is made.
void check_existing_database(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            fail(exit_code::k_no_input,
                 "no database at {}: a new installation makes one by adding its first server ('wp-hosts add NAME "
                 "--address ADDRESS'); else give --db or db = in wp.conf (see wp(7))",
                 path);
        }
        fail_errno(errno, fmt::format("cannot open database {}", path));
    }
    if (::access(path.c_str(), R_OK) != 0) {
        fail_errno(errno, fmt::format("cannot read database {}", path));
    }
}

} // namespace

// ---- Statement ------------------------------------------------------------

Statement::Statement(Database& db, std::string_view sql) : m_db(&db) {
    if (db.pg() != nullptr) {
        m_pg = std::make_unique<PgStatement>(*db.pg(), sql);
        return;
    }
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &m_stmt, &tail);
    if (rc != SQLITE_OK) {
        db.throw_error(rc, "cannot prepare statement");
    }
}

Statement::Statement() = default;

Statement::~Statement() {
    sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement&& other) noexcept : m_db(other.m_db), m_stmt(other.m_stmt), m_pg(std::move(other.m_pg)) {
    other.m_stmt = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_db = other.m_db;
        m_stmt = other.m_stmt;
        m_pg = std::move(other.m_pg);
        other.m_stmt = nullptr;
    }
    return *this;
}

void Statement::check_bind(int rc, int index) {
    if (rc != SQLITE_OK) {
        m_db->throw_error(rc, fmt::format("cannot bind parameter {}", index));
    }
}

Statement& Statement::bind(int index, std::int64_t value) {
    if (m_pg) {
        m_pg->bind(index, std::to_string(value), k_pg_int8);
        return *this;
    }
    check_bind(sqlite3_bind_int64(m_stmt, index, value), index);
    return *this;
}

Statement& Statement::bind(int index, double value) {
    if (m_pg) {
        m_pg->bind(index, fmt::format("{}", value), k_pg_float8);
        return *this;
    }
    check_bind(sqlite3_bind_double(m_stmt, index, value), index);
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    if (m_pg) {
        // Untyped: PostgreSQL takes the type from where the value goes.
        m_pg->bind(index, std::string(value), 0);
        return *this;
    }
    check_bind(sqlite3_bind_text64(m_stmt, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8), index);
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
    if (m_pg) {
        m_pg->bind(index, std::nullopt, 0);
        return *this;
    }
    check_bind(sqlite3_bind_null(m_stmt, index), index);
    return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
    return value ? bind(index, std::string_view(*value)) : bind(index, nullptr);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
}

bool Statement::step() {
    if (m_pg) {
        return m_pg->step();
    }
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    sqlite3_reset(m_stmt);
    m_db->throw_error(rc, "statement failed");
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::reset() {
    if (m_pg) {
        m_pg->reset();
        return;
    }
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

int Statement::column_count() const {
    if (m_pg) {
        return m_pg->column_count();
    }
    return sqlite3_column_count(m_stmt);
}

std::string Statement::column_name(int index) const {
    if (m_pg) {
        return m_pg->column_name(index);
    }
    const char* name = sqlite3_column_name(m_stmt, index);
    return name != nullptr ? name : "";
}

bool Statement::is_null(int index) const {
    if (m_pg) {
        return m_pg->is_null(index);
    }
    return sqlite3_column_type(m_stmt, index) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int index) const {
    if (m_pg) {
        // Text: an integer, a numeric sum without a fraction, or a boolean.
        const std::string_view v = m_pg->value(index);
        std::int64_t n = 0;
        if (v == "t") {
            return 1;
        }
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() && !v.empty() && v != "f") {
            fail(exit_code::k_data, "database {}: column {} holds '{}', not a 64-bit integer", m_db->path(), index, v);
        }
        return n;
    }
    return sqlite3_column_int64(m_stmt, index);
}

double Statement::column_double(int index) const {
    if (m_pg) {
        return std::strtod(std::string(m_pg->value(index)).c_str(), nullptr);
    }
    return sqlite3_column_double(m_stmt, index);
}

std::string Statement::column_text(int index) const {
    if (m_pg) {
        return std::string(m_pg->value(index));
    }
    const auto* text = sqlite3_column_text(m_stmt, index);
    if (text == nullptr) {
        return {};
    }
    return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, index))};
}

std::optional<std::string> Statement::column_optional_text(int index) const {
    if (is_null(index)) {
        return std::nullopt;
    }
    return column_text(index);
}

// ---- Database -------------------------------------------------------------

namespace {

// A WAL database is read through its index (-shm). A reader that may not
// create it finds none when no connection is open (the last one removes it);
// with no -wal either, the database file alone holds every commit.
bool checkpointed_without_index(const std::string& path) {
    struct stat st {};
    const bool has_wal = ::stat((path + "-wal").c_str(), &st) == 0 && st.st_size > 0;
    const bool has_index = ::stat((path + "-shm").c_str(), &st) == 0;
    return !has_wal && !has_index;
}

// file: URI of a path, for SQLite's immutable parameter.
std::string immutable_uri(const std::string& path) {
    std::string uri = "file:";
    for (unsigned char c : path) {
        if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
            uri += fmt::format("%{:02X}", c);
        } else {
            uri += static_cast<char>(c);
        }
    }
    return uri + "?immutable=1";
}

} // namespace

bool is_postgresql_uri(std::string_view db) {
    if (db.starts_with("postgresql://") || db.starts_with("postgres://")) {
        return true;
    }
    // libpq's keyword=value form starts with one of its keywords.
    for (const std::string_view keyword : {"service=", "host=", "hostaddr=", "port=", "dbname=", "user="}) {
        if (db.starts_with(keyword)) {
            return true;
        }
    }
    return false;
}

void make_database_directory(const std::string& db) {
    if (!is_postgresql_uri(db)) {
        make_directories(parent_directory(db));
    }
}

bool database_exists(const std::string& db) {
    return is_postgresql_uri(db) || ::access(db.c_str(), F_OK) == 0;
}

std::string day_name_sql(const Database& db, std::string_view expr) {
    return db.dialect() == Dialect::postgresql
               ? fmt::format("to_char(DATE '1970-01-01' + ({})::integer, 'YYYY-MM-DD')", expr)
               : fmt::format("date(({}) * 86400, 'unixepoch')", expr);
}

Database::Database(const std::string& path, OpenMode mode) : m_path(path) {
    if (is_postgresql_uri(path)) {
        m_pg = std::make_unique<PgConnection>(path);
        m_path = m_pg->name();
        if (mode == OpenMode::read_only) {
            m_pg->exec("SET default_transaction_read_only = on");
        }
        migrate_postgresql(*this, mode == OpenMode::create);
        return;
    }
    int flags = SQLITE_OPEN_NOMUTEX;
    switch (mode) {
    case OpenMode::read_only:
        flags |= SQLITE_OPEN_READONLY;
        break;
    case OpenMode::read_write:
        flags |= SQLITE_OPEN_READWRITE;
        break;
    case OpenMode::create:
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        break;
    }
    if (mode != OpenMode::create) {
        check_existing_database(path);
    }
    try {
        open(path, flags, mode);
    } catch (const Error& e) {
        if (mode != OpenMode::read_only || !checkpointed_without_index(path)) {
            throw;
        }
        // Nothing to read but the file: read it as it is, without the index
        // this user cannot create.
        info(2, "database {}: read without a WAL index ({})", path, e.what());
        open(immutable_uri(path), flags | SQLITE_OPEN_URI, mode);
    }
}

void Database::open(const std::string& name, int flags, OpenMode mode) {
    const int rc = sqlite3_open_v2(name.c_str(), &m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const int err = errno;
        std::string msg = m_db != nullptr ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        sqlite3_close(m_db);
        m_db = nullptr;
        if (rc == SQLITE_CANTOPEN && err != 0) {
            fail_errno(err, fmt::format("cannot open database {}", m_path));
        }
        fail(exit_code_for_sqlite(rc), "cannot open database {}: {}", m_path, msg);
    }
    // A constructor that throws gets no destructor call: the connection is
    // closed here when the setup or the migration fails.
    try {
        sqlite3_extended_result_codes(m_db, 1);
        // Waits up to 10 s for a writer of another process, but gives up at once
        // on SIGINT/SIGTERM so that an interrupted run ends promptly.
        sqlite3_busy_handler(
            m_db,
            [](void*, int tries) -> int {
                if (interrupted() || tries >= 1000) {
                    return 0;
                }
                sqlite3_sleep(10);
                return 1;
            },
            nullptr);
        exec("PRAGMA foreign_keys = ON");
        if (mode != OpenMode::read_only) {
            exec("PRAGMA journal_mode = WAL");
            // FULL: a commit is on disk (the WAL fsynced) before the call returns,
            // so a spool file deleted after its commit cannot outlive the commit
            // in a power loss. It costs one WAL sync per ingested file.
            exec("PRAGMA synchronous = FULL");
        }
        migrate(*this);
    } catch (...) {
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw;
    }
}

std::unique_ptr<Database> open_for_reading(const std::string& path) {
    if (is_postgresql_uri(path)) {
        return std::make_unique<Database>(path, OpenMode::read_only);
    }
    check_existing_database(path);
    if (::access(path.c_str(), W_OK) == 0 && ::access(parent_directory(path).c_str(), W_OK) == 0) {
        auto db = std::make_unique<Database>(path, OpenMode::read_write);
        db->exec("PRAGMA query_only = ON");
        return db;
    }
    try {
        return std::make_unique<Database>(path, OpenMode::read_only);
    } catch (const Error& e) {
        if (e.code() != exit_code::k_no_perm && e.code() != exit_code::k_cant_create) {
            throw;
        }
        if (const std::string index = path + "-shm";
            ::access(index.c_str(), F_OK) == 0 && ::access(index.c_str(), R_OK) != 0) {
            fail_errno(errno, fmt::format("cannot read the WAL index {} of database {}", index, path));
        }
        // A WAL database with commits not yet checkpointed needs its index
        // file (-shm) even to be read.
        fail(exit_code::k_no_perm,
             "cannot read database {} without write access: its WAL index {}-shm is missing and cannot be "
             "created in {} ({})",
             path, path, parent_directory(path), e.what());
    }
}

Database::~Database() {
    sqlite3_close_v2(m_db);
}

void Database::exec(std::string_view sql) {
    if (m_pg) {
        m_pg->exec(sql);
        return;
    }
    std::string text(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw Error(exit_code_for_sqlite(rc), fmt::format("database {}: {}", m_path, msg));
    }
}

std::int64_t Database::changes() const {
    return m_pg ? m_pg->changes : sqlite3_changes(m_db);
}

void Database::throw_error(int rc, std::string_view context) const {
    throw Error(exit_code_for_sqlite(rc), fmt::format("database {}: {}: {}", m_path, context, sqlite3_errmsg(m_db)));
}

// ---- Transaction ----------------------------------------------------------

Transaction::Transaction(Database& db) : m_db(db) {
    m_db.exec(db.pg() != nullptr ? "BEGIN" : "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!m_done) {
        if (m_db.pg() != nullptr) {
            m_db.pg()->exec_quietly("ROLLBACK");
        } else {
            sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }
}

void Transaction::commit() {
    m_db.exec("COMMIT");
    m_done = true;
}

ReadSnapshot::ReadSnapshot(Database& db) : m_db(db) {
    m_db.exec(db.pg() != nullptr ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
}

ReadSnapshot::~ReadSnapshot() {
    if (m_db.pg() != nullptr) {
        m_db.pg()->exec_quietly("COMMIT");
    } else {
        sqlite3_exec(m_db.handle(), "COMMIT", nullptr, nullptr, nullptr);
    }
}

// ---- Migrations -----------------------------------------------------------

namespace {

// users.account values that migration 4 cannot make accounts of: refused
// before anything changes, each named with its users and the repair.
void check_legacy_accounts(Database& db) {
    Statement bad(db, "SELECT account, count(*), min(name) FROM users WHERE account IS NOT NULL AND account <> '' "
                      "AND (account GLOB '*[^A-Za-z0-9._@+-]*' OR substr(account, 1, 1) NOT GLOB '[A-Za-z0-9]') "
                      "GROUP BY account ORDER BY account");
    std::string list;
    int n = 0;
    while (bad.step()) {
        if (++n <= 5) {
            list += fmt::format("{}'{}' ({} user{}, e.g. '{}')", n > 1 ? ", " : "", bad.column_text(0),
                                bad.column_int64(1), bad.column_int64(1) == 1 ? "" : "s", bad.column_text(2));
        }
    }
    if (n > 0) {
        fail(exit_code::k_data,
             "database {}: users.account holds {} value{} an account name cannot be ({}{}): letters, digits and "
             ". _ @ + -, first a letter or digit; rename them with sqlite3 (UPDATE users SET account = 'NEW' WHERE "
             "account = 'OLD') and run again",
             db.path(), n, n == 1 ? "" : "s", list, n > 5 ? ", …" : "");
    }
}

} // namespace

void migrate(Database& db) {
    if (db.pg() != nullptr) {
        migrate_postgresql(db, true);
        return;
    }
    auto version_of = [&db] {
        Statement st(db, "PRAGMA user_version");
        st.step();
        return static_cast<int>(st.column_int64(0));
    };
    int version = version_of();
    if (version > k_schema_version) {
        fail(exit_code::k_config,
             "database {} has schema version {}, newer than this wp-tools understands ({}): upgrade wp-tools",
             db.path(), version, k_schema_version);
    }
    if (version == k_schema_version) {
        return;
    }
    if (sqlite3_db_readonly(db.handle(), "main") == 1) {
        fail(exit_code::k_config, "database {} needs schema migration but is opened read-only", db.path());
    }
    Transaction tx(db);
    version = version_of(); // another process may have migrated meanwhile
    if (version < 1) {
        db.exec(k_migration_1);
        db.exec("PRAGMA user_version = 1");
    }
    if (version < 2) {
        db.exec(k_migration_2);
        db.exec("PRAGMA user_version = 2");
    }
    if (version < 3) {
        db.exec(k_migration_3);
        db.exec("PRAGMA user_version = 3");
    }
    if (version >= 1 && version < 4) {
        check_legacy_accounts(db);
    }
    if (version < 4) {
        db.exec(k_migration_4);
        db.exec("PRAGMA user_version = 4");
    }
    if (version < 5) {
        db.exec(k_migration_5);
        db.exec("PRAGMA user_version = 5");
    }
    if (version < 6) {
        db.exec(k_migration_6);
        db.exec(k_read_views);
        db.exec("PRAGMA user_version = 6");
    }
    tx.commit();
}

} // namespace wp
