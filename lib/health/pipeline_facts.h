#pragma once
// What the monitoring check knows of the pipeline at one instant: each active
// server's last fetch, failures and clock, the spool's backlog and the files
// held there for their rejects, and how far the summary is behind the ingest.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.h"
#include "store/host_status.h"

namespace wp {

/// One active, unretired server as host_status last saw it.
struct ServerFacts {
    std::string name;
    std::int64_t added_at = 0;
    std::optional<std::int64_t> last_fetch; ///< never fetched: empty
    std::int64_t consecutive_failures = 0;
    std::optional<ClockReading> clock; ///< never read: empty
};

/// The spool's log files (what wp-parse would read there). A file is held
/// when the rejects hold `<server>/<its name>.rejects` for it: wp-parse left
/// it in place for too many rejected lines. Held files are not in the
/// backlog's counts.
struct SpoolFacts {
    std::int64_t files = 0;
    std::int64_t bytes = 0;
    std::optional<std::int64_t> oldest_mtime; ///< of the backlog; empty when none
    std::int64_t held_files = 0;
    std::int64_t held_bytes = 0;
};

/// The summary against the ingest (epoch seconds).
struct SummaryFacts {
    std::optional<std::int64_t> refreshed_at; ///< rollup_state; empty before the first wp-rollup
    std::optional<std::int64_t> last_ingest;  ///< the latest ingested file
    /// When the oldest ingest the summary has not taken in was made; empty
    /// when the summary holds every ingest (no dirty day, nothing newer).
    std::optional<std::int64_t> pending_since;
};

/// Everything the check judges, read at now.
struct PipelineFacts {
    std::int64_t now = 0;
    std::vector<ServerFacts> servers; ///< by name
    SpoolFacts spool;
    SummaryFacts summary;
};

/// Reads the facts from the database (in one snapshot), the spool and the
/// rejects. A spool or rejects directory that does not exist is empty; one
/// that cannot be read is an Error naming it.
PipelineFacts gather_pipeline_facts(Database& db, const std::string& spool, const std::string& rejects,
                                    std::int64_t now);

} // namespace wp
