#include "line_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include <fmt/format.h>

#include "error.h"
#include "sha256.h"

namespace wp {

namespace {

class FdSource : public ByteSource {
public:
    FdSource(int fd, std::string name, bool owned) : m_fd(fd), m_name(std::move(name)), m_owned(owned) {}
    ~FdSource() override {
        if (m_owned) {
            ::close(m_fd);
        }
    }
    FdSource(const FdSource&) = delete;
    FdSource& operator=(const FdSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        // Bytes peeked at to sniff the format come first.
        if (m_peek_pos < m_peek.size()) {
            const std::size_t n = std::min(size, m_peek.size() - m_peek_pos);
            std::memcpy(buffer, m_peek.data() + m_peek_pos, n);
            m_peek_pos += n;
            return n;
        }
        for (;;) {
            const ssize_t n = ::read(m_fd, buffer, size);
            if (n >= 0) {
                return static_cast<std::size_t>(n);
            }
            if (errno != EINTR) {
                fail_errno(errno, fmt::format("cannot read {}", m_name));
            }
        }
    }

    /// Reads up to n bytes ahead without consuming them.
    std::string_view peek(std::size_t n) {
        while (m_peek.size() < n) {
            char buf[16];
            const ssize_t got = ::read(m_fd, buf, std::min(sizeof buf, n - m_peek.size()));
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got < 0) {
                fail_errno(errno, fmt::format("cannot read {}", m_name));
            }
            if (got == 0) {
                break;
            }
            m_peek.append(buf, static_cast<std::size_t>(got));
        }
        return m_peek;
    }

    const std::string& name() const { return m_name; }

    int mappable_fd() const override {
        struct stat st {};
        return m_owned && ::fstat(m_fd, &st) == 0 && S_ISREG(st.st_mode) ? m_fd : -1;
    }

private:
    int m_fd;
    std::string m_name;
    bool m_owned;
    std::string m_peek;
    std::size_t m_peek_pos = 0;
};

class ZstdSource : public ByteSource {
public:
    explicit ZstdSource(std::unique_ptr<FdSource> inner)
        : m_inner(std::move(inner)), m_dctx(ZSTD_createDCtx()), m_in(ZSTD_DStreamInSize()) {}
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
                        fail(exit_code::k_data, "{}: truncated zstd stream", m_inner->name());
                    }
                    return 0;
                }
                m_input = ZSTD_inBuffer{m_in.data(), n, 0};
            }
            const std::size_t rc = ZSTD_decompressStream(m_dctx, &out, &m_input);
            if (ZSTD_isError(rc) != 0) {
                fail(exit_code::k_data, "{}: {}", m_inner->name(), ZSTD_getErrorName(rc));
            }
            m_last_result = rc;
        }
        return out.pos;
    }

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
            fail(exit_code::k_io, "{}: cannot initialise gzip", m_inner->name());
        }
    }
    ~GzipSource() override { inflateEnd(&m_z); }
    GzipSource(const GzipSource&) = delete;
    GzipSource& operator=(const GzipSource&) = delete;

    std::size_t read(char* buffer, std::size_t size) override {
        m_z.next_out = reinterpret_cast<Bytef*>(buffer);
        m_z.avail_out = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
        while (m_z.avail_out == size) {
            if (m_z.avail_in == 0) {
                const std::size_t n = m_inner->read(m_in.data(), m_in.size());
                if (n == 0) {
                    if (!m_stream_end) {
                        fail(exit_code::k_data, "{}: truncated gzip stream", m_inner->name());
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
                fail(exit_code::k_data, "{}: corrupt gzip data ({})", m_inner->name(),
                     m_z.msg != nullptr ? m_z.msg : "inflate failed");
            }
        }
        return size - m_z.avail_out;
    }

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
        src = std::make_unique<FdSource>(0, "<stdin>", false);
    } else {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fail_errno(errno, fmt::format("cannot open {}", path));
        }
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        src = std::make_unique<FdSource>(fd, path, true);
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

namespace {
// Mapped a window at a time: no copy out of the page cache, and the pages of
// a window stop counting in the resident set once it is unmapped.
constexpr std::size_t k_window = 16u << 20;
} // namespace

LineReader::LineReader(ByteSource& source, Sha256* hash, std::size_t buffer_size)
    : m_source(source), m_hash(hash) {
    m_fd = source.mappable_fd();
    if (m_fd >= 0) {
        struct stat st {};
        if (::fstat(m_fd, &st) == 0) {
            m_file_size = static_cast<std::uint64_t>(st.st_size);
            if (map_window(0)) {
                return;
            }
        }
        m_fd = -1; // cannot map (a special file system): read it instead
    }
    m_buffer.resize(buffer_size);
}

LineReader::~LineReader() {
    if (m_window != nullptr) {
        ::munmap(const_cast<char*>(m_window), m_window_size);
    }
}

bool LineReader::map_window(std::uint64_t offset) {
    if (m_window != nullptr) {
        ::munmap(const_cast<char*>(m_window), m_window_size);
        m_window = nullptr;
    }
    m_window_offset = offset;
    m_pos = 0;
    m_window_size = static_cast<std::size_t>(std::min<std::uint64_t>(k_window, m_file_size - offset));
    if (m_window_size == 0) {
        return true;
    }
    void* p = ::mmap(nullptr, m_window_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, m_fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
        m_window_size = 0;
        return false;
    }
    ::madvise(p, m_window_size, MADV_SEQUENTIAL);
    m_window = static_cast<const char*>(p);
    if (m_hash != nullptr) {
        m_hash->update(std::string_view(m_window, m_window_size));
    }
    return true;
}

bool LineReader::next_mapped(std::string_view& line) {
    m_carry.clear();
    for (;;) {
        if (m_pos < m_window_size) {
            const char* start = m_window + m_pos;
            const void* nl = std::memchr(start, '\n', m_window_size - m_pos);
            if (nl != nullptr) {
                const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
                m_pos += len + 1;
                m_had_newline = true;
                if (m_carry.empty()) {
                    line = std::string_view(start, len);
                } else {
                    m_carry.append(start, len);
                    line = m_carry;
                }
                return true;
            }
            m_carry.append(start, m_window_size - m_pos);
            m_pos = m_window_size;
        }
        const std::uint64_t next = m_window_offset + m_window_size;
        if (next >= m_file_size) {
            if (m_carry.empty()) {
                return false;
            }
            m_had_newline = false;
            line = m_carry;
            return true;
        }
        if (!map_window(next)) {
            fail(exit_code::k_io, "cannot map input at offset {}", next);
        }
    }
}

bool LineReader::refill() {
    if (m_eof) {
        return false;
    }
    // Move the partial line to the front, grow if one line fills the buffer.
    if (m_begin > 0) {
        std::memmove(m_buffer.data(), m_buffer.data() + m_begin, m_end - m_begin);
        m_end -= m_begin;
        m_begin = 0;
    }
    if (m_end == m_buffer.size()) {
        m_buffer.resize(m_buffer.size() * 2);
    }
    const std::size_t n = m_source.read(m_buffer.data() + m_end, m_buffer.size() - m_end);
    if (n == 0) {
        m_eof = true;
        return false;
    }
    if (m_hash != nullptr) {
        m_hash->update(std::string_view(m_buffer.data() + m_end, n));
    }
    m_end += n;
    return true;
}

bool LineReader::next(std::string_view& line) {
    if (m_fd >= 0) {
        return next_mapped(line);
    }
    std::size_t scanned = m_begin;
    for (;;) {
        const char* start = m_buffer.data() + scanned;
        const void* nl = std::memchr(start, '\n', m_end - scanned);
        if (nl != nullptr) {
            const auto pos = static_cast<std::size_t>(static_cast<const char*>(nl) - m_buffer.data());
            line = std::string_view(m_buffer.data() + m_begin, pos - m_begin);
            m_begin = pos + 1;
            m_had_newline = true;
            return true;
        }
        const std::size_t searched = m_end - m_begin;
        if (!refill()) {
            if (m_end > m_begin) {
                line = std::string_view(m_buffer.data() + m_begin, m_end - m_begin);
                m_begin = m_end;
                m_had_newline = false;
                return true;
            }
            return false;
        }
        scanned = m_begin + searched; // refill moved the partial line to the front
    }
}

} // namespace wp
