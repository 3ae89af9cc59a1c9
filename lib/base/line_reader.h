#pragma once
// Streaming line reader over plain, zstd and gzip files (or stdin), with a
// bounded buffer so memory stays flat whatever the input size.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// The longest line LineReader returns: 64 KiB. A longer line is returned
/// cut to this length (truncated() says so) and the rest of it, up to its
/// newline, is skipped; it is still hashed. Squid's lines are far shorter:
/// the limit bounds what a broken or hostile input can make us hold.
inline constexpr std::size_t k_max_line_length = 64u << 10;

/// Raw bytes from somewhere; read() returns 0 at the end.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual std::size_t read(char* buffer, std::size_t size) = 0;
    /// Once read() has returned 0: "" when the file is as it was when opened,
    /// else why not: "grew from 100 to 150 bytes while it was read", "was
    /// truncated while it was read", "was modified while it was read" or "was
    /// replaced by another file while it was read" (another file is at its
    /// path now). Always "" for stdin. For a compressed file, about the
    /// compressed file.
    virtual std::string changed_reason() const { return {}; }
};

/// Opens path ("-" for stdin), decompressing by content (zstd and gzip magic
/// numbers), not by name. Only a regular file is opened (a symlink to one
/// too): anything else, a FIFO, a device or a directory, is refused at once
/// with exit code 66 and "not a regular file". Messages of errors here and
/// from read() do not name the path: the caller puts it in front. Once
/// SIGINT or SIGTERM arrived (wp::interrupted()), read() gives up with exit
/// code 75 and "interrupted", within 200 ms even on a silent pipe.
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

class Sha256;

/// Splits a ByteSource into lines without their "\n" (a "\r" is kept; the
/// grammar tolerates it). The last line may lack a newline. Reads chunk_size
/// bytes at a time into one buffer of chunk_size + k_max_line_length bytes,
/// whatever the input. With hash, every content byte is hashed in the same
/// pass, the skipped part of a long line too.
class LineReader {
public:
    explicit LineReader(ByteSource& source, Sha256* hash = nullptr, std::size_t chunk_size = 1 << 20);
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;
    /// Next line, valid until the next call; false at the end.
    bool next(std::string_view& line);
    /// Whether the line just returned ended with "\n".
    bool had_newline() const { return m_had_newline; }
    /// Whether the line just returned was longer than k_max_line_length and
    /// is only its first k_max_line_length bytes.
    bool truncated() const { return m_truncated; }

private:
    std::size_t read_more();
    bool refill();
    std::string_view skip_rest_of_long_line();

    ByteSource& m_source;
    Sha256* m_hash;
    std::vector<char> m_buffer;
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    bool m_eof = false;
    bool m_had_newline = false;
    bool m_truncated = false;
};

} // namespace wp
