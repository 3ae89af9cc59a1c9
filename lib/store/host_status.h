#pragma once
// One host's turn in a fan-out run (wp-fetchlogs, wp-runall, wp-provision),
// and what host_status learns from it: the same rule for every tool.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wp {

class Inventory;

/// How a host's turn ended.
enum class HostOutcome {
    ok,             ///< everything asked was done
    command_failed, ///< the operator's request (a command, a push) failed on a host that answered: the host did its
                    ///< part
    timed_out,      ///< the operator's command outlived its timeout and was stopped
    failed,         ///< the host answered, then one of our own steps failed there
    unreachable,    ///< never answered (connect, host key, authentication)
    down,           ///< skipped: known to be down
    interrupted,    ///< stopped by Ctrl-C while running
    not_run,        ///< never started (Ctrl-C came first)
};

/// "ok", "command failed", "timed out", "failed", "unreachable", "down",
/// "interrupted", "not run".
std::string_view outcome_word(HostOutcome outcome);

/// A host's clock as read at one contact: offset = the host's time minus the
/// midpoint of our send and receive times, uncertainty = half that round trip.
struct ClockReading {
    std::int64_t offset_ms = 0;
    std::int64_t uncertainty_ms = 0;
    std::int64_t measured_at = 0; ///< our epoch second at the reading
};

/// One host's result, as every fan-out tool reports it.
struct HostResult {
    std::string server;
    HostOutcome outcome = HostOutcome::not_run;
    std::string step;       ///< where it stopped, e.g. "download /var/log/squid/access.log.wp-…"; may be empty
    std::string cause;      ///< why, e.g. "checksum mismatch (…)"; empty when ok
    bool contacted = false; ///< an SSH session was established
    std::optional<ClockReading> clock; ///< the host's clock, when a command read it

    /// "step: cause", or cause alone.
    std::string message() const;
};

/// Records a turn in host_status: ok, command_failed and timed_out are a
/// contact (consecutive failures back to 0); failed and unreachable are one
/// more consecutive failure, with message() as the last error; interrupted
/// is a contact when the host was contacted, else nothing; down and not_run
/// record nothing. A clock reading is recorded whatever the outcome.
void record_host_status(Inventory& inventory, std::int64_t server_id, const HostResult& result);

} // namespace wp
