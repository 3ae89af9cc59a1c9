#pragma once
// File-system steps that must survive a crash: atomic replace, fsync, locks.

#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "base/fd.h"

namespace wp {

/// Creates dir and its missing parents with mode (like mkdir -p).
void make_directories(const std::string& dir, mode_t mode = 0755);

/// fsyncs a directory so that a rename or unlink in it is durable.
void fsync_directory(const std::string& dir);

/// Directory part of a path ("." when there is none).
std::string parent_directory(const std::string& path);

/// Whether a file name is one of a log wp-parse reads in the spool and in a
/// directory it is given: *.log, *.log.zst or *.log.gz, not hidden.
bool is_log_file_name(std::string_view name);

/// A file written under a temporary name in its final directory, then made
/// durable and renamed into place by commit(). Destroyed uncommitted, the
/// temporary is removed, so a partial file never appears under the final name.
class AtomicFile {
public:
    AtomicFile(std::string path, mode_t mode = 0644);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    /// Writes all of data (retrying partial writes); errors name the file.
    void write(std::string_view data);
    /// fsync, rename over the final path, fsync the directory.
    void commit();
    int fd() const { return m_fd.get(); }
    const std::string& temp_path() const { return m_temp; }

private:
    std::string m_path;
    std::string m_temp;
    Fd m_fd;
    bool m_committed = false;
};

/// Replaces path's content atomically (AtomicFile in one call).
void atomic_write_file(const std::string& path, std::string_view content, mode_t mode = 0644);

/// Writes all of data to fd, retrying on partial writes and EINTR.
void write_all(int fd, std::string_view data, std::string_view what);

/// Streams a whole file to sink in chunks (EINTR retried). A failure is an
/// Error by errno (a missing file 66) saying "cannot open PATH" or "cannot
/// read PATH", or "cannot read LABEL" for both when label is given;
/// open_flags are added to O_RDONLY | O_CLOEXEC (e.g. O_NOFOLLOW).
void read_file_chunks(const std::string& path, const std::function<void(std::string_view)>& sink,
                      std::string_view label = {}, int open_flags = 0);

/// Reads a whole file; a missing file is Error(66) naming it.
std::string read_file(const std::string& path);

/// read_file(path), or all of standard input for "-" (Error(74) when it
/// cannot be read).
std::string read_file_or_stdin(const std::string& path);

/// An exclusive flock on a lock file that is never deleted. If another
/// process holds it: Error(75) "another run holds the lock PATH".
class LockFile {
public:
    explicit LockFile(const std::string& path);
    /// The lock on an existing file itself (symlinks followed), so that every
    /// name that reaches the file shares it. Closing it drops a process's POSIX
    /// locks on that file (SQLite's), so it must outlive every connection.
    struct OnFile {};
    LockFile(const std::string& path, OnFile);
    ~LockFile();
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;

private:
    void lock(const std::string& path);
    Fd m_fd;
};

} // namespace wp
