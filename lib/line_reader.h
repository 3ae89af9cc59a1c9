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
};

/// Opens path ("-" for stdin), decompressing by content (zstd and gzip magic
/// numbers), not by name. Errors name the path.
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

class Sha256;

/// Passes bytes through while hashing them (the ledger's SHA-256 of content).
class HashingSource : public ByteSource {
public:
    HashingSource(ByteSource& inner, Sha256& hash) : m_inner(inner), m_hash(hash) {}
    std::size_t read(char* buffer, std::size_t size) override;

private:
    ByteSource& m_inner;
    Sha256& m_hash;
};

/// Splits a ByteSource into lines without their "\n" (a "\r" is kept; the
/// grammar tolerates it). The last line may lack a newline.
class LineReader {
public:
    explicit LineReader(ByteSource& source, std::size_t buffer_size = 1 << 20);
    /// Next line, valid until the next call; false at the end.
    bool next(std::string_view& line);
    /// Whether the line just returned ended with "\n".
    bool had_newline() const { return m_had_newline; }
    /// Bytes handed out so far, newlines included: what a hash of the content sees.
    std::uint64_t bytes_read() const { return m_bytes; }

private:
    bool refill();
    ByteSource& m_source;
    std::vector<char> m_buffer;
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    bool m_eof = false;
    bool m_had_newline = false;
    std::uint64_t m_bytes = 0;
};

} // namespace wp
