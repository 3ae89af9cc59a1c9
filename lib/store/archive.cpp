#include "store/archive.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"

namespace wp {

namespace {

constexpr std::size_t k_input_chunk = 256 * 1024;
// Days whose compressor stays open. A file whose lines cycle through more
// days than this ends the least recently used day's frame (without a sync).
constexpr std::size_t k_max_open_days = 8;

constexpr std::uint32_t k_zstd_magic = 0xFD2FB528u;
constexpr std::uint32_t k_skippable_magic = 0x184D2A57u; // one of zstd's 16 skippable magics
constexpr std::uint32_t k_skippable_mask = 0xFFFFFFF0u;
constexpr std::uint32_t k_skippable_base = 0x184D2A50u;
constexpr std::size_t k_max_record = 64 * 1024;
constexpr std::string_view k_begin_tag = "wp-batch-begin 1\n";
constexpr std::string_view k_end_tag = "wp-batch-end 1\n";

std::int64_t file_size(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        fail_errno(errno, fmt::format("cannot stat {}", path));
    }
    return st.st_size;
}

std::uint32_t le32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void put_le32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

// Values are written with every byte outside printable ASCII, '%' and the
// blank %-escaped, so a record is one "key value" per line whatever a name holds.
std::string escape_value(std::string_view v) {
    std::string out;
    for (unsigned char c : v) {
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            out += fmt::format("%{:02X}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::optional<std::string> unescape_value(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '%') {
            out.push_back(v[i]);
            continue;
        }
        if (i + 2 >= v.size()) {
            return std::nullopt;
        }
        unsigned value = 0;
        for (std::size_t k = 1; k <= 2; ++k) {
            const char h = v[i + k];
            value <<= 4;
            if (h >= '0' && h <= '9') {
                value |= static_cast<unsigned>(h - '0');
            } else if (h >= 'A' && h <= 'F') {
                value |= static_cast<unsigned>(h - 'A' + 10);
            } else {
                return std::nullopt;
            }
        }
        out.push_back(static_cast<char>(value));
        i += 2;
    }
    return out;
}

std::string skippable_frame(std::string_view payload) {
    std::string frame;
    put_le32(frame, k_skippable_magic);
    put_le32(frame, static_cast<std::uint32_t>(payload.size()));
    frame.append(payload);
    return frame;
}

std::string begin_payload(std::string_view id, std::string_view server, std::string_view format) {
    return fmt::format("{}id {}\nserver {}\nformat {}\n", k_begin_tag, id, escape_value(server), escape_value(format));
}

std::string optional_ts(const std::optional<std::int64_t>& t) {
    return t ? std::to_string(*t) : std::string("-");
}

std::string end_payload(const BatchRecord& r) {
    std::string body = fmt::format(
        "{}id {}\nserver {}\nformat {}\nsource_sha256 {}\nsource_name {}\nfirst_line_sha256 {}\npart {} {}\n"
        "lines {}\nsource_lines {}\nfirst_ts {}\nlast_ts {}\ningested_at {}\n",
        k_end_tag, r.batch_id, escape_value(r.server), escape_value(r.format), r.source_sha256,
        escape_value(r.source_name), r.first_line_sha256.empty() ? "-" : r.first_line_sha256, r.part, r.parts, r.lines,
        r.source_lines, optional_ts(r.first_ts), optional_ts(r.last_ts), r.ingested_at);
    const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
    body += fmt::format("crc32 {:08x}\n", crc);
    return body;
}

// "key value" lines after the tag line.
std::map<std::string, std::string> record_fields(std::string_view payload) {
    std::map<std::string, std::string> fields;
    while (!payload.empty()) {
        const auto nl = payload.find('\n');
        const std::string_view line = payload.substr(0, nl);
        payload.remove_prefix(nl == std::string_view::npos ? payload.size() : nl + 1);
        const auto sp = line.find(' ');
        if (sp != std::string_view::npos) {
            fields.emplace(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
        }
    }
    return fields;
}

bool to_int(const std::string& s, std::int64_t& out) {
    if (s.empty()) {
        return false;
    }
    std::size_t used = 0;
    try {
        out = std::stoll(s, &used);
    } catch (...) {
        return false;
    }
    return used == s.size();
}

std::optional<BatchRecord> parse_end(std::string_view payload) {
    if (payload.substr(0, k_end_tag.size()) != k_end_tag) {
        return std::nullopt;
    }
    const auto crc_at = payload.rfind("crc32 ");
    if (crc_at == std::string_view::npos) {
        return std::nullopt;
    }
    const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(crc_at));
    if (payload.substr(crc_at) != fmt::format("crc32 {:08x}\n", crc)) {
        return std::nullopt;
    }
    auto f = record_fields(payload.substr(k_end_tag.size(), crc_at - k_end_tag.size()));
    BatchRecord r;
    auto text = [&](const char* key, std::string& out) {
        auto v = unescape_value(f[key]);
        if (!v) {
            return false;
        }
        out = *v;
        return true;
    };
    auto ts = [&](const char* key, std::optional<std::int64_t>& out) {
        std::int64_t v = 0;
        if (f[key] == "-") {
            out.reset();
            return true;
        }
        if (!to_int(f[key], v)) {
            return false;
        }
        out = v;
        return true;
    };
    std::int64_t part = 0;
    std::int64_t parts = 0;
    const std::string& part_field = f["part"];
    const auto sp = part_field.find(' ');
    if (sp == std::string::npos || !to_int(part_field.substr(0, sp), part) ||
        !to_int(part_field.substr(sp + 1), parts) || part < 1 || part > parts || parts > 1000000) {
        return std::nullopt;
    }
    r.part = static_cast<int>(part);
    r.parts = static_cast<int>(parts);
    r.batch_id = f["id"];
    r.source_sha256 = f["source_sha256"];
    r.first_line_sha256 = f["first_line_sha256"] == "-" ? "" : f["first_line_sha256"];
    if (!text("server", r.server) || !text("format", r.format) || !text("source_name", r.source_name) ||
        !to_int(f["lines"], r.lines) || !to_int(f["source_lines"], r.source_lines) ||
        !to_int(f["ingested_at"], r.ingested_at) || !ts("first_ts", r.first_ts) || !ts("last_ts", r.last_ts) ||
        r.source_sha256.size() != 64 || r.batch_id.empty() || r.lines < 0 || r.source_lines < r.lines) {
        return std::nullopt;
    }
    return r;
}

std::string new_batch_id() {
    std::random_device rd;
    return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

bool pread_all(int fd, void* buf, std::size_t n, std::int64_t offset) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return false;
        }
        p += got;
        n -= static_cast<std::size_t>(got);
        offset += got;
    }
    return true;
}

class ReadOnlyFile {
public:
    explicit ReadOnlyFile(const std::string& path) : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) {
        if (!m_fd) {
            fail_errno(errno, fmt::format("cannot open archive {}", path));
        }
    }
    int fd() const { return m_fd.get(); }

private:
    Fd m_fd;
};

bool zeros_to_end(int fd, std::int64_t pos, std::int64_t size) {
    std::vector<char> buf(64 * 1024);
    while (pos < size) {
        const auto n =
            static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(buf.size()), size - pos));
        if (!pread_all(fd, buf.data(), n, pos)) {
            return false;
        }
        if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), [](char c) { return c != 0; })) {
            return false;
        }
        pos += static_cast<std::int64_t>(n);
    }
    return true;
}

enum class FrameEnd { ok, torn, damaged };

// Size of the zstd frame at offset, from its header and block headers.
FrameEnd zstd_frame_end(int fd, std::int64_t offset, std::int64_t size, std::int64_t& end, std::string& why) {
    unsigned char h[18] = {};
    const std::int64_t avail = std::min<std::int64_t>(sizeof h, size - offset);
    if (avail < 6 || !pread_all(fd, h, static_cast<std::size_t>(avail), offset)) {
        return FrameEnd::torn;
    }
    const unsigned fhd = h[4];
    if ((fhd & 0x08) != 0) {
        why = "reserved bit set in a zstd frame header";
        return FrameEnd::damaged;
    }
    const bool single_segment = (fhd >> 5) & 1;
    const bool checksum = (fhd >> 2) & 1;
    static constexpr std::array<int, 4> k_did = {0, 1, 2, 4};
    static constexpr std::array<int, 4> k_fcs = {0, 2, 4, 8};
    const int fcs = (fhd >> 6) == 0 ? (single_segment ? 1 : 0) : k_fcs[fhd >> 6];
    std::int64_t pos = offset + 5 + (single_segment ? 0 : 1) + k_did[fhd & 3] + fcs;
    for (;;) {
        unsigned char b[3];
        if (pos + 3 > size || !pread_all(fd, b, 3, pos)) {
            return FrameEnd::torn;
        }
        const std::uint32_t header = b[0] | b[1] << 8 | b[2] << 16;
        const bool last = header & 1;
        const unsigned type = (header >> 1) & 3;
        const std::uint32_t block = header >> 3;
        if (type == 3 || block > 128 * 1024) {
            why = "a zstd block header that is not valid";
            return FrameEnd::damaged;
        }
        pos += 3 + (type == 1 ? 1 : block);
        if (pos > size) {
            return FrameEnd::torn;
        }
        if (last) {
            break;
        }
    }
    if (checksum) {
        pos += 4;
    }
    if (pos > size) {
        return FrameEnd::torn;
    }
    end = pos;
    return FrameEnd::ok;
}

} // namespace

std::string utc_day_name(std::int64_t t) {
    const std::tm tm = utc_time(t);
    return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string archive_relative_path(std::string_view server, std::int64_t day_start) {
    const std::string day = utc_day_name(day_start);
    return fmt::format("{}/{}/{}.{}.log.zst", server, day.substr(0, 7), server, day);
}

// ---- appending --------------------------------------------------------------

struct ArchiveAppender::Day {
    std::int64_t start = 0;
    std::string relative;
    std::string path;
    Fd fd;
    ZSTD_CCtx* cctx = nullptr;
    std::string input;
    std::vector<char> output;
    std::uint64_t used = 0;
    bool frame_open = false;
    bool created = false;
    std::int64_t size_before = 0; // the committed size this batch starts at
    std::int64_t lines = 0;
};

ArchiveAppender::ArchiveAppender(std::string root, std::string server, std::string format, int level,
                                 std::function<std::int64_t(const std::string&)> committed)
    : m_root(std::move(root)), m_server(std::move(server)), m_format(std::move(format)), m_batch_id(new_batch_id()),
      m_level(level), m_committed(std::move(committed)) {}

ArchiveAppender::~ArchiveAppender() {
    for (auto& [start, day] : m_days) {
        day->fd.reset();
        ZSTD_freeCCtx(day->cctx);
    }
}

ArchiveAppender::Day& ArchiveAppender::open_day(std::int64_t day_start) {
    auto it = m_days.find(day_start);
    if (it != m_days.end() && it->second->cctx != nullptr) {
        return *it->second;
    }
    if (m_open >= k_max_open_days) {
        Day* lru = nullptr;
        for (auto& [start, d] : m_days) {
            if (d->cctx != nullptr && (lru == nullptr || d->used < lru->used)) {
                lru = d.get();
            }
        }
        suspend(*lru);
    }
    Day* day = nullptr;
    if (it == m_days.end()) {
        auto fresh = std::make_unique<Day>();
        fresh->start = day_start;
        fresh->relative = archive_relative_path(m_server, day_start);
        fresh->path = m_root + "/" + fresh->relative;
        make_directories(parent_directory(fresh->path));
        struct stat sb {};
        fresh->created = ::lstat(fresh->path.c_str(), &sb) != 0;
        fresh->fd.reset(::open(fresh->path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
        if (!fresh->fd) {
            fail_errno(errno, fmt::format("cannot open archive {}", fresh->path));
        }
        const std::int64_t committed = m_committed(fresh->relative);
        const std::int64_t size = file_size(fresh->fd.get(), fresh->path);
        if (size != committed) {
            // The start-up reconciliation leaves every file at its committed
            // size; anything else is damage that a person must look at. A
            // file opened here for the first time goes again, not left empty.
            fresh->fd.reset();
            if (fresh->created) {
                ::unlink(fresh->path.c_str());
            }
            fail(exit_code::k_io, "archive {} is {} bytes, not the {} bytes committed: refusing to append", fresh->path,
                 size, committed);
        }
        fresh->size_before = size;
        day = fresh.get();
        m_days.emplace(day_start, std::move(fresh));
        if (::lseek(day->fd.get(), 0, SEEK_END) < 0) {
            fail_errno(errno, fmt::format("cannot seek in {}", day->path));
        }
        write_all(day->fd.get(), skippable_frame(begin_payload(m_batch_id, m_server, m_format)),
                  fmt::format("archive {}", day->path));
    } else {
        day = it->second.get();
        day->fd.reset(::open(day->path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
        if (!day->fd) {
            fail_errno(errno, fmt::format("cannot open archive {}", day->path));
        }
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
    ++m_open;
    return *day;
}

// Ends a day's frame and closes it without a sync: finish() syncs each file once.
void ArchiveAppender::suspend(Day& day) {
    if (day.frame_open) {
        compress(day, true);
    }
    day.fd.reset();
    ZSTD_freeCCtx(day.cctx);
    day.cctx = nullptr;
    std::string().swap(day.input);
    std::vector<char>().swap(day.output);
    --m_open;
    if (m_last == &day) {
        m_last = nullptr;
        m_last_day = -1;
    }
}

void ArchiveAppender::compress(Day& day, bool end_frame) {
    ZSTD_inBuffer in{day.input.data(), day.input.size(), 0};
    for (;;) {
        ZSTD_outBuffer out{day.output.data(), day.output.size(), 0};
        const std::size_t rc = ZSTD_compressStream2(day.cctx, &out, &in, end_frame ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rc) != 0) {
            fail(exit_code::k_io, "cannot compress for {}: {}", day.path, ZSTD_getErrorName(rc));
        }
        write_all(day.fd.get(), std::string_view(day.output.data(), out.pos), fmt::format("archive {}", day.path));
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
    ++day->lines;
    day->input.append(line);
    day->input.push_back('\n');
    day->frame_open = true;
    if (day->input.size() >= k_input_chunk) {
        compress(*day, false);
    }
}

void ArchiveAppender::finish(const SourceFacts& source) {
    std::vector<std::string> new_dirs;
    int part = 0;
    for (auto& [start, day] : m_days) {
        ++part;
        if (day->cctx != nullptr) {
            if (day->frame_open) {
                compress(*day, true);
            }
            ZSTD_freeCCtx(day->cctx);
            day->cctx = nullptr;
            --m_open;
        } else {
            day->fd.reset(::open(day->path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
            if (!day->fd) {
                fail_errno(errno, fmt::format("cannot open archive {}", day->path));
            }
        }
        BatchRecord r;
        r.batch_id = m_batch_id;
        r.server = m_server;
        r.format = m_format;
        r.source_sha256 = source.sha256;
        r.source_name = source.name;
        r.first_line_sha256 = source.first_line_sha256;
        r.part = part;
        r.parts = static_cast<int>(m_days.size());
        r.lines = day->lines;
        r.source_lines = source.lines;
        r.first_ts = source.first_ts;
        r.last_ts = source.last_ts;
        r.ingested_at = source.ingested_at;
        write_all(day->fd.get(), skippable_frame(end_payload(r)), fmt::format("archive {}", day->path));
        if (::fsync(day->fd.get()) != 0) {
            fail_errno(errno, fmt::format("cannot sync archive {}", day->path));
        }
        m_sizes[day->relative] = file_size(day->fd.get(), day->path);
        day->fd.reset();
        if (day->created) {
            new_dirs.push_back(parent_directory(day->path));
        }
    }
    m_last = nullptr;
    m_last_day = -1;
    std::sort(new_dirs.begin(), new_dirs.end());
    new_dirs.erase(std::unique(new_dirs.begin(), new_dirs.end()), new_dirs.end());
    for (const auto& d : new_dirs) {
        fsync_directory(d); // a newly created archive file must survive a crash too
        fsync_directory(parent_directory(d));
    }
}

void ArchiveAppender::abandon() noexcept {
    for (auto& [start, day] : m_days) {
        day->fd.reset();
        if (day->created) {
            ::unlink(day->path.c_str());
        } else if (::truncate(day->path.c_str(), day->size_before) != 0) {
            // The next run's reconciliation cuts an unfinished batch off.
        }
    }
}

// ---- reading ------------------------------------------------------------------

ArchiveScan scan_archive(const std::string& path, std::int64_t offset) {
    ReadOnlyFile file(path);
    ArchiveScan scan;
    scan.size = file_size(file.fd(), path);
    std::int64_t pos = offset;
    std::optional<ArchiveBatch> open;
    std::string open_id;
    auto close_open = [&](std::int64_t at, std::optional<BatchRecord> record) {
        open->data_end = at;
        open->end = record ? pos : at;
        open->record = std::move(record);
        scan.batches.push_back(*open);
        open.reset();
    };
    while (pos < scan.size) {
        unsigned char head[8] = {};
        if (scan.size - pos < 8 || !pread_all(file.fd(), head, 8, pos)) {
            scan.torn = true;
            break;
        }
        const std::uint32_t magic = le32(head);
        if (magic == k_zstd_magic) {
            std::int64_t end = 0;
            const FrameEnd fe = zstd_frame_end(file.fd(), pos, scan.size, end, scan.damage);
            if (fe == FrameEnd::torn) {
                scan.torn = true;
                break;
            }
            if (fe == FrameEnd::damaged) {
                break;
            }
            if (!open) {
                scan.foreign_bytes += end - pos;
            }
            pos = end;
            continue;
        }
        if ((magic & k_skippable_mask) != k_skippable_base) {
            // Zeros to the end are an append whose size reached the disk but
            // whose blocks did not (a power loss): torn, not damage.
            if (magic == 0 && zeros_to_end(file.fd(), pos, scan.size)) {
                scan.torn = true;
            } else {
                scan.damage = fmt::format("bytes that are no zstd frame (magic {:08x})", magic);
            }
            break;
        }
        const std::int64_t length = le32(head + 4);
        if (pos + 8 + length > scan.size) {
            scan.torn = true;
            break;
        }
        const std::int64_t frame_start = pos;
        std::string payload;
        if (magic == k_skippable_magic && length <= static_cast<std::int64_t>(k_max_record)) {
            payload.resize(static_cast<std::size_t>(length));
            if (!pread_all(file.fd(), payload.data(), payload.size(), pos + 8)) {
                scan.torn = true;
                break;
            }
        }
        pos += 8 + length;
        if (std::string_view(payload).substr(0, k_begin_tag.size()) == k_begin_tag) {
            if (open) {
                close_open(frame_start, std::nullopt); // a batch cut short, then another begun
            }
            open = ArchiveBatch{};
            open->begin = frame_start;
            open->data_begin = pos;
            open_id = record_fields(std::string_view(payload).substr(k_begin_tag.size()))["id"];
        } else if (auto record = parse_end(payload); record && open && record->batch_id == open_id) {
            close_open(frame_start, std::move(record));
        } else if (!open) {
            scan.foreign_bytes += pos - frame_start;
        }
    }
    scan.valid_end = pos; // the end of the last whole frame
    if (open) {
        close_open(scan.valid_end, std::nullopt);
    }
    return scan;
}

void read_archive_lines(const std::string& path, std::int64_t begin, std::int64_t end, std::size_t max_line,
                        const std::function<void(std::string_view)>& on_line) {
    ReadOnlyFile file(path);
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, 25);
    std::vector<char> in(ZSTD_DStreamInSize());
    std::vector<char> out(ZSTD_DStreamOutSize());
    std::string carry;
    bool truncating = false;
    std::int64_t pos = begin;
    std::size_t last = 0;
    while (pos < end) {
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(in.size()), end - pos));
        if (!pread_all(file.fd(), in.data(), want, pos)) {
            fail(exit_code::k_io, "cannot read archive {} at offset {}", path, pos);
        }
        pos += static_cast<std::int64_t>(want);
        ZSTD_inBuffer input{in.data(), want, 0};
        while (input.pos < input.size) {
            ZSTD_outBuffer output{out.data(), out.size(), 0};
            last = ZSTD_decompressStream(dctx.get(), &output, &input);
            if (ZSTD_isError(last) != 0) {
                fail(exit_code::k_data, "archive {}: {}", path, ZSTD_getErrorName(last));
            }
            std::string_view chunk(out.data(), output.pos);
            while (!chunk.empty()) {
                const auto nl = chunk.find('\n');
                const std::string_view piece = chunk.substr(0, nl);
                if (!truncating) {
                    carry.append(piece.substr(0, max_line - std::min(max_line, carry.size())));
                    truncating = carry.size() >= max_line && nl == std::string_view::npos;
                }
                if (nl == std::string_view::npos) {
                    break;
                }
                on_line(carry);
                carry.clear();
                truncating = false;
                chunk.remove_prefix(nl + 1);
            }
        }
    }
    if (last != 0) {
        fail(exit_code::k_data, "archive {}: a zstd frame ends early", path);
    }
    if (!carry.empty()) {
        on_line(carry);
    }
}

std::vector<std::string> list_archive_files(const std::string& root) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        return files;
    }
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            fail(exit_code::k_io, "cannot walk archive {}: {}", root, ec.message());
        }
        if (it.depth() != 2 || !fs::is_regular_file(it->symlink_status())) {
            continue;
        }
        const std::string name = it->path().filename().string();
        const std::string server = it->path().parent_path().parent_path().filename().string();
        const std::string month = it->path().parent_path().filename().string();
        // <server>/<YYYY-MM>/<server>.<YYYY-MM-DD>.log.zst
        if (name.size() == server.size() + 19 && name.compare(0, server.size() + 1, server + ".") == 0 &&
            name.compare(server.size() + 1, 7, month) == 0 && name.ends_with(".log.zst")) {
            files.push_back(fs::relative(it->path(), root).string());
        }
    }
    if (ec) {
        fail(exit_code::k_io, "cannot walk archive {}: {}", root, ec.message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

void cut_archive(const std::string& path, std::int64_t size) {
    const Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        fail_errno(errno, fmt::format("cannot open archive {}", path));
    }
    if (::ftruncate(fd.get(), size) != 0 || ::fsync(fd.get()) != 0) {
        fail_errno(errno, fmt::format("cannot cut archive {} to {} bytes", path, size));
    }
}

} // namespace wp
