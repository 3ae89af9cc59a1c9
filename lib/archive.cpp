#include "archive.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <zstd.h>

#include <fmt/format.h>

#include "db.h"
#include "error.h"
#include "fs.h"

namespace wp {

namespace {

constexpr std::size_t k_input_chunk = 256 * 1024;
constexpr std::size_t k_max_open_days = 3;

std::int64_t file_size(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        fail_errno(errno, fmt::format("cannot stat {}", path));
    }
    return st.st_size;
}

} // namespace

std::string utc_day_name(std::int64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm {};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string archive_relative_path(std::string_view server, std::int64_t day_start) {
    const std::string day = utc_day_name(day_start);
    return fmt::format("{}/{}/{}.{}.log.zst", server, day.substr(0, 7), server, day);
}

struct ArchiveAppender::Day {
    std::int64_t start = 0;
    std::string relative;
    std::string path;
    int fd = -1;
    ZSTD_CCtx* cctx = nullptr;
    std::string input;
    std::vector<char> output;
    std::uint64_t used = 0;
    bool frame_open = false;
};

ArchiveAppender::ArchiveAppender(std::string root, std::string server, int level, CommittedSizeLookup committed)
    : m_root(std::move(root)), m_server(std::move(server)), m_level(level), m_committed(std::move(committed)) {}

ArchiveAppender::~ArchiveAppender() {
    for (auto& [start, day] : m_open) {
        if (day->fd >= 0) {
            ::close(day->fd);
        }
        ZSTD_freeCCtx(day->cctx);
    }
}

ArchiveAppender::Day& ArchiveAppender::open_day(std::int64_t day_start) {
    if (auto it = m_open.find(day_start); it != m_open.end()) {
        return *it->second;
    }
    if (m_open.size() >= k_max_open_days) {
        // A file spanning many days: end the least recently used day's frame.
        auto lru = std::min_element(m_open.begin(), m_open.end(),
                                    [](const auto& a, const auto& b) { return a.second->used < b.second->used; });
        close_day(*lru->second);
        m_open.erase(lru);
        m_last = nullptr;
        m_last_day = -1;
    }
    auto day = std::make_unique<Day>();
    day->start = day_start;
    day->relative = archive_relative_path(m_server, day_start);
    day->path = m_root + "/" + day->relative;
    make_directories(parent_directory(day->path));
    day->fd = ::open(day->path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (day->fd < 0) {
        fail_errno(errno, fmt::format("cannot open archive {}", day->path));
    }
    if (!m_committed_sizes.contains(day->relative)) {
        const std::int64_t committed = m_committed(day->relative);
        const std::int64_t size = file_size(day->fd, day->path);
        if (size < committed) {
            fail(exit_code::k_io,
                 "archive {} is {} bytes, shorter than the {} bytes committed: refusing to append (restore it from "
                 "backup)",
                 day->path, size, committed);
        }
        if (size > committed && ::ftruncate(day->fd, committed) != 0) {
            fail_errno(errno, fmt::format("cannot cut torn append off {}", day->path));
        }
        m_committed_sizes[day->relative] = committed;
        m_days.push_back(day_start);
    }
    if (::lseek(day->fd, 0, SEEK_END) < 0) {
        fail_errno(errno, fmt::format("cannot seek in {}", day->path));
    }
    day->cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(day->cctx, ZSTD_c_compressionLevel, m_level);
    ZSTD_CCtx_setParameter(day->cctx, ZSTD_c_checksumFlag, 1);
    // One compression worker thread: the parser goes on while zstd works, so
    // archiving costs about what compressing alone does. The frames are the same
    // format; without threading support in libzstd this is simply ignored.
    if (std::thread::hardware_concurrency() > 1) {
        ZSTD_CCtx_setParameter(day->cctx, ZSTD_c_nbWorkers, 1);
        ZSTD_CCtx_setParameter(day->cctx, ZSTD_c_jobSize, 1 << 20); // bounds the memory each day holds
    }
    day->output.resize(ZSTD_CStreamOutSize());
    day->input.reserve(k_input_chunk + 65536);
    auto [it, inserted] = m_open.emplace(day_start, std::move(day));
    return *it->second;
}

void ArchiveAppender::compress(Day& day, bool end_frame) {
    ZSTD_inBuffer in{day.input.data(), day.input.size(), 0};
    for (;;) {
        ZSTD_outBuffer out{day.output.data(), day.output.size(), 0};
        const std::size_t rc = ZSTD_compressStream2(day.cctx, &out, &in, end_frame ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rc) != 0) {
            fail(exit_code::k_io, "cannot compress for {}: {}", day.path, ZSTD_getErrorName(rc));
        }
        write_all(day.fd, std::string_view(day.output.data(), out.pos), fmt::format("archive {}", day.path));
        const bool done = end_frame ? rc == 0 : in.pos == in.size;
        if (done) {
            break;
        }
    }
    day.frame_open = !end_frame;
    day.input.clear();
}

void ArchiveAppender::append(std::int64_t day_start, std::string_view line) {
    Day* day = m_last;
    if (day_start != m_last_day || day == nullptr) {
        day = &open_day(day_start);
        m_last = day;
        m_last_day = day_start;
    }
    day->used = ++m_clock;
    day->input.append(line);
    day->input.push_back('\n');
    day->frame_open = true;
    if (day->input.size() >= k_input_chunk) {
        compress(*day, false);
    }
}

void ArchiveAppender::close_day(Day& day) {
    if (day.frame_open) {
        compress(day, true);
    }
    if (::fsync(day.fd) != 0) {
        fail_errno(errno, fmt::format("cannot sync archive {}", day.path));
    }
    m_sizes[day.relative] = file_size(day.fd, day.path);
    ::close(day.fd);
    day.fd = -1;
    ZSTD_freeCCtx(day.cctx);
    day.cctx = nullptr;
}

void ArchiveAppender::finish() {
    std::vector<std::string> dirs;
    for (auto& [start, day] : m_open) {
        close_day(*day);
        dirs.push_back(parent_directory(day->path));
    }
    m_open.clear();
    m_last = nullptr;
    m_last_day = -1;
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const auto& d : dirs) {
        fsync_directory(d); // a newly created archive file must survive a crash too
        fsync_directory(parent_directory(d));
    }
}

std::vector<std::int64_t> ArchiveAppender::days() const {
    return m_days;
}

void ArchiveAppender::abandon() noexcept {
    for (auto& [start, day] : m_open) {
        if (day->fd >= 0) {
            ::close(day->fd);
            day->fd = -1;
        }
    }
    for (const auto& [relative, committed] : m_committed_sizes) {
        const std::string path = m_root + "/" + relative;
        if (committed == 0) {
            ::unlink(path.c_str());
        } else if (::truncate(path.c_str(), committed) != 0) {
            // The next run's repair pass cuts it back; nothing to do here.
        }
    }
}

int repair_torn_archives(Database& db, const std::string& root, std::vector<std::string>* damaged) {
    auto st = db.prepare("SELECT path, committed_size FROM archive_files");
    int repaired = 0;
    while (st.step()) {
        const std::string path = root + "/" + st.column_text(0);
        const std::int64_t committed = st.column_int64(1);
        struct stat sb {};
        if (::lstat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < committed) {
            // Lost or cut elsewhere: appending to it is refused later, for
            // that server's day only; the rest of the archive is fine.
            if (damaged != nullptr) {
                damaged->push_back(fmt::format("archive {} is missing or shorter than the {} bytes committed",
                                               path, committed));
            }
            continue;
        }
        if (sb.st_size > committed) {
            if (::truncate(path.c_str(), committed) != 0) {
                fail_errno(errno, fmt::format("cannot cut torn append off {}", path));
            }
            ++repaired;
        }
    }
    return repaired;
}

} // namespace wp
