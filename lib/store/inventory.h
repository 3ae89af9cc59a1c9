#pragma once
// The inventory: servers, their SSH and log settings, and their status.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/db.h"
#include "store/host_status.h"

namespace wp {

/// One row of `servers`.
struct Server {
    std::int64_t id = 0;
    std::string name;
    std::string address;
    int port = 22;
    std::optional<std::string> ssh_user;
    std::optional<std::string> city;
    std::optional<std::string> country;
    std::optional<std::string> provider;
    std::string virt = "unknown";
    bool active = true;
    std::string log_path = "/var/log/squid/access.log";
    std::string rotate_cmd = "squid -k rotate";
    std::int64_t added_at = 0;
    std::optional<std::int64_t> retired_at;
    std::optional<std::string> notes;
    /// The collector whose wp-fetchlogs fetches this server (none: the
    /// collector without a name, as a single installation is).
    std::optional<std::string> collector;
};

/// Fields to change on a server; unset fields are left alone.
struct ServerChanges {
    std::optional<std::string> name; ///< rename
    std::optional<std::string> address;
    std::optional<int> port;
    std::optional<std::string> ssh_user;
    std::optional<std::string> city;
    std::optional<std::string> country;
    std::optional<std::string> provider;
    std::optional<std::string> virt;
    std::optional<bool> active;
    std::optional<std::string> log_path;
    std::optional<std::string> rotate_cmd;
    std::optional<std::string> notes;
    std::optional<std::string> collector; ///< empty: none
};

/// One row of host_status joined to its server.
struct HostStatus {
    std::string name;
    std::optional<std::int64_t> last_contact;
    std::optional<std::string> last_error;
    std::optional<std::int64_t> last_error_at;
    std::int64_t consecutive_failures = 0;
    std::optional<ClockReading> clock;      ///< the host's clock as last read
    std::optional<std::int64_t> last_fetch; ///< when wp-fetchlogs last fetched from it
};

/// Why a value is not acceptable, or empty when it is.
std::string check_server_name(std::string_view name);
std::string check_address(std::string_view address);
std::string check_port(std::string_view port, int& out);
std::string check_virt(std::string_view virt);
std::string check_ssh_user(std::string_view user);
std::string check_log_path(std::string_view path);
std::string check_text_field(std::string_view text);
/// An ISO 3166-1 alpha-2 code, in either case; upper is set to its upper case.
std::string check_country(std::string_view code, std::string& upper);
/// Why an SQL condition is not one expression (an unbalanced parenthesis, a
/// ';', an unterminated string or comment), or empty when it is.
std::string check_sql_expression(std::string_view sql);

/// The virtualisation names the inventory accepts.
const std::vector<std::string>& known_virt_types();

/// `2011-01-02T23:00:00Z` for an epoch second.
std::string format_utc(std::int64_t epoch);

/// Servers in the database. Every value is validated (Error(64) naming the
/// field) and bound as an SQL parameter.
class Inventory {
public:
    explicit Inventory(Database& db) : m_db(db) {}

    /// Adds a server; a duplicate name is Error(64).
    std::int64_t add(Server server);
    /// Applies changes to the named server (Error(66) if unknown).
    void change(const std::string& name, const ServerChanges& changes);
    /// Marks retired: inactive, retired_at now; usage is kept.
    void retire(const std::string& name);
    std::optional<Server> find(const std::string& name);

    /// Servers matching an SQL filter that can only read (enforced by an
    /// SQLite authorizer: anything else is Error(64)); retired ones only with
    /// include_retired; ordered by name.
    std::vector<Server> select(std::string_view where, bool include_retired);

    /// Imports CSV (header row naming columns) in one transaction; a bad row
    /// is Error(65) naming source, line and column, and nothing is imported.
    std::size_t import_csv(std::string_view text, std::string_view source);

    /// host_status of the named servers (all non-retired ones when empty),
    /// narrowed by an SQL filter as select() takes it.
    std::vector<HostStatus> status(const std::vector<std::string>& names, std::string_view where = {});

    /// A host answered: its consecutive failures go back to 0.
    void record_contact(std::int64_t server_id);
    /// A host failed: the error is kept and its consecutive failures counted.
    void record_failure(std::int64_t server_id, const std::string& error);
    /// The host's clock as read at a contact.
    void record_clock(std::int64_t server_id, const ClockReading& clock);
    /// wp-fetchlogs fetched from the host (now).
    void record_fetch(std::int64_t server_id);

private:
    Database& m_db;
};

/// Splits CSV text into records of fields, each with the line it starts on.
struct CsvRecord {
    int line = 0;
    std::vector<std::string> fields;
};
std::vector<CsvRecord> parse_csv(std::string_view text, std::string_view source);

} // namespace wp
