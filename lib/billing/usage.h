#pragma once
// Hourly usage: requests, bytes and billed bytes merged per (user, UTC hour),
// and written to the database with upserts so that files add up.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wp {

class Database;

/// The most billing classes usage keeps apart (BillingRules enforces it).
inline constexpr int k_usage_classes = 8;

/// Requests and bytes of one billing class.
struct ClassCounts {
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
};

/// What one (server, user, hour) adds up to, in total and per billing class
/// (indexed like BillingRules::classes()). Each class's counts are at most
/// the totals, so sums that fit in the totals fit in the classes.
struct UsageCounts {
    std::int64_t requests = 0;
    std::int64_t bytes = 0;
    std::int64_t billed_bytes = 0;
    std::array<ClassCounts, k_usage_classes> classes{};
    void add(const UsageCounts& o) {
        requests += o.requests;
        bytes += o.bytes;
        billed_bytes += o.billed_bytes;
        for (std::size_t i = 0; i < classes.size(); ++i) {
            classes[i].requests += o.classes[i].requests;
            classes[i].bytes += o.classes[i].bytes;
        }
    }
};

/// One merged record, user decoded ("-" for none).
struct UsageRow {
    std::string user;
    std::int64_t hour = 0;
    UsageCounts counts;
};

/// Merges lines per (user as logged, hour). Lines of one user and hour come
/// in runs, so the last group is cached and a line costs no allocation.
class HourlyUsage {
public:
    HourlyUsage() = default;
    // Not copyable: the caches point into the map.
    HourlyUsage(const HourlyUsage&) = delete;
    HourlyUsage& operator=(const HourlyUsage&) = delete;

    /// The counters of (logged user, hour start), created on first sight.
    UsageCounts& at(std::string_view logged_user, std::int64_t hour);
    /// The records with users decoded (spellings that decode alike merged),
    /// sorted by user then hour.
    std::vector<UsageRow> rows() const;
    bool empty() const { return m_users.empty(); }
    void clear();

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using Hours = std::vector<std::pair<std::int64_t, UsageCounts>>;
    std::unordered_map<std::string, Hours, Hash, std::equal_to<>> m_users;
    struct Recent {
        const std::string* name = nullptr;
        Hours* hours = nullptr;
    };
    static constexpr std::size_t k_recent = 256;
    static std::size_t recent_slot(std::string_view user);
    std::array<Recent, k_recent> m_recent{};
    std::string m_last_user;
    std::int64_t m_last_hour = -1;
    UsageCounts* m_last = nullptr;
};

struct BillingClass;

/// Writes usage rows of a server with upserts (users created on first sight),
/// each with its per-class rows in usage_classes (classes recorded in
/// billing_classes on first use), inside the caller's transaction.
class UsageWriter {
public:
    /// classes: the rules' classes, which the rows' class counts index.
    UsageWriter(Database& db, const std::vector<BillingClass>& classes);
    void add(std::int64_t server_id, const std::vector<UsageRow>& rows);
    std::int64_t user_id(const std::string& name);

private:
    std::int64_t class_id(std::size_t index);
    void add_in_arrays(std::int64_t server_id, const std::vector<UsageRow>& rows);
    Database& m_db;
    const std::vector<BillingClass>& m_classes;
    std::vector<std::int64_t> m_class_ids; ///< 0: not looked up yet
    std::unordered_map<std::string, std::int64_t> m_user_ids;
};

} // namespace wp
