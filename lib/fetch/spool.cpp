#include "fetch/spool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "store/inventory.h"

namespace wp {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool exists_no_follow(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// The stale temporaries AtomicFile leaves when a run is killed:
// <server>.<…>.log.tmp.<pid>.<8 hex>.
bool is_stale_temp(std::string_view server, std::string_view name) {
    if (name.substr(0, server.size() + 1) != fmt::format("{}.", server)) {
        return false;
    }
    const auto tmp = name.rfind(".log.tmp.");
    if (tmp == std::string_view::npos) {
        return false;
    }
    std::string_view rest = name.substr(tmp + 9);
    const auto dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || rest.size() - dot - 1 != 8) {
        return false;
    }
    return std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(dot), is_digit) &&
           std::all_of(rest.begin() + static_cast<std::ptrdiff_t>(dot) + 1, rest.end(),
                       [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); });
}

// A spool file's SHA-256; never through a symbolic link.
std::string file_sha256(const std::string& path) {
    Sha256 sha;
    read_file_chunks(
        path, [&sha](std::string_view chunk) { sha.update(chunk); }, {}, O_NOFOLLOW);
    return sha.hex_digest();
}

// The directory itself, created 0750 when missing, and never a symbolic link.
void make_spool_dir(const std::string& dir) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            fail_errno(errno, fmt::format("cannot read spool directory {}", dir));
        }
        if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
            const int err = errno;
            throw Error(err == EACCES || err == EPERM ? exit_code::k_no_perm : exit_code::k_cant_create,
                        fmt::format("cannot create directory {}: {}", dir, std::strerror(err)));
        }
        if (::lstat(dir.c_str(), &st) != 0) {
            fail_errno(errno, fmt::format("cannot read spool directory {}", dir));
        }
    }
    if (S_ISLNK(st.st_mode)) {
        fail(exit_code::k_cant_create, "{} is a symbolic link: the spool is never written through one", dir);
    }
    if (!S_ISDIR(st.st_mode)) {
        fail(exit_code::k_cant_create, "{} is not a directory", dir);
    }
}

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

void remove_stale_temporaries(const std::string& dir, const std::string& server) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        fail_errno(errno, fmt::format("cannot open spool directory {}", dir));
    }
    const std::unique_ptr<DIR, DirCloser> d(::fdopendir(fd.get()));
    if (!d) {
        const int err = errno;
        fail_errno(err, fmt::format("cannot read spool directory {}", dir));
    }
    const int dir_fd = fd.release(); // closedir closes it now
    // We hold the lock: a temporary here is a killed run's, never a live one's.
    while (const dirent* e = ::readdir(d.get())) {
        if (is_stale_temp(server, e->d_name) && ::unlinkat(dir_fd, e->d_name, 0) == 0) {
            info(1, "{}: removed {}/{}, left by an interrupted run", server, dir, e->d_name);
        }
    }
}

} // namespace

std::string spool_file_name(std::string_view server, std::string_view stamp) {
    return fmt::format("{}.{}.log", server, stamp);
}

std::string prepare_spool_dir(const std::string& spool, const std::string& server) {
    if (auto problem = check_server_name(server); !problem.empty()) {
        fail(exit_code::k_data, "server name {}", problem);
    }
    const std::string dir = fmt::format("{}/{}", spool, server);
    make_spool_dir(dir);
    remove_stale_temporaries(dir, server);
    return dir;
}

// Normally the usual name is free. A file there already is this claim
// fetched before its remote delete failed (then identical), or another claim
// that got the same stamp (a run killed after its claim, the next one in the
// same second): then the new one goes beside it.
std::vector<std::string> spool_paths(const std::string& spool_dir, std::string_view server, std::string_view stamp) {
    std::vector<std::string> paths{fmt::format("{}/{}", spool_dir, spool_file_name(server, stamp))};
    for (int i = 1; exists_no_follow(paths.back()); ++i) {
        paths.push_back(fmt::format("{}/{}", spool_dir, spool_file_name(server, fmt::format("{}.dup{}", stamp, i))));
    }
    return paths;
}

std::optional<std::string> same_content(const std::vector<std::string>& paths, std::uint64_t size,
                                        const std::string& sha256) {
    for (const auto& path : paths) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != size) {
            continue;
        }
        try {
            if (file_sha256(path) == sha256) {
                return path;
            }
        } catch (const Error&) {
            if (exists_no_follow(path)) {
                throw;
            }
        }
    }
    return std::nullopt;
}

// Transfers hand over 128 or 255 KiB at a time, written as they come; small
// pieces are gathered.
void SpoolWriter::write(std::string_view data) {
    if (m_buf.empty() && data.size() >= k_block) {
        written(data);
        return;
    }
    m_buf.append(data);
    if (m_buf.size() >= k_block) {
        flush();
    }
}

void SpoolWriter::flush() {
    if (!m_buf.empty()) {
        written(m_buf);
        m_buf.clear();
    }
}

// Starting the write-back early leaves the fsync of the commit little to do.
void SpoolWriter::written(std::string_view data) {
    m_file.write(data);
    m_end += static_cast<off_t>(data.size());
    if (m_end - m_started >= k_writeback) {
        // Advisory: an error here shows again at the fsync.
        ::sync_file_range(m_file.fd(), m_started, m_end - m_started, SYNC_FILE_RANGE_WRITE);
        m_started = m_end;
    }
}

} // namespace wp
