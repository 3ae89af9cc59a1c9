#include "health/pipeline_facts.h"

#include <cerrno>
#include <dirent.h>
#include <string_view>
#include <sys/stat.h>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fs.h"

namespace wp {

namespace {

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// The directory's entries, or none when it does not exist.
std::vector<std::string> entries_of(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) {
            return out;
        }
        fail_errno(errno, fmt::format("cannot read directory {}", dir));
    }
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name != "." && name != "..") {
            out.emplace_back(name);
        }
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) {
        fail_errno(err, fmt::format("cannot read directory {}", dir));
    }
    return out;
}

// Every log file below dir (symbolic links not followed), counted in spool;
// server is the spool folder dir lies in (empty: the spool itself, whose
// folders are the servers').
void walk(const std::string& dir, const std::string& server, const std::string& rejects, SpoolFacts& spool) {
    for (const auto& name : entries_of(dir)) {
        const std::string path = dir + "/" + name;
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) {
                continue; // wp-parse took it meanwhile
            }
            fail_errno(errno, fmt::format("cannot read {}", path));
        }
        if (S_ISDIR(st.st_mode) && name[0] != '.') {
            walk(path, server.empty() ? name : server, rejects, spool);
        } else if (S_ISREG(st.st_mode) && is_log_file_name(name)) {
            if (!server.empty() && exists(fmt::format("{}/{}/{}.rejects", rejects, server, name))) {
                ++spool.held_files;
                spool.held_bytes += st.st_size;
                continue;
            }
            ++spool.files;
            spool.bytes += st.st_size;
            if (!spool.oldest_mtime || st.st_mtime < *spool.oldest_mtime) {
                spool.oldest_mtime = st.st_mtime;
            }
        }
    }
}

SpoolFacts spool_facts(const std::string& spool, const std::string& rejects) {
    SpoolFacts out;
    walk(spool, "", rejects, out);
    return out;
}

std::optional<std::int64_t> optional_int(Statement& st, int index) {
    if (st.is_null(index)) {
        return std::nullopt;
    }
    return st.column_int64(index);
}

} // namespace

PipelineFacts gather_pipeline_facts(Database& db, const std::string& spool, const std::string& rejects,
                                    std::int64_t now) {
    PipelineFacts out;
    out.now = now;
    {
        const ReadSnapshot snapshot(db);
        auto st = db.prepare("SELECT s.name, s.added_at, h.last_fetch, coalesce(h.consecutive_failures, 0), "
                             "h.clock_offset_ms, h.clock_uncertainty_ms, h.clock_measured_at FROM servers s "
                             "LEFT JOIN host_status h ON h.server_id = s.id "
                             "WHERE s.active = 1 AND s.retired_at IS NULL ORDER BY s.name");
        while (st.step()) {
            ServerFacts s;
            s.name = st.column_text(0);
            s.added_at = st.column_int64(1);
            s.last_fetch = optional_int(st, 2);
            s.consecutive_failures = st.column_int64(3);
            if (!st.is_null(4)) {
                s.clock = ClockReading{st.column_int64(4), st.is_null(5) ? 0 : st.column_int64(5),
                                       st.is_null(6) ? 0 : st.column_int64(6)};
            }
            out.servers.push_back(std::move(s));
        }
        auto summary = db.prepare("SELECT (SELECT refreshed_at FROM rollup_state WHERE id = 1), "
                                  "(SELECT max(ingested_at) FROM ingested_files), "
                                  "EXISTS (SELECT 1 FROM dirty_days)");
        summary.step();
        auto& sum = out.summary;
        sum.refreshed_at = optional_int(summary, 0);
        sum.last_ingest = optional_int(summary, 1);
        const bool dirty = summary.column_int64(2) != 0;
        // The refresh stamps its start: an ingest of that very second may be
        // after what it read, and then a day is still dirty.
        auto pending = db.prepare(
            "SELECT min(ingested_at) FROM ingested_files WHERE CAST(?1 AS bigint) IS NULL OR ingested_at > ?1");
        pending.bind(1, sum.refreshed_at);
        pending.step();
        sum.pending_since = optional_int(pending, 0);
        if (!sum.pending_since && dirty) {
            sum.pending_since = sum.last_ingest ? sum.last_ingest : sum.refreshed_at;
        }
    }
    out.spool = spool_facts(spool, rejects);
    return out;
}

} // namespace wp
