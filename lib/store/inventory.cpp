#include "store/inventory.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include <sqlite3.h>

#include "base/calendar.h"
#include "base/error.h"
#include "store/pg_backend.h"

namespace wp {

namespace {

constexpr std::string_view k_server_columns =
    "id, name, address, port, ssh_user, city, country, provider, virt, active, log_path, rotate_cmd, "
    "added_at, retired_at, notes, collector";

Server read_server(const Statement& st) {
    Server s;
    s.id = st.column_int64(0);
    s.name = st.column_text(1);
    s.address = st.column_text(2);
    s.port = static_cast<int>(st.column_int64(3));
    s.ssh_user = st.column_optional_text(4);
    s.city = st.column_optional_text(5);
    s.country = st.column_optional_text(6);
    s.provider = st.column_optional_text(7);
    s.virt = st.column_text(8);
    s.active = st.column_int64(9) != 0;
    s.log_path = st.column_text(10);
    s.rotate_cmd = st.column_text(11);
    s.added_at = st.column_int64(12);
    if (!st.is_null(13)) {
        s.retired_at = st.column_int64(13);
    }
    s.notes = st.column_optional_text(14);
    s.collector = st.column_optional_text(15);
    return s;
}

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Whether every character of text is a letter, a digit or one of extra.
bool only_of(std::string_view text, std::string_view extra) {
    return std::all_of(text.begin(), text.end(),
                       [extra](char c) { return is_alnum(c) || extra.find(c) != std::string_view::npos; });
}

void require(const std::string& problem, std::string_view field) {
    if (!problem.empty()) {
        fail(exit_code::k_usage, "{}: {}", field, problem);
    }
}

void validate(const Server& s) {
    int port = 0;
    require(check_server_name(s.name), "name");
    require(check_address(s.address), "address");
    require(check_port(std::to_string(s.port), port), "port");
    require(check_virt(s.virt), "virt");
    require(check_log_path(s.log_path), "log-path");
    require(check_text_field(s.rotate_cmd), "rotate-cmd");
    if (s.rotate_cmd.empty()) {
        require("must not be empty", "rotate-cmd");
    }
    if (s.ssh_user) {
        require(check_ssh_user(*s.ssh_user), "ssh-user");
    }
    if (s.country) {
        std::string upper;
        require(check_country(*s.country, upper), "country");
        if (upper != *s.country) {
            require(fmt::format("'{}' must be upper case", *s.country), "country");
        }
    }
    for (auto [value, field] :
         {std::pair{&s.city, "city"}, std::pair{&s.provider, "provider"}, std::pair{&s.notes, "notes"}}) {
        if (*value) {
            require(check_text_field(**value), field);
        }
    }
    if (s.collector) {
        require(check_server_name(*s.collector), "collector");
    }
}

// The authorizer behind --where: reading and functions only.
int read_only_authorizer(void* /*unused*/, int action, const char* /*a*/, const char* /*b*/, const char* /*db*/,
                         const char* /*trigger*/) {
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        return SQLITE_DENY;
    }
}

// Country codes are kept upper case; a code that is not one stays as given,
// for validate() to name.
void upper_case_country(std::optional<std::string>& country) {
    std::string upper;
    if (country && check_country(*country, upper).empty()) {
        country = upper;
    }
}

// Parameters 1 to 11 of the INSERT and the UPDATE of a server: the columns
// both write, in the same order.
void bind_server_fields(Statement& st, const Server& s) {
    st.bind(1, s.name).bind(2, s.address).bind(3, s.port).bind(4, s.ssh_user).bind(5, s.city);
    st.bind(6, s.country).bind(7, s.provider).bind(8, s.virt).bind(9, s.active ? 1 : 0);
    st.bind(10, s.log_path).bind(11, s.rotate_cmd);
}

// The operator's filter on PostgreSQL: one statement (a prepared statement
// cannot hold two) in a READ ONLY transaction, on a connection of its own
// that ends with it, so that it can write no table and leave nothing behind
// in the tool's session (a setting, an advisory lock).
std::vector<Server> select_postgresql(const Database& db, const std::string& sql, std::string_view where) {
    Database filter(db.path(), OpenMode::read_only);
    std::vector<Server> out;
    try {
        filter.exec("BEGIN READ ONLY");
        auto st = filter.prepare(sql);
        while (st.step()) {
            out.push_back(read_server(st));
        }
        filter.exec("COMMIT");
    } catch (const Error& e) {
        if (!filter.pg()->connected()) {
            throw;
        }
        fail(exit_code::k_usage, "--where '{}' refused: {}", where, e.what());
    }
    return out;
}

class ReadOnlyGuard {
public:
    explicit ReadOnlyGuard(Database& db) : m_db(db) {
        sqlite3_set_authorizer(m_db.handle(), read_only_authorizer, nullptr);
    }
    ~ReadOnlyGuard() { sqlite3_set_authorizer(m_db.handle(), nullptr, nullptr); }
    ReadOnlyGuard(const ReadOnlyGuard&) = delete;
    ReadOnlyGuard& operator=(const ReadOnlyGuard&) = delete;

private:
    Database& m_db;
};

} // namespace

const std::vector<std::string>& known_virt_types() {
    static const std::vector<std::string> k_types = {"xen",    "openvz", "virtuozzo", "kvm",
                                                     "vmware", "lxc",    "physical",  "unknown"};
    return k_types;
}

std::string check_server_name(std::string_view name) {
    if (name.empty()) {
        return "must not be empty";
    }
    if (name.size() > 253) {
        return "longer than 253 characters";
    }
    if (!is_alnum(name[0])) {
        return fmt::format("'{}' must start with a letter or digit", name);
    }
    if (!only_of(name, "._-")) {
        return fmt::format("'{}' may contain only letters, digits, '.', '_' and '-'", name);
    }
    return {};
}

std::string check_address(std::string_view address) {
    // A host name or an IPv4/IPv6 literal; never starts with '-' (an option to ssh).
    if (address.empty()) {
        return "must not be empty";
    }
    if (!only_of(address.substr(0, 1), ":[")) {
        return fmt::format("'{}' must start with a letter, digit, ':' or '['", address);
    }
    if (!only_of(address, ".-:[]_%")) {
        return fmt::format("'{}' is not a host name or IP address", address);
    }
    return {};
}

std::string check_port(std::string_view port, int& out) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fmt::format("'{}' is not a port number (1-65535)", port);
    }
    const int value = std::stoi(std::string(port));
    if (value < 1 || value > 65535) {
        return fmt::format("'{}' is not a port number (1-65535)", port);
    }
    out = value;
    return {};
}

std::string check_virt(std::string_view virt) {
    const auto& types = known_virt_types();
    if (std::find(types.begin(), types.end(), virt) == types.end()) {
        return fmt::format("'{}' is not one of xen, openvz, virtuozzo, kvm, vmware, lxc, physical, unknown", virt);
    }
    return {};
}

std::string check_ssh_user(std::string_view user) {
    if (user.empty() || user.size() > 32 || !only_of(user.substr(0, 1), "_") || !only_of(user, "_.-")) {
        return fmt::format("'{}' is not a valid user name", user);
    }
    return {};
}

std::string check_log_path(std::string_view path) {
    if (path.empty() || path[0] != '/') {
        return fmt::format("'{}' must be an absolute path", path);
    }
    for (unsigned char c : path) {
        if (c < 0x20 || c == 0x7f) {
            return "must not contain control characters";
        }
    }
    return {};
}

std::string check_text_field(std::string_view text) {
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            return "must not contain control characters";
        }
    }
    return {};
}

std::string check_country(std::string_view code, std::string& upper) {
    // The officially assigned codes of ISO 3166-1 (Debian's iso-codes, 2026).
    static constexpr std::string_view k_assigned =
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW "
        "BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI "
        "FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN "
        "IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
        "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF "
        "PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
        "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE "
        "YT ZA ZM ZW ";
    upper.clear();
    for (char c : code) {
        upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    const bool two_letters =
        upper.size() == 2 && std::all_of(upper.begin(), upper.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!two_letters || k_assigned.find(upper + ' ') == std::string_view::npos) {
        return fmt::format("'{}' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. CA)", code);
    }
    return {};
}

std::string check_sql_expression(std::string_view sql) {
    int depth = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            const char close = c == '[' ? ']' : c;
            const auto end = sql.find(close, i + 1);
            if (end == std::string_view::npos) {
                return fmt::format("unterminated {}", c == '\'' ? "string" : "quoted name");
            }
            i = end; // a doubled quote is two quoted runs back to back
        } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
            const auto end = sql.find('\n', i);
            i = end == std::string_view::npos ? sql.size() : end;
        } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
            const auto end = sql.find("*/", i + 2);
            if (end == std::string_view::npos) {
                return "unterminated comment";
            }
            i = end + 1;
        } else if (c == '(') {
            ++depth;
        } else if (c == ')' && --depth < 0) {
            return "a ')' without its '(': it must be a single expression";
        } else if (c == ';') {
            return "';': it must be a single expression";
        }
    }
    if (depth > 0) {
        return "a '(' without its ')': it must be a single expression";
    }
    return {};
}

std::string format_utc(std::int64_t epoch) {
    const std::tm tm = utc_time(epoch);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

std::int64_t Inventory::add(Server s) {
    if (s.address.empty()) {
        s.address = s.name;
    }
    upper_case_country(s.country);
    validate(s);
    if (find(s.name)) {
        fail(exit_code::k_usage, "server {} already exists", s.name);
    }
    auto st = m_db.prepare(
        "INSERT INTO servers (name, address, port, ssh_user, city, country, provider, virt, active, "
        "log_path, rotate_cmd, added_at, notes, collector) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id");
    bind_server_fields(st, s);
    st.bind(12, s.added_at != 0 ? s.added_at : now_epoch()).bind(13, s.notes).bind(14, s.collector);
    st.step();
    const std::int64_t id = st.column_int64(0);
    st.reset();
    return id;
}

std::optional<Server> Inventory::find(const std::string& name) {
    auto st = m_db.prepare(fmt::format("SELECT {} FROM servers WHERE name = ?", k_server_columns));
    st.bind(1, name);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_server(st);
}

void Inventory::change(const std::string& name, const ServerChanges& c) {
    Transaction tx(m_db);
    auto current = find(name);
    if (!current) {
        fail(exit_code::k_no_input, "no server named {}", name);
    }
    Server s = *current;
    if (c.name) s.name = *c.name;
    if (c.address) s.address = *c.address;
    if (c.port) s.port = *c.port;
    if (c.ssh_user) s.ssh_user = c.ssh_user->empty() ? std::nullopt : c.ssh_user;
    if (c.city) s.city = c.city->empty() ? std::nullopt : c.city;
    if (c.country) s.country = c.country->empty() ? std::nullopt : c.country;
    upper_case_country(s.country);
    if (c.provider) s.provider = c.provider->empty() ? std::nullopt : c.provider;
    if (c.virt) s.virt = *c.virt;
    if (c.log_path) s.log_path = *c.log_path;
    if (c.rotate_cmd) s.rotate_cmd = *c.rotate_cmd;
    if (c.notes) s.notes = c.notes->empty() ? std::nullopt : c.notes;
    if (c.collector) s.collector = c.collector->empty() ? std::nullopt : c.collector;
    if (c.active) {
        if (*c.active && s.retired_at) {
            s.retired_at.reset(); // reactivating a retired server un-retires it
        }
        s.active = *c.active;
    }
    validate(s);
    if (s.name != name && find(s.name)) {
        fail(exit_code::k_usage, "server {} already exists", s.name);
    }
    auto st =
        m_db.prepare("UPDATE servers SET name=?, address=?, port=?, ssh_user=?, city=?, country=?, provider=?, virt=?, "
                     "active=?, log_path=?, rotate_cmd=?, retired_at=?, notes=?, collector=? WHERE id=?");
    bind_server_fields(st, s);
    st.bind(12, s.retired_at).bind(13, s.notes).bind(14, s.collector).bind(15, s.id);
    st.run();
    tx.commit();
}

void Inventory::retire(const std::string& name) {
    auto st = m_db.prepare("UPDATE servers SET active = 0, retired_at = coalesce(retired_at, ?) WHERE name = ?");
    st.bind(1, now_epoch()).bind(2, name);
    st.run();
    if (m_db.changes() == 0) {
        fail(exit_code::k_no_input, "no server named {}", name);
    }
}

std::vector<Server> Inventory::select(std::string_view where, bool include_retired) {
    // The operator's condition filters a subquery that has already left the
    // retired servers out, so that even a condition that closed our
    // parenthesis could not bring them back; and it must be one expression.
    std::string sql = fmt::format("SELECT {0} FROM (SELECT {0} FROM servers WHERE {1}) AS servers", k_server_columns,
                                  include_retired ? "1 = 1" : "retired_at IS NULL");
    if (!where.empty()) {
        if (const auto problem = check_sql_expression(where); !problem.empty()) {
            fail(exit_code::k_usage, "--where '{}' refused: {}", where, problem);
        }
        // The filter is the operator's own SQL; the authorizer, not string
        // checks, guarantees it can only read.
        sql += fmt::format(" WHERE ({}\n)", where);
    }
    sql += " ORDER BY name";

    std::vector<Server> out;
    if (m_db.dialect() == Dialect::postgresql) {
        return select_postgresql(m_db, sql, where);
    }
    ReadOnlyGuard guard(m_db);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(m_db.handle(), sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
    if (rc != SQLITE_OK) {
        std::string msg = sqlite3_errmsg(m_db.handle());
        sqlite3_finalize(raw);
        fail(exit_code::k_usage, "--where '{}' refused: {}", where, msg);
    }
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
    std::string_view rest = tail != nullptr ? std::string_view(tail) : std::string_view();
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos || sqlite3_stmt_readonly(raw) == 0) {
        fail(exit_code::k_usage, "--where '{}' refused: it must be a single expression that only reads", where);
    }
    for (;;) {
        const int step = sqlite3_step(raw);
        if (step == SQLITE_DONE) {
            break;
        }
        if (step != SQLITE_ROW) {
            fail(exit_code::k_usage, "--where '{}' failed: {}", where, sqlite3_errmsg(m_db.handle()));
        }
        Server s;
        auto text = [raw](int i) -> std::optional<std::string> {
            if (sqlite3_column_type(raw, i) == SQLITE_NULL) {
                return std::nullopt;
            }
            return std::string(reinterpret_cast<const char*>(sqlite3_column_text(raw, i)),
                               static_cast<std::size_t>(sqlite3_column_bytes(raw, i)));
        };
        s.id = sqlite3_column_int64(raw, 0);
        s.name = text(1).value_or("");
        s.address = text(2).value_or("");
        s.port = sqlite3_column_int(raw, 3);
        s.ssh_user = text(4);
        s.city = text(5);
        s.country = text(6);
        s.provider = text(7);
        s.virt = text(8).value_or("unknown");
        s.active = sqlite3_column_int(raw, 9) != 0;
        s.log_path = text(10).value_or("");
        s.rotate_cmd = text(11).value_or("");
        s.added_at = sqlite3_column_int64(raw, 12);
        if (sqlite3_column_type(raw, 13) != SQLITE_NULL) {
            s.retired_at = sqlite3_column_int64(raw, 13);
        }
        s.notes = text(14);
        s.collector = text(15);
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<CsvRecord> parse_csv(std::string_view text, std::string_view source) {
    std::vector<CsvRecord> records;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3); // spreadsheet BOM
    }
    std::size_t i = 0;
    int line = 1;
    while (i < text.size()) {
        CsvRecord rec;
        rec.line = line;
        std::string field;
        bool end_of_record = false;
        while (!end_of_record) {
            if (i < text.size() && text[i] == '"') {
                ++i;
                for (;;) {
                    if (i >= text.size()) {
                        fail(exit_code::k_data, "{}:{}: unterminated quoted field", source, rec.line);
                    }
                    const char c = text[i++];
                    if (c == '"') {
                        if (i < text.size() && text[i] == '"') {
                            field += '"';
                            ++i;
                            continue;
                        }
                        break;
                    }
                    if (c == '\n') {
                        ++line;
                    }
                    field += c;
                }
                if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    fail(exit_code::k_data, "{}:{}: text after a closing quote", source, line);
                }
            } else {
                while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        fail(exit_code::k_data, "{}:{}: quote inside an unquoted field", source, line);
                    }
                    field += text[i++];
                }
            }
            rec.fields.push_back(std::move(field));
            field.clear();
            if (i >= text.size()) {
                end_of_record = true;
            } else if (text[i] == ',') {
                ++i;
            } else {
                if (text[i] == '\r') {
                    ++i;
                }
                if (i < text.size() && text[i] == '\n') {
                    ++i;
                }
                ++line;
                end_of_record = true;
            }
        }
        const bool blank = rec.fields.size() == 1 && rec.fields[0].empty();
        if (!blank) {
            records.push_back(std::move(rec));
        }
    }
    return records;
}

std::size_t Inventory::import_csv(std::string_view text, std::string_view source) {
    const auto records = parse_csv(text, source);
    if (records.empty()) {
        fail(exit_code::k_data, "{}: no header row", source);
    }
    static const std::set<std::string, std::less<>> k_columns = {
        "name", "address", "port",     "ssh_user",   "city",  "country",  "provider",
        "virt", "active",  "log_path", "rotate_cmd", "notes", "collector"};
    const auto& header = records[0].fields;
    std::map<std::string, std::size_t, std::less<>> index;
    for (std::size_t c = 0; c < header.size(); ++c) {
        std::string col = header[c];
        std::transform(col.begin(), col.end(), col.begin(),
                       [](unsigned char ch) { return ch == '-' ? '_' : static_cast<char>(std::tolower(ch)); });
        col.erase(0, col.find_first_not_of(' '));
        col.erase(col.find_last_not_of(' ') + 1);
        if (!k_columns.contains(col)) {
            fail(exit_code::k_data, "{}:{}: unknown column '{}' (column {})", source, records[0].line, header[c],
                 c + 1);
        }
        if (!index.emplace(col, c).second) {
            fail(exit_code::k_data, "{}:{}: column '{}' appears twice", source, records[0].line, col);
        }
    }
    if (!index.contains("name")) {
        fail(exit_code::k_data, "{}:{}: the header has no 'name' column", source, records[0].line);
    }

    Transaction tx(m_db);
    std::set<std::string> seen;
    std::size_t added = 0;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        auto bad = [&](std::string_view column, std::string_view why) {
            fail(exit_code::k_data, "{}:{}: column {}: {}; nothing imported", source, rec.line, column, why);
        };
        if (rec.fields.size() != header.size()) {
            fail(exit_code::k_data, "{}:{}: {} fields, the header has {}; nothing imported", source, rec.line,
                 rec.fields.size(), header.size());
        }
        auto get = [&](std::string_view col) -> std::optional<std::string> {
            auto it = index.find(col);
            if (it == index.end() || rec.fields[it->second].empty()) {
                return std::nullopt;
            }
            return rec.fields[it->second];
        };
        Server s;
        s.name = get("name").value_or("");
        if (auto p = check_server_name(s.name); !p.empty()) bad("name", p);
        if (!seen.insert(s.name).second || find(s.name)) bad("name", fmt::format("server {} already exists", s.name));
        s.address = get("address").value_or(s.name);
        if (auto p = check_address(s.address); !p.empty()) bad("address", p);
        if (auto v = get("port")) {
            if (auto p = check_port(*v, s.port); !p.empty()) bad("port", p);
        }
        if (auto v = get("ssh_user")) {
            if (auto p = check_ssh_user(*v); !p.empty()) bad("ssh_user", p);
            s.ssh_user = v;
        }
        if (auto v = get("virt")) {
            if (auto p = check_virt(*v); !p.empty()) bad("virt", p);
            s.virt = *v;
        }
        if (auto v = get("active")) {
            if (*v == "1" || *v == "yes" || *v == "true") {
                s.active = true;
            } else if (*v == "0" || *v == "no" || *v == "false") {
                s.active = false;
            } else {
                bad("active", fmt::format("'{}' is not yes/no/1/0/true/false", *v));
            }
        }
        if (auto v = get("log_path")) {
            if (auto p = check_log_path(*v); !p.empty()) bad("log_path", p);
            s.log_path = *v;
        }
        if (auto v = get("rotate_cmd")) {
            if (auto p = check_text_field(*v); !p.empty()) bad("rotate_cmd", p);
            s.rotate_cmd = *v;
        }
        if (auto v = get("country")) {
            std::string upper;
            if (auto p = check_country(*v, upper); !p.empty()) bad("country", p);
            s.country = upper;
        }
        for (auto [col, field] :
             {std::pair{"city", &s.city}, std::pair{"provider", &s.provider}, std::pair{"notes", &s.notes}}) {
            if (auto v = get(col)) {
                if (auto p = check_text_field(*v); !p.empty()) bad(col, p);
                *field = v;
            }
        }
        add(s);
        ++added;
    }
    tx.commit();
    return added;
}

void Inventory::record_contact(std::int64_t server_id) {
    auto st = m_db.prepare(
        "INSERT INTO host_status (server_id, last_contact, consecutive_failures) VALUES (?1, ?2, 0) "
        "ON CONFLICT(server_id) DO UPDATE SET last_contact = excluded.last_contact, consecutive_failures = 0");
    st.bind(1, server_id).bind(2, now_epoch());
    st.run();
}

void Inventory::record_failure(std::int64_t server_id, const std::string& error) {
    auto st = m_db.prepare(
        "INSERT INTO host_status (server_id, last_error, last_error_at, consecutive_failures) VALUES (?1, ?2, ?3, 1) "
        "ON CONFLICT(server_id) DO UPDATE SET last_error = excluded.last_error, "
        "last_error_at = excluded.last_error_at, consecutive_failures = host_status.consecutive_failures + 1");
    st.bind(1, server_id).bind(2, error).bind(3, now_epoch());
    st.run();
}

void Inventory::record_clock(std::int64_t server_id, const ClockReading& clock) {
    auto st = m_db.prepare(
        "INSERT INTO host_status (server_id, clock_offset_ms, clock_uncertainty_ms, clock_measured_at) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(server_id) DO UPDATE SET clock_offset_ms = excluded.clock_offset_ms, "
        "clock_uncertainty_ms = excluded.clock_uncertainty_ms, clock_measured_at = excluded.clock_measured_at");
    st.bind(1, server_id).bind(2, clock.offset_ms).bind(3, clock.uncertainty_ms).bind(4, clock.measured_at);
    st.run();
}

void Inventory::record_fetch(std::int64_t server_id) {
    auto st = m_db.prepare("INSERT INTO host_status (server_id, last_fetch) VALUES (?1, ?2) "
                           "ON CONFLICT(server_id) DO UPDATE SET last_fetch = excluded.last_fetch");
    st.bind(1, server_id).bind(2, now_epoch());
    st.run();
}

std::vector<HostStatus> Inventory::status(const std::vector<std::string>& names, std::string_view where) {
    std::set<std::string, std::less<>> matching;
    if (!where.empty()) {
        for (auto& s : select(where, !names.empty())) {
            matching.insert(std::move(s.name));
        }
    }
    auto st = m_db.prepare(
        "SELECT s.name, h.last_contact, h.last_error, h.last_error_at, coalesce(h.consecutive_failures, 0), "
        "h.clock_offset_ms, h.clock_uncertainty_ms, h.clock_measured_at, h.last_fetch FROM servers s LEFT JOIN "
        "host_status h ON h.server_id = s.id "
        "WHERE (CAST(?1 AS TEXT) IS NULL AND s.retired_at IS NULL) OR s.name = ?1 ORDER BY s.name");
    std::vector<HostStatus> out;
    auto collect = [&] {
        while (st.step()) {
            HostStatus h;
            h.name = st.column_text(0);
            if (!where.empty() && !matching.contains(h.name)) {
                continue;
            }
            if (!st.is_null(1)) h.last_contact = st.column_int64(1);
            h.last_error = st.column_optional_text(2);
            if (!st.is_null(3)) h.last_error_at = st.column_int64(3);
            h.consecutive_failures = st.column_int64(4);
            if (!st.is_null(5)) {
                h.clock = ClockReading{st.column_int64(5), st.column_int64(6), st.column_int64(7)};
            }
            if (!st.is_null(8)) h.last_fetch = st.column_int64(8);
            out.push_back(std::move(h));
        }
        st.reset();
    };
    if (names.empty()) {
        st.bind(1, nullptr);
        collect();
    }
    for (const auto& n : names) {
        if (!find(n)) {
            fail(exit_code::k_no_input, "no server named {}", n);
        }
        st.bind(1, n);
        collect();
    }
    return out;
}

} // namespace wp
