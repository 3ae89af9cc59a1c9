#pragma once
// Streaming line reader over plain, zstd and gzip files (or stdin), with a
// bounded buffer so memory stays flat whatever the input size.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// Raw bytes from somewhere; read() returns 0 at the end.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual std::size_t read(char* buffer, std::size_t size) = 0;
    /// A descriptor of a plain regular file whose whole content this source
    /// is, so that it can be mapped instead of read; -1 otherwise.
    virtual int mappable_fd() const { return -1; }
};

/// Opens path ("-" for stdin), decompressing by content (zstd and gzip magic
/// numbers), not by name. Errors name the path.
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

class Sha256;

/// Lines longer than this are returned cut to it (LineReader::truncated()).
inline constexpr std::size_t k_max_line_length = 64 * 1024;

/// Splits a ByteSource into lines without their "\n" (a "\r" is kept; the
/// grammar tolerates it). The last line may lack a newline. A plain file is
/// mapped a window at a time (no copy, memory bounded by the window); other
/// sources are read into a buffer. With hash, every content byte is hashed
/// in the same pass.
class LineReader {
public:
    explicit LineReader(ByteSource& source, Sha256* hash = nullptr, std::size_t buffer_size = 1 << 20);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;
    /// Next line, valid until the next call; false at the end.
    bool next(std::string_view& line);
    /// Whether the line just returned ended with "\n".
    bool had_newline() const { return m_had_newline; }
    /// Whether the line just returned was cut to k_max_line_length.
    bool truncated() const { return false; }

private:
    bool refill();
    bool next_mapped(std::string_view& line);
    bool map_window(std::uint64_t offset);

    ByteSource& m_source;
    Sha256* m_hash;
    std::vector<char> m_buffer;
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    bool m_eof = false;
    bool m_had_newline = false;
    // mapped mode
    int m_fd = -1;
    std::uint64_t m_file_size = 0;
    std::uint64_t m_window_offset = 0;
    const char* m_window = nullptr;
    std::size_t m_window_size = 0;
    std::size_t m_pos = 0;
    std::string m_carry; // a line that straddles two windows
};

} // namespace wp
