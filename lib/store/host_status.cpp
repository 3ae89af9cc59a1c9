#include "store/host_status.h"

#include "store/inventory.h"

namespace wp {

std::string_view outcome_word(HostOutcome outcome) {
    switch (outcome) {
    case HostOutcome::ok:
        return "ok";
    case HostOutcome::command_failed:
        return "command failed";
    case HostOutcome::timed_out:
        return "timed out";
    case HostOutcome::failed:
        return "failed";
    case HostOutcome::unreachable:
        return "unreachable";
    case HostOutcome::down:
        return "down";
    case HostOutcome::interrupted:
        return "interrupted";
    case HostOutcome::not_run:
        return "not run";
    }
    return "unknown";
}

std::string HostResult::message() const {
    if (step.empty()) {
        return cause;
    }
    return cause.empty() ? step : step + ": " + cause;
}

void record_host_status(Inventory& inventory, std::int64_t server_id, const HostResult& result) {
    switch (result.outcome) {
    case HostOutcome::ok:
    case HostOutcome::command_failed:
    case HostOutcome::timed_out:
        inventory.record_contact(server_id);
        break;
    case HostOutcome::failed:
    case HostOutcome::unreachable:
        inventory.record_failure(server_id, result.message());
        break;
    case HostOutcome::interrupted:
        // Stopped by Ctrl-C: the host is no worse for it, and it did answer
        // when a session was made.
        if (result.contacted) {
            inventory.record_contact(server_id);
        }
        break;
    case HostOutcome::down:
    case HostOutcome::not_run:
        break;
    }
    if (result.clock) {
        inventory.record_clock(server_id, *result.clock);
    }
}

} // namespace wp
