#pragma once
// Log files billed into the database: each file read once, its lines priced
// into hourly usage, archived, its rejects kept, and the usage, the ledger
// and the archive sizes committed together; or, for -o, only merged records.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "billing/line_biller.h"
#include "billing/usage.h"

namespace wp {

class BillingRules;
class LogGrammar;

/// One input file and the server it belongs to.
struct IngestJob {
    std::string path; ///< a file, or "-" for standard input
    std::string server;
};

/// Where an ingest writes and when it refuses a file.
struct IngestSettings {
    std::string db;      ///< the database, which must exist (unused with records_only)
    std::string archive; ///< root of the raw-log archive
    std::string rejects; ///< root of the rejects files
    std::string spool;   ///< billed inputs inside it are removed
    int zstd_level = 3;
    double max_reject_ratio = 0.01;       ///< share of rejected lines above which a file is not billed
    bool keep = false;                    ///< leave billed spool files in place
    bool force_overlap = false;           ///< bill a file that starts like a billed one
    bool records_only = false;            ///< merge records; touch no database, archive, rejects or input
    std::optional<std::string> collector; ///< this collector's name in the ledger (none: unnamed)
};

/// Usage merged over every file, by (server, user, hour).
using UsageRecords = std::map<std::tuple<std::string, std::string, std::int64_t>, UsageCounts>;

/// What an ingest did, summed over its workers.
struct IngestTotals {
    int failed_files = 0;         ///< files not billed (each warned about)
    bool connection_lost = false; ///< the database went away: the run stopped (75)
    std::int64_t lines = 0;
    std::int64_t understood = 0; ///< lines billed or billable
    TagCounts unpriced;          ///< tags the default rule priced, with line counts
    UsageRecords records;        ///< with records_only
};

/// Ingests every server's files, in the given order within a server; the
/// servers are spread over at most `workers` threads, largest first, and one
/// server's files are always ingested by one thread. A file that fails is
/// warned about and counted, and the others go on. After Ctrl-C no file is
/// begun. An error that is not one file's (the database cannot be opened)
/// is thrown once every worker has stopped.
IngestTotals ingest_files(const std::map<std::string, std::vector<IngestJob>>& by_server, int workers,
                          const IngestSettings& settings, const LogGrammar& grammar, const BillingRules& rules);

/// Writes records as TSV with a header (or JSON lines) to output: "-" for
/// stdout, a device or pipe written in place, else a file replaced atomically.
void write_usage_records(const std::string& output, bool json, const UsageRecords& records);

} // namespace wp
