#pragma once
// The download side of SFTP version 3 (draft-ietf-secsh-filexfer-02), spoken
// by hand over a byte transport: the packet framing, the replies to INIT,
// OPEN, FSTAT and READ, and pipelined reads put back in order. The session
// (lib/ssh.cpp) gives it an SSH channel; the fuzz target gives it a file of
// server bytes. Everything a server sends is checked before it is used: a
// reply that does not fit fails the step through the transport.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace wp {

/// What an SftpClient speaks through.
class SftpTransport {
public:
    virtual ~SftpTransport() = default;
    /// Sends a whole packet.
    virtual void send(std::string_view packet) = 0;
    /// Reads what has arrived into [into, into + room): at least one byte.
    /// When nothing more will come (the server went away, time is up) it
    /// does not return: it fails the step `what`.
    virtual std::size_t receive(char* into, std::size_t room, std::string_view what) = 0;
    /// Fails the step `what` for `reason`; never returns (throws).
    [[noreturn]] virtual void fail(std::string_view what, std::string_view reason) = 0;
};

/// How wide a download reads: `window` bytes in flight at most, asked for in
/// reads of `chunk` bytes. The receive buffer is twice the window, so the
/// window holds at least one packet of the largest size accepted.
struct SftpReadShape {
    std::uint32_t window = 4 * 1024 * 1024;
    std::uint32_t chunk = 255 * 1024;
};

/// The largest packet accepted from a server (a 255 KiB data reply fits).
inline constexpr std::uint32_t k_max_sftp_packet = 512 * 1024;

/// The text of an SFTP status code (SSH_FX_*), e.g. "No such file or directory".
std::string sftp_status_text(std::uint32_t code);

class SftpClient {
public:
    /// Sends INIT and checks the server's VERSION (3 or later).
    SftpClient(SftpTransport& transport, SftpReadShape shape);
    ~SftpClient();
    SftpClient(const SftpClient&) = delete;
    SftpClient& operator=(const SftpClient&) = delete;

    /// Opens path for reading: its handle and its size now (max() when the
    /// server does not say).
    std::pair<std::string, std::uint64_t> open(const std::string& path);

    /// Reads [offset, end) of the open file into sink, in order, with the
    /// requests pipelined; a short reply is asked again for the rest; stops
    /// early at the end of the file. Returns the bytes handed to sink.
    std::uint64_t read(const std::string& handle, std::uint64_t offset, std::uint64_t end,
                       const std::function<void(std::string_view)>& sink);

    /// Closes the handle without waiting for the reply.
    void close(const std::string& handle);

private:
    std::pair<std::uint8_t, std::string_view> next_packet(std::string_view what);
    void fill(std::string_view what);
    [[noreturn]] void fail(std::string_view what, std::string_view reason);
    [[noreturn]] void fail_status(std::string_view what, std::string_view body);

    SftpTransport& m_t;
    SftpReadShape m_shape;
    std::size_t m_buf_size;
    std::unique_ptr<char[]> m_buf; // not zeroed: pages are touched as data comes
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    std::size_t m_consumed = 0;
    std::uint32_t m_next_id = 1;
};

} // namespace wp
