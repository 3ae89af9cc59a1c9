#pragma once
// Billing accounts, the users assigned to them over time, and their quotas.
// An hour of a user's usage is billed to the assignment of that user with the
// greatest from_hour at or before the hour; none, or one without an account,
// leaves it unassigned.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/db.h"

namespace wp {

/// Why name is not an account name (the characters the schema's CHECK
/// allows: letters, digits and . _ @ + -, starting with a letter or digit),
/// or empty when it is one.
std::string check_account_name(std::string_view name);

/// Why name is not a user name (empty, or holding a NUL), or empty when it is
/// one. Anything else a log may hold is a user name.
std::string check_user_name(std::string_view name);

/// A time as `YYYY-MM-DD` (midnight) or `YYYY-MM-DDTHH[:MM[:SS]]`, read in
/// UTC unless it ends in `Z` or `±HH:MM`, that falls on a whole hour: its
/// epoch second. nullopt with why set otherwise.
std::optional<std::int64_t> parse_hour_time(std::string_view text, std::string& why);

/// The first second of the UTC month holding epoch second t.
std::int64_t utc_month_start(std::int64_t t);
/// The first second of the UTC month after the one holding t.
std::int64_t next_utc_month_start(std::int64_t t);
/// `YYYY-MM` of the UTC month holding t.
std::string utc_month_name(std::int64_t t);

/// Requests and bytes summed over usage hours.
struct UsageTotals {
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
    std::int64_t billed_bytes = 0;
};

/// A user as listings show them.
struct UserSummary {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::string> account;     ///< billed to now; nullopt: unassigned
    std::optional<std::int64_t> first_seen; ///< first usage hour; nullopt: no usage
    std::optional<std::int64_t> last_seen;  ///< last usage hour
    UsageTotals totals;
};

/// One row of a user's assignment history.
struct Assignment {
    std::int64_t from_hour = 0;         ///< 0: since the beginning
    std::optional<std::string> account; ///< nullopt: unassigned from then on
    std::int64_t set_at = 0;
};

/// A user's usage billed to one account (nullopt: unassigned).
struct AccountUsage {
    std::optional<std::string> account;
    UsageTotals totals;
};

/// A user with their history and their usage per account held.
struct UserDetail {
    UserSummary summary;
    std::vector<Assignment> history;      ///< by from_hour
    std::vector<AccountUsage> by_account; ///< by account name, unassigned first
};

/// An account with its quota and the users billed to it now.
struct AccountSummary {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::int64_t> quota_bytes; ///< monthly allowance; nullopt: none
    std::vector<std::string> users;          ///< by name
};

/// What assigning asks for: user from from_hour on billed to account
/// (nullopt: unassigned).
struct AssignmentRequest {
    std::string user;
    std::optional<std::string> account;
    std::int64_t from_hour = 0;
    bool amend_closed = false; ///< may change the invoices of closed months
};

/// What an assignment did.
struct AssignmentOutcome {
    bool changed = false;                ///< false: the account in effect at from_hour already was the one asked
    bool replaced = false;               ///< an assignment at the same from_hour was replaced
    std::optional<std::string> previous; ///< the account in effect at from_hour before
    bool created_user = false;
    bool created_account = false;
    /// Closed months (`YYYY-MM`) whose invoices change: the user has usage
    /// there in the hours the assignment moved.
    std::vector<std::string> closed_months_changed;
};

/// One bad row of an import: where and why.
struct ImportProblem {
    int line = 0;
    std::string column; ///< user, account, from, or row
    std::string why;
};

/// One row of an import and what it did.
struct ImportedRow {
    int line = 0;
    AssignmentRequest request;
    AssignmentOutcome outcome;
};

/// What an import did, or why it did nothing.
struct ImportOutcome {
    std::vector<ImportProblem> problems; ///< by line; non-empty: nothing was written
    std::size_t problems_left_out = 0;   ///< bad rows beyond the cap, not in problems
    std::vector<ImportedRow> rows;       ///< per user by from_hour, as applied
};

/// The accounts, their users and quotas in the database. Every value is
/// validated and bound as an SQL parameter; now is the current epoch second,
/// which decides the current assignment and which months are closed (every
/// UTC month before the current one).
class Accounts {
public:
    Accounts(Database& db, std::int64_t now) : m_db(db), m_now(now) {}

    /// Every user, by name.
    std::vector<UserSummary> list_users();
    /// Every user's name, in order, and nothing else (no usage is read).
    std::vector<std::string> user_names();
    /// The named user (Error(66) if unknown).
    UserDetail user_detail(const std::string& name);

    /// Assigns in one transaction, creating the user and the account when new.
    /// A bad account name is Error(64); a change reaching into a closed month
    /// without amend_closed is Error(65) naming the months, and writes nothing.
    AssignmentOutcome assign(const AssignmentRequest& request);

    /// Imports `user,account[,from]` CSV rows (an optional first line
    /// `user,account[,from]` is a header) in one transaction; from defaults
    /// to default_from. Rows are applied per user by from_hour. A CSV that
    /// cannot be split is Error(65); bad rows come back as problems, at most
    /// max_problems of them, and then nothing is written.
    ImportOutcome import_csv(std::string_view text, std::string_view source, std::int64_t default_from,
                             bool amend_closed, std::size_t max_problems = 100);

    /// Every account, by name.
    std::vector<AccountSummary> list_accounts();
    /// Sets (nullopt: clears) an account's monthly quota (Error(66) if unknown,
    /// Error(64) unless positive).
    void set_quota(const std::string& account, std::optional<std::int64_t> quota_bytes);

private:
    AssignmentOutcome apply(const AssignmentRequest& request);

    Database& m_db;
    std::int64_t m_now;
};

/// SQL for the account an hour of usage is billed to: the id of the user's
/// assignment with the greatest from_hour at or before the hour (NULL: no
/// account). `table` names the row's table, which has user_id and hour. The
/// one statement of the rule for the summary, reports and invoices.
std::string account_of_hour_sql(std::string_view table);

} // namespace wp
