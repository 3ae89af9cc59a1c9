#include "base/fs.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <iterator>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fd.h"

namespace wp {

void make_directories(const std::string& dir, mode_t mode) {
    if (dir.empty()) {
        return;
    }
    std::string partial;
    std::size_t pos = 0;
    while (pos != std::string::npos) {
        pos = dir.find('/', pos + 1);
        partial = dir.substr(0, pos);
        if (partial.empty() || partial == "/") {
            continue;
        }
        if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
            const int err = errno;
            throw Error(err == EACCES || err == EPERM ? exit_code::k_no_perm : exit_code::k_cant_create,
                        fmt::format("cannot create directory {}: {}", partial, std::strerror(err)));
        }
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail(exit_code::k_cant_create, "cannot create directory {}: not a directory", dir);
    }
}

bool is_log_file_name(std::string_view name) {
    auto ends = [&](std::string_view suffix) { return name.size() > suffix.size() && name.ends_with(suffix); };
    return !name.empty() && name[0] != '.' && (ends(".log") || ends(".log.zst") || ends(".log.gz"));
}

std::string parent_directory(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

void fsync_directory(const std::string& dir) {
    const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        fail_errno(errno, fmt::format("cannot open directory {}", dir));
    }
    if (::fsync(fd.get()) != 0 && errno != EINVAL) {
        fail_errno(errno, fmt::format("cannot sync directory {}", dir));
    }
}

void write_all(int fd, std::string_view data, std::string_view what) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno(errno, fmt::format("cannot write {}", what));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

AtomicFile::AtomicFile(std::string path, mode_t mode) : m_path(std::move(path)) {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        m_temp = fmt::format("{}.tmp.{}.{:08x}", m_path, ::getpid(), rd());
        m_fd.reset(::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
        if (m_fd || errno != EEXIST) {
            break;
        }
    }
    if (!m_fd) {
        const int err = errno;
        throw Error(err == EACCES || err == EPERM ? exit_code::k_no_perm : exit_code::k_cant_create,
                    fmt::format("cannot create {}: {}", m_temp, std::strerror(err)));
    }
    ::fchmod(m_fd.get(), mode); // the umask must not loosen or tighten what the caller asked for
}

AtomicFile::~AtomicFile() {
    m_fd.reset();
    if (!m_committed) {
        ::unlink(m_temp.c_str());
    }
}

void AtomicFile::write(std::string_view data) {
    write_all(m_fd.get(), data, m_temp);
}

void AtomicFile::commit() {
    if (::fsync(m_fd.get()) != 0) {
        fail_errno(errno, fmt::format("cannot sync {}", m_temp));
    }
    if (m_fd.close() != 0) {
        fail_errno(errno, fmt::format("cannot close {}", m_temp));
    }
    if (::rename(m_temp.c_str(), m_path.c_str()) != 0) {
        fail_errno(errno, fmt::format("cannot rename {} to {}", m_temp, m_path));
    }
    m_committed = true;
    fsync_directory(parent_directory(m_path));
}

void atomic_write_file(const std::string& path, std::string_view content, mode_t mode) {
    AtomicFile file(path, mode);
    file.write(content);
    file.commit();
}

void read_file_chunks(const std::string& path, const std::function<void(std::string_view)>& sink,
                      std::string_view label, int open_flags) {
    const auto failure = [&](std::string_view verb) {
        return label.empty() ? fmt::format("cannot {} {}", verb, path) : fmt::format("cannot read {}", label);
    };
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | open_flags));
    if (!fd) {
        fail_errno(errno, failure("open"));
    }
    std::vector<char> buf(1 << 16);
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno(errno, failure("read"));
        }
        if (n == 0) {
            return;
        }
        sink(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

std::string read_file(const std::string& path) {
    std::string out;
    read_file_chunks(path, [&out](std::string_view chunk) { out.append(chunk); });
    return out;
}

LockFile::LockFile(const std::string& path) {
    m_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!m_fd) {
        fail_errno(errno, fmt::format("cannot open lock file {}", path));
    }
    lock(path);
}

LockFile::LockFile(const std::string& path, OnFile) {
    m_fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!m_fd) {
        fail_errno(errno, fmt::format("cannot open {} to lock it", path));
    }
    lock(path);
}

void LockFile::lock(const std::string& path) {
    if (::flock(m_fd.get(), LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        m_fd.reset();
        if (err == EWOULDBLOCK) {
            fail(exit_code::k_temp_fail, "another run holds the lock {}", path);
        }
        fail_errno(err, fmt::format("cannot lock {}", path));
    }
}

LockFile::~LockFile() = default;

} // namespace wp

namespace wp {

std::string read_file_or_stdin(const std::string& path) {
    if (path != "-") {
        return read_file(path);
    }
    std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (std::cin.bad()) {
        fail(exit_code::k_io, "cannot read standard input");
    }
    return text;
}

} // namespace wp
