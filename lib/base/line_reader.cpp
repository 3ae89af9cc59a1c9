#include "base/line_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/sha256.h"

namespace wp {

namespace {

constexpr int k_zstd_window_log_max = 25;

class FdSource : public ByteSource {
public:
    /// Takes fd over (closes it) when path is not "-".
    FdSource(int fd, std::string path) : m_fd(fd), m_owned(path == "-" ? -1 : fd), m_path(std::move(path)) {}
    FdSource(const FdSource&) = delete;
    FdSource& operator=(const FdSource&) = delete;

    /// Records what the file is at open, for changed_reason().
    void set_opened(const struct stat& st) {
        m_at_open = st;
        m_regular = S_ISREG(st.st_mode);
    }

    std::size_t read(char* buffer, std::size_t size) override {
        // Bytes peeked at to sniff the format come first.
        if (m_peek_pos < m_peek.size()) {
            const std::size_t n = std::min(size, m_peek.size() - m_peek_pos);
            std::memcpy(buffer, m_peek.data() + m_peek_pos, n);
            m_peek_pos += n;
            return n;
        }
        return read_fd(buffer, size);
    }

    /// Reads up to n bytes ahead without consuming them.
    std::string_view peek(std::size_t n) {
        while (m_peek.size() < n) {
            char buf[16];
            const std::size_t got = read_fd(buf, std::min(sizeof buf, n - m_peek.size()));
            if (got == 0) {
                break;
            }
            m_peek.append(buf, got);
        }
        return m_peek;
    }

    std::string changed_reason() const override {
        if (m_path == "-") {
            return {};
        }
        struct stat now {};
        if (::fstat(m_fd, &now) != 0) {
            return fmt::format("cannot be checked after it was read: {}", std::strerror(errno));
        }
        const auto at_open = static_cast<std::uint64_t>(m_at_open.st_size);
        const auto size_now = static_cast<std::uint64_t>(now.st_size);
        if (m_bytes_read < at_open || size_now < at_open) {
            return "was truncated while it was read";
        }
        if (m_bytes_read > at_open || size_now > at_open) {
            return fmt::format("grew from {} to {} bytes while it was read", at_open, std::max(m_bytes_read, size_now));
        }
        if (now.st_mtim.tv_sec != m_at_open.st_mtim.tv_sec || now.st_mtim.tv_nsec != m_at_open.st_mtim.tv_nsec) {
            return "was modified while it was read";
        }
        // Renamed over: what is now at the path is another file, not what was read.
        struct stat at_path {};
        if (::stat(m_path.c_str(), &at_path) == 0 &&
            (at_path.st_ino != m_at_open.st_ino || at_path.st_dev != m_at_open.st_dev)) {
            return "was replaced by another file while it was read";
        }
        return {};
    }

private:
    std::size_t read_fd(char* buffer, std::size_t size) {
        for (;;) {
            if (interrupted()) {
                fail(exit_code::k_temp_fail, "interrupted");
            }
            // A pipe or a terminal may stay silent forever, and the signal may
            // go to another thread: look at the flag at least every 200 ms.
            if (!m_regular) {
                pollfd p{m_fd, POLLIN, 0};
                const int rc = ::poll(&p, 1, 200);
                if (rc == 0 || (rc < 0 && errno == EINTR)) {
                    continue;
                }
                if (rc < 0) {
                    fail_errno(errno, "cannot read");
                }
            }
            const ssize_t n = ::read(m_fd, buffer, size);
            if (n >= 0) {
                m_bytes_read += static_cast<std::uint64_t>(n);
                return static_cast<std::size_t>(n);
            }
            if (errno != EINTR && !(errno == EAGAIN && !m_regular)) {
                fail_errno(errno, "cannot read");
            }
        }
    }

    int m_fd;
    Fd m_owned; // closes m_fd unless it is standard input
    std::string m_path;
    struct stat m_at_open {};
    bool m_regular = false;
    std::uint64_t m_bytes_read = 0;
    std::string m_peek;
    std::size_t m_peek_pos = 0;
};

class ZstdSource : public ByteSource {
public:
    explicit ZstdSource(std::unique_ptr<FdSource> inner)
        : m_inner(std::move(inner)), m_dctx(ZSTD_createDCtx()), m_in(ZSTD_DStreamInSize()) {
        if (m_dctx == nullptr) {
            throw std::bad_alloc();
        }
        // A frame may ask for a window of up to 2 GiB (--long=31), which we
        // would allocate: refuse windows over 32 MiB (zstd -19 uses 8 MiB).
        ZSTD_DCtx_setParameter(m_dctx, ZSTD_d_windowLogMax, k_zstd_window_log_max);
    }
    ~ZstdSource() override { ZSTD_freeDCtx(m_dctx); }
    ZstdSource(const ZstdSource&) = delete;
    ZstdSource& operator=(const ZstdSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        ZSTD_outBuffer out{buffer, size, 0};
        while (out.pos == 0) {
            if (m_input.pos == m_input.size) {
                const std::size_t n = m_inner->read(m_in.data(), m_in.size());
                if (n == 0) {
                    if (m_last_result != 0) {
                        fail(exit_code::k_data, "truncated zstd stream");
                    }
                    return 0;
                }
                m_input = ZSTD_inBuffer{m_in.data(), n, 0};
            }
            const std::size_t rc = ZSTD_decompressStream(m_dctx, &out, &m_input);
            if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
                fail(exit_code::k_data, "zstd frame needs a window over {} MiB (made with --long?): not read",
                     (1u << k_zstd_window_log_max) >> 20);
            }
            if (ZSTD_isError(rc) != 0) {
                fail(exit_code::k_data, "corrupt zstd data ({})", ZSTD_getErrorName(rc));
            }
            m_last_result = rc;
        }
        return out.pos;
    }

    std::string changed_reason() const override { return m_inner->changed_reason(); }

private:
    std::unique_ptr<FdSource> m_inner;
    ZSTD_DCtx* m_dctx;
    std::vector<char> m_in;
    ZSTD_inBuffer m_input{nullptr, 0, 0};
    std::size_t m_last_result = 0;
};

class GzipSource : public ByteSource {
public:
    explicit GzipSource(std::unique_ptr<FdSource> inner) : m_inner(std::move(inner)), m_in(1 << 16) {
        if (inflateInit2(&m_z, 15 + 32) != Z_OK) { // 32: gzip header, concatenated members handled below
            fail(exit_code::k_io, "cannot initialise gzip decompression");
        }
    }
    ~GzipSource() override { inflateEnd(&m_z); }
    GzipSource(const GzipSource&) = delete;
    GzipSource& operator=(const GzipSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        // avail_out is an unsigned int: a larger request is served in part.
        const auto want = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
        m_z.next_out = reinterpret_cast<Bytef*>(buffer);
        m_z.avail_out = want;
        while (m_z.avail_out == want) {
            if (m_z.avail_in == 0) {
                const std::size_t n = m_inner->read(m_in.data(), m_in.size());
                if (n == 0) {
                    if (!m_stream_end) {
                        fail(exit_code::k_data, "truncated gzip stream");
                    }
                    break;
                }
                m_z.next_in = reinterpret_cast<Bytef*>(m_in.data());
                m_z.avail_in = static_cast<uInt>(n);
            }
            if (m_stream_end) { // another gzip member follows
                inflateReset(&m_z);
                m_stream_end = false;
            }
            const int rc = inflate(&m_z, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                m_stream_end = true;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                fail(exit_code::k_data, "corrupt gzip data ({})", m_z.msg != nullptr ? m_z.msg : "inflate failed");
            }
        }
        return want - m_z.avail_out;
    }

    std::string changed_reason() const override { return m_inner->changed_reason(); }

private:
    std::unique_ptr<FdSource> m_inner;
    z_stream m_z{};
    std::vector<char> m_in;
    bool m_stream_end = false;
};

} // namespace

std::unique_ptr<ByteSource> open_byte_source(const std::string& path) {
    std::unique_ptr<FdSource> src;
    if (path == "-") {
        src = std::make_unique<FdSource>(0, path);
        struct stat st {};
        if (::fstat(0, &st) != 0) {
            fail_errno(errno, "cannot read");
        }
        src->set_opened(st);
    } else {
        // O_NONBLOCK: opening a FIFO without a writer must not wait for one.
        const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            fail_errno(errno, "cannot open");
        }
        src = std::make_unique<FdSource>(fd, path);
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            fail_errno(errno, "cannot stat");
        }
        src->set_opened(st);
        if (!S_ISREG(st.st_mode)) {
            fail(exit_code::k_no_input, "not a regular file");
        }
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
            fail_errno(errno, "cannot clear O_NONBLOCK");
        }
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    const std::string_view magic = src->peek(4);
    if (magic.size() == 4 && static_cast<unsigned char>(magic[0]) == 0x28 &&
        static_cast<unsigned char>(magic[1]) == 0xb5 && static_cast<unsigned char>(magic[2]) == 0x2f &&
        static_cast<unsigned char>(magic[3]) == 0xfd) {
        return std::make_unique<ZstdSource>(std::move(src));
    }
    if (magic.size() >= 2 && static_cast<unsigned char>(magic[0]) == 0x1f &&
        static_cast<unsigned char>(magic[1]) == 0x8b) {
        return std::make_unique<GzipSource>(std::move(src));
    }
    return src;
}

LineReader::LineReader(ByteSource& source, Sha256* hash, std::size_t chunk_size)
    : m_source(source), m_hash(hash), m_buffer(std::max<std::size_t>(chunk_size, 1) + k_max_line_length) {}

// Reads into the free space behind m_end; 0 at the end of the input.
std::size_t LineReader::read_more() {
    if (m_eof) {
        return 0;
    }
    const std::size_t n = m_source.read(m_buffer.data() + m_end, m_buffer.size() - m_end);
    if (n == 0) {
        m_eof = true;
        return 0;
    }
    if (m_hash != nullptr) {
        m_hash->update(std::string_view(m_buffer.data() + m_end, n));
    }
    m_end += n;
    return n;
}

bool LineReader::refill() {
    // The partial line (at most k_max_line_length bytes) moves to the front,
    // which leaves at least a chunk free behind it.
    if (m_begin > 0) {
        std::memmove(m_buffer.data(), m_buffer.data() + m_begin, m_end - m_begin);
        m_end -= m_begin;
        m_begin = 0;
    }
    return read_more() > 0;
}

// The partial line from m_begin is longer than k_max_line_length and has no
// newline yet: its first k_max_line_length bytes stay at the front, the rest
// is read behind them and dropped up to the newline.
std::string_view LineReader::skip_rest_of_long_line() {
    std::memmove(m_buffer.data(), m_buffer.data() + m_begin, k_max_line_length);
    m_begin = k_max_line_length;
    m_had_newline = false;
    for (;;) {
        m_end = k_max_line_length;
        const std::size_t n = read_more();
        if (n == 0) {
            break;
        }
        const void* nl = std::memchr(m_buffer.data() + k_max_line_length, '\n', n);
        if (nl != nullptr) {
            m_begin = static_cast<std::size_t>(static_cast<const char*>(nl) - m_buffer.data()) + 1;
            m_had_newline = true;
            break;
        }
    }
    m_truncated = true;
    return {m_buffer.data(), k_max_line_length};
}

bool LineReader::next(std::string_view& line) {
    std::size_t scanned = m_begin;
    for (;;) {
        const char* start = m_buffer.data() + scanned;
        const void* nl = std::memchr(start, '\n', m_end - scanned);
        if (nl != nullptr) {
            const auto pos = static_cast<std::size_t>(static_cast<const char*>(nl) - m_buffer.data());
            m_truncated = pos - m_begin > k_max_line_length;
            line = std::string_view(m_buffer.data() + m_begin, m_truncated ? k_max_line_length : pos - m_begin);
            m_begin = pos + 1;
            m_had_newline = true;
            return true;
        }
        const std::size_t searched = m_end - m_begin;
        if (searched > k_max_line_length) {
            line = skip_rest_of_long_line();
            return true;
        }
        if (!refill()) {
            if (m_end > m_begin) {
                line = std::string_view(m_buffer.data() + m_begin, m_end - m_begin);
                m_begin = m_end;
                m_had_newline = false;
                m_truncated = false;
                return true;
            }
            return false;
        }
        scanned = m_begin + searched; // refill moved the partial line to the front
    }
}

} // namespace wp
