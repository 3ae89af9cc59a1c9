#include "store/pg_backend.h"

#include <cstring>

#include <libpq-fe.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/table.h"
#include "base/text.h"

namespace wp {

namespace {

// The exit status of a failed statement, by its SQLSTATE class.
int exit_code_for_sqlstate(std::string_view state, bool connection_lost) {
    if (connection_lost || state.starts_with("08") || state.starts_with("40") || state.starts_with("57") ||
        state == "55P03" || state == "55006") {
        return exit_code::k_temp_fail; // connection, deadlock or serialization, shutdown, lock not available
    }
    if (state.starts_with("53") || state.starts_with("58")) {
        return exit_code::k_io; // disk full, out of memory, system error
    }
    if (state == "42501" || state == "25006" || state.starts_with("28")) {
        return exit_code::k_no_perm; // privilege, read-only transaction, authorization
    }
    if (state.starts_with("22") || state.starts_with("23")) {
        return exit_code::k_data; // data exception (an overflow), integrity
    }
    return exit_code::k_software;
}

std::string first_line(const char* message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    if (const auto nl = text.find('\n'); nl != std::string::npos) {
        text.resize(nl);
    }
    for (std::string_view level : {"ERROR:  ", "FATAL:  "}) {
        if (text.starts_with(level)) {
            text.erase(0, level.size());
        }
    }
    return text;
}

// Keyword/value pairs of a connection string, or nullopt when libpq cannot
// read it (with its reason).
struct ParsedConninfo {
    PQconninfoOption* options = nullptr;
    std::string error;
    ~ParsedConninfo() { PQconninfoFree(options); }
};

} // namespace

std::string postgresql_parameters(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int next = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (c == '\'' || c == '"') {
            const std::size_t end = sql.find(c, i + 1);
            const std::size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
            out.append(sql.substr(i, stop - i));
            i = stop - 1;
        } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
            const std::size_t end = sql.find('\n', i);
            const std::size_t stop = end == std::string_view::npos ? sql.size() : end;
            out.append(sql.substr(i, stop - i));
            i = stop - 1;
        } else if (c == '?') {
            std::size_t j = i + 1;
            while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') {
                ++j;
            }
            out += '$';
            if (j > i + 1) {
                out.append(sql.substr(i + 1, j - i - 1));
                next = std::max(next, std::stoi(std::string(sql.substr(i + 1, j - i - 1))));
            } else {
                out += std::to_string(++next);
            }
            i = j - 1;
        } else {
            out += c;
        }
    }
    return out;
}

void append_copy_text_field(std::string& out, std::optional<std::string_view> value) {
    // COPY's text format escapes what a TSV field of base/table escapes;
    // bytes that are not UTF-8 (a Latin-1 login in SQLite) become \xNN, as
    // wp-parse writes them on PostgreSQL.
    out += value ? tsv_escape(utf8_with_escapes(*value)) : std::string("\\N");
}

std::string redacted_conninfo(const std::string& conninfo) {
    // A password is refused before any message names the string; this only
    // keeps a refused one out of the refusal: user:PASSWORD@ in a URI, and
    // password=VALUE in its query or in keyword=value form.
    std::string out = conninfo;
    const auto scheme = out.find("://");
    if (scheme != std::string::npos) {
        const auto end = out.find_first_of("/?", scheme + 3);
        const auto at = out.rfind('@', end);
        const auto colon = out.find(':', scheme + 3);
        if (at != std::string::npos && at > scheme && colon < at) {
            out = out.substr(0, colon) + ":***" + out.substr(at);
        }
    }
    for (auto at = out.find("password="); at != std::string::npos; at = out.find("password=", at + 1)) {
        const auto value = at + 9;
        const auto stop = out.find_first_of("& ", value);
        out.replace(value, (stop == std::string::npos ? out.size() : stop) - value, "***");
    }
    return out;
}

// ---- PgConnection -------------------------------------------------------------

PgConnection::PgConnection(const std::string& conninfo) : m_name(redacted_conninfo(conninfo)) {
    {
        // Refused strings are not shown: what libpq cannot read, or a string
        // holding a password, may hold it in any spelling.
        ParsedConninfo parsed;
        char* err = nullptr;
        parsed.options = PQconninfoParse(conninfo.c_str(), &err);
        if (parsed.options == nullptr) {
            std::string why = first_line(err);
            PQfreemem(err);
            fail(exit_code::k_config, "the database's connection string is not one libpq reads: {}", why);
        }
        for (const auto* o = parsed.options; o->keyword != nullptr; ++o) {
            if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr && *o->val != '\0') {
                fail(exit_code::k_config,
                     "the database's connection string holds a password, which does not belong there (wp.conf "
                     "and command lines are readable): put it in ~/.pgpass or the file PGPASSFILE names");
            }
        }
    }
    // Our defaults first: the string's own win. connect_timeout: an
    // unreachable server makes the run give up (75) instead of hanging; the
    // keepalives and tcp_user_timeout do the same for a network that dies
    // in the middle of a statement.
    const char* keywords[] = {"connect_timeout",           "keepalives_idle",  "keepalives_interval",
                              "keepalives_count",          "tcp_user_timeout", "keepalives",
                              "fallback_application_name", "dbname",           nullptr};
    const char* values[] = {"10", "30", "10", "3", "60000", "1", "wp-tools", conninfo.c_str(), nullptr};
    m_conn = PQconnectdbParams(keywords, values, 1);
    if (m_conn == nullptr) {
        fail(exit_code::k_software, "database {}: out of memory", m_name);
    }
    if (PQstatus(m_conn) != CONNECTION_OK) {
        std::string why = first_line(PQerrorMessage(m_conn));
        PQfinish(m_conn);
        m_conn = nullptr;
        auto says = [&why](std::string_view text) { return why.find(text) != std::string::npos; };
        int code = exit_code::k_temp_fail; // refused, timed out, a name not resolved: try again later
        if (says("authentication") || says("password") || says("permission denied")) {
            code = exit_code::k_no_perm;
        } else if (says("does not exist") || says("invalid") || says("service") || says("unrecognized")) {
            code = exit_code::k_config; // no such database or role, a bad option: retrying will not help
        }
        fail(code, "cannot connect to database {}: {}", m_name, why);
    }
    // Names from logs are UTF-8 whatever the server's default encoding, and
    // a commit is on disk before wp-parse removes the spool file it billed,
    // whatever the database or role sets.
    exec_quietly("SET client_min_messages = warning");
    exec_quietly("SET client_encoding = 'UTF8'");
    exec_quietly("SET synchronous_commit = on");
}

bool PgConnection::connected() const {
    return PQstatus(m_conn) == CONNECTION_OK;
}

PgConnection::~PgConnection() {
    PQfinish(m_conn);
}

void PgConnection::throw_result(pg_result* result, std::string_view context) const {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = first_line(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(m_conn));
    if (message.empty()) {
        message = first_line(PQerrorMessage(m_conn));
    }
    const bool lost = PQstatus(m_conn) != CONNECTION_OK;
    const int code = exit_code_for_sqlstate(state != nullptr ? state : "", lost);
    Error error(code, fmt::format("database {}: {}{}{}", m_name, context, context.empty() ? "" : ": ",
                                  lost && message.empty() ? "connection lost" : message));
    PQclear(result);
    throw error;
}

void PgConnection::exec(std::string_view sql) {
    const std::string text(sql);
    PGresult* r = PQexec(m_conn, text.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw_result(r, "");
    }
    PQclear(r);
}

void PgConnection::exec_quietly(const char* sql) noexcept {
    if (m_conn != nullptr) {
        PQclear(PQexec(m_conn, sql));
    }
}

std::int64_t PgConnection::copy_in(std::string_view copy_sql, const std::function<bool(std::string&)>& fill) {
    exec_copy_start(copy_sql);
    std::string batch;
    try {
        for (bool more = true; more;) {
            batch.clear();
            more = fill(batch);
            if (!batch.empty() && PQputCopyData(m_conn, batch.data(), static_cast<int>(batch.size())) != 1) {
                throw_result(nullptr, "cannot send COPY data");
            }
        }
    } catch (...) {
        // The server ends the COPY with an error; the connection is then
        // ready for the ROLLBACK.
        PQputCopyEnd(m_conn, "the copy's source failed");
        while (PGresult* r = PQgetResult(m_conn)) {
            PQclear(r);
        }
        throw;
    }
    if (PQputCopyEnd(m_conn, nullptr) != 1) {
        throw_result(nullptr, "cannot end COPY");
    }
    PGresult* r = PQgetResult(m_conn);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    const char* tuples = ok ? PQcmdTuples(r) : nullptr;
    const std::int64_t rows = tuples != nullptr && *tuples != '\0' ? std::stoll(tuples) : 0;
    while (PGresult* rest = PQgetResult(m_conn)) {
        PQclear(rest);
    }
    if (!ok) {
        throw_result(r, "COPY failed");
    }
    PQclear(r);
    return rows;
}

void PgConnection::exec_copy_start(std::string_view copy_sql) {
    const std::string text(copy_sql);
    PGresult* r = PQexec(m_conn, text.c_str());
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        throw_result(r, "cannot start COPY");
    }
    PQclear(r);
}

const std::string& PgConnection::prepared(const std::string& sql, const std::vector<unsigned>& types) {
    auto key = std::make_pair(sql, types);
    if (const auto it = m_prepared.find(key); it != m_prepared.end()) {
        return it->second;
    }
    std::string name = "wp" + std::to_string(m_prepared.size() + 1);
    std::vector<Oid> oids(types.begin(), types.end());
    PGresult* r = PQprepare(m_conn, name.c_str(), sql.c_str(), static_cast<int>(oids.size()), oids.data());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        throw_result(r, "cannot prepare statement");
    }
    PQclear(r);
    return m_prepared.emplace(std::move(key), std::move(name)).first->second;
}

// ---- PgStatement --------------------------------------------------------------

PgStatement::PgStatement(PgConnection& conn, std::string_view sql) : m_conn(conn), m_sql(postgresql_parameters(sql)) {}

PgStatement::~PgStatement() {
    PQclear(m_result);
}

void PgStatement::bind(int index, std::optional<std::string> value, unsigned type) {
    if (index < 1 || index > 1000) {
        fail(exit_code::k_software, "database {}: cannot bind parameter {}", m_conn.name(), index);
    }
    const auto i = static_cast<std::size_t>(index - 1);
    if (m_values.size() <= i) {
        m_values.resize(i + 1);
        m_types.resize(i + 1, k_pg_text);
    }
    m_values[i] = std::move(value);
    m_types[i] = type;
}

void PgStatement::execute() {
    const std::string& name = m_conn.prepared(m_sql, m_types);
    std::vector<const char*> values;
    values.reserve(m_values.size());
    for (const auto& v : m_values) {
        values.push_back(v ? v->c_str() : nullptr);
    }
    PQclear(m_result);
    m_result = PQexecPrepared(m_conn.handle(), name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                              nullptr, 0);
    const auto status = PQresultStatus(m_result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        PGresult* failed = m_result;
        m_result = nullptr;
        m_conn.throw_result(failed, "statement failed");
    }
    const char* tuples = PQcmdTuples(m_result);
    m_conn.changes = tuples != nullptr && *tuples != '\0' ? std::stoll(tuples) : 0;
    m_executed = true;
    m_row = -1;
}

bool PgStatement::step() {
    if (!m_executed) {
        execute();
    }
    if (m_row < PQntuples(m_result)) {
        ++m_row;
    }
    return m_row < PQntuples(m_result);
}

void PgStatement::reset() {
    PQclear(m_result);
    m_result = nullptr;
    m_executed = false;
    m_row = -1;
    m_values.clear();
    m_types.clear();
}

int PgStatement::column_count() {
    if (m_result != nullptr) {
        return PQnfields(m_result);
    }
    const std::string& name = m_conn.prepared(m_sql, m_types);
    PGresult* d = PQdescribePrepared(m_conn.handle(), name.c_str());
    const int n = PQnfields(d);
    PQclear(d);
    return n;
}

std::string PgStatement::column_name(int index) {
    if (m_result == nullptr) {
        return {};
    }
    const char* name = PQfname(m_result, index);
    return name != nullptr ? name : "";
}

bool PgStatement::is_null(int index) const {
    return m_result == nullptr || m_row < 0 || m_row >= PQntuples(m_result) || PQgetisnull(m_result, m_row, index) != 0;
}

std::string_view PgStatement::value(int index) const {
    if (is_null(index)) {
        return {};
    }
    return {PQgetvalue(m_result, m_row, index), static_cast<std::size_t>(PQgetlength(m_result, m_row, index))};
}

} // namespace wp
