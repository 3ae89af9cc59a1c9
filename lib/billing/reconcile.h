#pragma once
// Start-up agreement between the archive (the durable record) and the
// database: an append cut short is removed, batches the database does not
// know are billed from the archive, and the database can be rebuilt from the
// archive alone.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace wp {

class BillingRules;
class Database;

/// What reconcile_archive needs to know.
struct ReconcileSettings {
    std::string archive; ///< archive root
    std::string spool;   ///< a billed source still here was a run stopped before its commit
    const BillingRules* rules = nullptr;
    bool rebuild = false;  ///< --rebuild-db: the database must hold no usage or ledger
    std::string collector; ///< whose archive this is ('': the collector without a name)
};

/// What reconcile_archive did.
struct ReconcileReport {
    int files_cut = 0;               ///< unfinished appends removed
    std::int64_t sources_billed = 0; ///< source files billed from the archive
    std::int64_t lines_billed = 0;
    std::set<std::string> refused;     ///< relative paths not to append to (damaged)
    std::vector<std::string> problems; ///< one line each, for stderr: something is left undone (exit 1)
    std::vector<std::string> warnings; ///< one line each, for stderr: done, but a person should know
    std::vector<std::string> notes;    ///< for -v
};

/// Scans every archive file past its committed size (all of it when the
/// database does not know the file), cuts an unfinished trailing batch and an
/// incomplete trailing frame, never a complete batch; bills, in one
/// transaction, every source whose batches are all in the archive but not in
/// the ledger; and commits the new archive sizes.
ReconcileReport reconcile_archive(Database& db, const ReconcileSettings& settings);

} // namespace wp
