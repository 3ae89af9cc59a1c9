#pragma once
// The spool side of fetching: a server's spool directory, the names of its
// files, and how a fetched file is written there.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "base/fs.h"

namespace wp {

/// The spool file name for a claimed file's stamp: `<server>.<stamp>.log`.
std::string spool_file_name(std::string_view server, std::string_view stamp);

/// Prepares spool/<server>: validates the name, creates the directory 0750,
/// refuses a symbolic link or non-directory, removes temporaries a killed
/// run left. Returns its path; Error on failure. The caller holds the spool
/// lock (so that no temporary there is a live run's).
std::string prepare_spool_dir(const std::string& spool, const std::string& server);

/// The spool paths for a claim's stamp in spool_dir: the usual name, then
/// `<stamp>.dup1`, `.dup2`, … up to the first name that is free, which is
/// last.
std::vector<std::string> spool_paths(const std::string& spool_dir, std::string_view server, std::string_view stamp);

/// The first of paths that is a regular file of size bytes with this
/// SHA-256, if any. A file that vanishes while it is read is no match
/// (wp-parse takes spool files away); Error when one cannot be read.
std::optional<std::string> same_content(const std::vector<std::string>& paths, std::uint64_t size,
                                        const std::string& sha256);

/// Writes a spool file in blocks of at least 64 KiB, and has the kernel
/// start writing each few megabytes to disk at once. The file must outlive
/// the writer; flush() before committing it.
class SpoolWriter {
public:
    explicit SpoolWriter(AtomicFile& file) : m_file(file) { m_buf.reserve(k_block); }

    /// Appends data (written now, or gathered with what follows).
    void write(std::string_view data);
    /// Writes what is gathered.
    void flush();

private:
    void written(std::string_view data);

    static constexpr std::size_t k_block = 64 << 10;
    static constexpr off_t k_writeback = 8 << 20;
    AtomicFile& m_file;
    std::string m_buf;
    off_t m_started = 0;
    off_t m_end = 0;
};

} // namespace wp
