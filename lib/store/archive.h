#pragma once
// The raw-log archive: archive/<server>/<YYYY-MM>/<server>.<YYYY-MM-DD>.log.zst.
//
// Each ingest of a source file appends one batch to every day file its lines
// fall in: a skippable "begin" frame, the lines as checksummed zstd frames,
// and a skippable "end" frame that describes the batch (source SHA-256,
// server, format, part i of n, line count, first/last time, CRC). zstdcat
// skips the skippable frames and prints exactly the lines. The archive is the
// durable record: the database can be rebuilt from it (reconcile.h).

#include "base/calendar.h"
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// Start of the UTC day holding epoch second t.
inline std::int64_t utc_day_start(std::int64_t t) {
    return t >= 0 ? t - t % 86400 : t - ((t % 86400) + 86400) % 86400;
}

/// `YYYY-MM-DD` of a UTC epoch second.
std::string utc_day_name(std::int64_t t);

/// Archive path of a server's day, relative to the archive root.
std::string archive_relative_path(std::string_view server, std::int64_t day_start);

/// What an end frame says about one batch (one source file's lines of one day).
struct BatchRecord {
    std::string batch_id; ///< random, shared by the batch's begin and end frames
    std::string server;
    std::string format; ///< the grammar the lines were read with (wp-parse --format)
    std::string source_sha256;
    std::string source_name;
    std::string first_line_sha256; ///< of the source's first line, line end dropped
    int part = 0;                  ///< 1..parts: this day's place among the source's days
    int parts = 0;
    std::int64_t lines = 0; ///< lines of this batch
    std::int64_t source_lines = 0;
    std::optional<std::int64_t> first_ts; ///< of the whole source
    std::optional<std::int64_t> last_ts;
    std::int64_t ingested_at = 0; ///< the clock of the run that wrote it
};

/// The parts of a batch's end frame that only the source as a whole knows;
/// given to ArchiveAppender::finish.
struct SourceFacts {
    std::string sha256;
    std::string name;
    std::string first_line_sha256;
    std::int64_t lines = 0;
    std::optional<std::int64_t> first_ts;
    std::optional<std::int64_t> last_ts;
    std::int64_t ingested_at = 0;
};

/// Appends one source's lines to a server's day archives. Every day file must
/// be exactly as long as committed (the start-up reconciliation makes it so);
/// anything else is refused. Nothing counts until the caller commits sizes()
/// in the database; abandon() cuts this run's batches off again.
class ArchiveAppender {
public:
    ArchiveAppender(std::string root, std::string server, std::string format, int level,
                    std::function<std::int64_t(const std::string& relative_path)> committed);
    ~ArchiveAppender();
    ArchiveAppender(const ArchiveAppender&) = delete;
    ArchiveAppender& operator=(const ArchiveAppender&) = delete;

    /// Adds one line (a "\n" is appended) to the archive of the given UTC day.
    void append(std::int64_t day_start, std::string_view line);
    /// Ends every day's batch with its end frame and makes the files durable:
    /// one fsync per day file, however the lines were ordered.
    void finish(const SourceFacts& source);
    /// The size of every file touched, after finish(): relative path -> bytes.
    const std::map<std::string, std::int64_t>& sizes() const { return m_sizes; }
    /// Cuts every touched file back to the size it had before this source.
    void abandon() noexcept;

private:
    struct Day;
    Day& open_day(std::int64_t day_start);
    void suspend(Day& day);
    void compress(Day& day, bool end_frame);

    std::string m_root;
    std::string m_server;
    std::string m_format;
    std::string m_batch_id;
    int m_level;
    std::function<std::int64_t(const std::string&)> m_committed;
    std::map<std::int64_t, std::unique_ptr<Day>> m_days; // every day touched
    std::size_t m_open = 0;
    std::map<std::string, std::int64_t> m_sizes;
    std::uint64_t m_clock = 0;
    Day* m_last = nullptr;
    std::int64_t m_last_day = -1;
};

/// One batch found in a day file.
struct ArchiveBatch {
    std::int64_t begin = 0;            ///< offset of its begin frame
    std::int64_t data_begin = 0;       ///< first byte of its zstd data frames
    std::int64_t data_end = 0;         ///< the end frame's offset
    std::int64_t end = 0;              ///< just past the end frame
    std::optional<BatchRecord> record; ///< empty: no end frame (an append cut short)
};

/// What scanning a day file from an offset found.
struct ArchiveScan {
    std::vector<ArchiveBatch> batches;
    /// Complete zstd frames outside any batch (written before batches existed):
    /// kept, never billed from the archive.
    std::int64_t foreign_bytes = 0;
    /// Where the well-formed part ends; past it: an incomplete trailing frame
    /// (torn == true) or bytes that are no frame at all (damage, torn == false).
    std::int64_t valid_end = 0;
    std::int64_t size = 0;
    bool torn = false;
    std::string damage; ///< what is wrong at valid_end when not torn
};

/// Reads the frame structure of a day file from offset on (block headers
/// only, nothing is decompressed).
ArchiveScan scan_archive(const std::string& path, std::int64_t offset);

/// Calls on_line for every line of the zstd frames in [begin, end) of path.
/// Lines longer than max_line come truncated to it.
void read_archive_lines(const std::string& path, std::int64_t begin, std::int64_t end, std::size_t max_line,
                        const std::function<void(std::string_view)>& on_line);

/// The archive files below root (relative paths), in the archive's layout.
std::vector<std::string> list_archive_files(const std::string& root);

/// Makes a cut durable: truncates path to size and fsyncs it.
void cut_archive(const std::string& path, std::int64_t size);

} // namespace wp
