#pragma once
// The figures of a statement: one account (or the users no account holds),
// one calendar month of a time zone, read hour by hour from usage and its
// split by billing class; and the current month's use of every quota.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

class Database;
class DayCalendar;

/// A calendar month of a zone: its days and the UTC seconds they cover.
struct InvoicePeriod {
    std::string month;          ///< YYYY-MM
    std::string zone;           ///< the calendar's zone
    std::int64_t first_day = 0; ///< DayCalendar numbering
    std::int64_t last_day = 0;  ///< inclusive
    std::int64_t start = 0;     ///< first UTC second of the first day
    std::int64_t end = 0;       ///< first UTC second after the last day
};

/// The period of `month` (strict YYYY-MM, 0001-01 to 9999-12) in the
/// calendar's zone; other text is Error(64).
InvoicePeriod month_period(std::string_view month, const DayCalendar& calendar);

/// The month holding UTC second `now` in the calendar's zone.
InvoicePeriod current_period(std::int64_t now, const DayCalendar& calendar);

/// Error(65) unless the period has ended by `now`: "month M is not closed yet
/// (ends at the start of DAY in ZONE, UTC time)".
void check_closed(const InvoicePeriod& period, std::int64_t now);

/// A billing class as the statement shows it: its label (the class name, with
/// " xF" added when two shown classes share a name) and factor (none for
/// 'unsplit', whose split is unknown).
struct InvoiceClass {
    std::string label;
    std::optional<std::int64_t> factor;
};

/// Requests, bytes and billed bytes.
struct InvoiceCounts {
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
    std::int64_t billed_bytes = 0;
    void add(const InvoiceCounts& other);
    bool operator==(const InvoiceCounts&) const = default;
};

/// One line of a statement (a user, server, country or day): its counts per
/// shown class (in Invoice::classes order) and their sum.
struct InvoiceLine {
    std::string key;     ///< user, server, country code ("" for none) or YYYY-MM-DD
    std::string country; ///< of a server line
    std::vector<InvoiceCounts> by_class;
    InvoiceCounts total;
};

/// A statement's figures. Lines are ordered by key (countries without a code
/// last); days run over every day of the period, used or not.
struct Invoice {
    std::optional<std::string> account; ///< nullopt: the users no account holds
    InvoicePeriod period;
    /// The classes with a factor used by anyone in the period, in class order,
    /// then 'unsplit' when this statement has such usage.
    std::vector<InvoiceClass> classes;
    /// Every user with usage billed to the account (or, on the unassigned
    /// statement, to no account) in the period: a statement is its usage.
    std::vector<InvoiceLine> users;
    std::vector<InvoiceLine> servers;
    std::vector<InvoiceLine> countries;
    std::vector<InvoiceLine> days;
    InvoiceLine total;
    bool has_unsplit() const;
};

/// The statement of `account` (nullopt: the unassigned users) for a period,
/// days in the calendar's zone (it must be the period's). An account the
/// database does not hold is Error(66); usage whose class rows exceed it is
/// Error(65). Usage without class rows counts as 'unsplit'.
Invoice compute_invoice(Database& db, const std::optional<std::string>& account, const InvoicePeriod& period,
                        const DayCalendar& calendar);

/// Every account name, in order.
std::vector<std::string> account_names(Database& db);

/// True when some usage of the period belongs to no account.
bool has_unassigned_usage(Database& db, const InvoicePeriod& period);

/// True for a name the accounts table accepts: [A-Za-z0-9._@+-], first alnum.
bool is_valid_account_name(std::string_view name);

/// One account's allowance and what the period billed to it.
struct QuotaUse {
    std::string account;
    std::int64_t quota_bytes = 0;
    std::int64_t billed_bytes = 0;
};

/// Every account with a quota, by name, with the billed bytes of the period.
std::vector<QuotaUse> quota_usage(Database& db, const InvoicePeriod& period);

} // namespace wp
