#pragma once
// The raw-log archive: archive/<server>/<YYYY-MM>/<server>.<YYYY-MM-DD>.log.zst,
// each ingest appended as whole zstd frames (checksummed) that zstdcat reads.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

class Database;

/// Start of the UTC day holding epoch second t.
inline std::int64_t utc_day_start(std::int64_t t) {
    return t >= 0 ? t - t % 86400 : t - ((t % 86400) + 86400) % 86400;
}

/// `YYYY-MM-DD` of a UTC epoch second.
std::string utc_day_name(std::int64_t t);

/// Archive path of a server's day, relative to the archive root.
std::string archive_relative_path(std::string_view server, std::int64_t day_start);

/// How long each archive file is known to be (archive_files.committed_size).
using CommittedSizeLookup = std::function<std::int64_t(const std::string& relative_path)>;

/// Appends lines to a server's day archives. Bytes past a file's committed
/// size are a torn append of a crashed run and are cut off before writing.
/// Nothing counts until the caller commits the new sizes (sizes()) in the
/// database; abandon() cuts the files back.
class ArchiveAppender {
public:
    ArchiveAppender(std::string root, std::string server, int level, CommittedSizeLookup committed);
    ~ArchiveAppender();
    ArchiveAppender(const ArchiveAppender&) = delete;
    ArchiveAppender& operator=(const ArchiveAppender&) = delete;

    /// Adds one line (a "\n" is appended) to the archive of the given UTC day.
    void append(std::int64_t day_start, std::string_view line);
    /// Ends every frame, fsyncs files and directories.
    void finish();
    /// The size of every file touched, after finish(): relative path -> bytes.
    const std::map<std::string, std::int64_t>& sizes() const { return m_sizes; }
    /// The days touched (UTC day starts).
    std::vector<std::int64_t> days() const;
    /// Cuts every touched file back to its committed size.
    void abandon() noexcept;

private:
    struct Day;
    Day& open_day(std::int64_t day_start);
    void close_day(Day& day);
    void compress(Day& day, bool end_frame);

    std::string m_root;
    std::string m_server;
    int m_level;
    CommittedSizeLookup m_committed;
    std::map<std::int64_t, std::unique_ptr<Day>> m_open;
    std::map<std::string, std::int64_t> m_committed_sizes; // as found, for abandon()
    std::map<std::string, std::int64_t> m_sizes;
    std::vector<std::int64_t> m_days;
    std::uint64_t m_clock = 0;
    Day* m_last = nullptr;
    std::int64_t m_last_day = -1;
};

/// Cuts every archive file in archive_files back to its committed size (torn
/// appends of a crashed run). Returns the number of files repaired; files
/// missing or shorter than committed (lost elsewhere) are listed in damaged.
int repair_torn_archives(Database& db, const std::string& root, std::vector<std::string>* damaged = nullptr);

} // namespace wp
