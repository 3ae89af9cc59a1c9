#pragma once
// PostgreSQL behind store/db: one libpq connection and the statements
// prepared on it. Statements are written with SQLite's ?N parameters and
// prepared once per connection as $N; values travel as text with their
// types (bigint, double precision, text), results come back as text.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace wp {

/// SQL with ?N (or ?) parameters as PostgreSQL's $N; quoted text, quoted
/// names and comments are left as they are.
std::string postgresql_parameters(std::string_view sql);

/// VALUE appended to OUT as a field of COPY's text format: backslash, tab,
/// newline and carriage return escaped; nullopt as \N.
void append_copy_text_field(std::string& out, std::optional<std::string_view> value);

/// The connection string without a password, for messages.
std::string redacted_conninfo(const std::string& conninfo);

class PgConnection {
public:
    /// Connects (Error(75) when the server cannot be reached in time,
    /// Error(78) for a password in the string: it belongs in ~/.pgpass).
    explicit PgConnection(const std::string& conninfo);
    ~PgConnection();
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;

    /// Runs SQL without parameters or results (schema, BEGIN, COMMIT).
    void exec(std::string_view sql);
    /// As exec, but never throws (a ROLLBACK in a destructor).
    void exec_quietly(const char* sql) noexcept;
    /// The prepared name of SQL with these parameter types, prepared once.
    const std::string& prepared(const std::string& sql, const std::vector<unsigned>& types);
    /// COPY … FROM STDIN in text format (copy_sql names the table and its
    /// columns): fill appends lines (append_copy_text_field per value, tabs between,
    /// a newline after each row) and returns false after the last; the
    /// rows the server took. A throw from fill ends the COPY as failed.
    std::int64_t copy_in(std::string_view copy_sql, const std::function<bool(std::string&)>& fill);
    /// Throws the Error a failed result stands for, with context; clears the
    /// result (nullptr: the connection's own error).
    [[noreturn]] void throw_result(pg_result* result, std::string_view context) const;

    pg_conn* handle() const { return m_conn; }
    /// False once the server went away (a lost connection is not retried).
    bool connected() const;
    const std::string& name() const { return m_name; }
    std::int64_t changes = 0;

private:
    void exec_copy_start(std::string_view copy_sql);
    pg_conn* m_conn = nullptr;
    std::string m_name;
    std::map<std::pair<std::string, std::vector<unsigned>>, std::string> m_prepared;
};

/// One statement's parameters and, once stepped, its whole result.
class PgStatement {
public:
    PgStatement(PgConnection& conn, std::string_view sql);
    ~PgStatement();
    PgStatement(const PgStatement&) = delete;
    PgStatement& operator=(const PgStatement&) = delete;

    void bind(int index, std::optional<std::string> value, unsigned type);
    bool step();
    void reset();

    int column_count();
    std::string column_name(int index);
    bool is_null(int index) const;
    std::string_view value(int index) const;

private:
    void execute();
    PgConnection& m_conn;
    std::string m_sql;
    std::vector<std::optional<std::string>> m_values;
    std::vector<unsigned> m_types;
    pg_result* m_result = nullptr;
    int m_row = -1;
    bool m_executed = false;
};

/// PostgreSQL type oids of the values we bind.
inline constexpr unsigned k_pg_int8 = 20;
inline constexpr unsigned k_pg_text = 25;
inline constexpr unsigned k_pg_float8 = 701;

} // namespace wp
