#include "remote/sftp_client.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

namespace wp {

namespace {

constexpr std::uint8_t k_fxp_init = 1;
constexpr std::uint8_t k_fxp_version = 2;
constexpr std::uint8_t k_fxp_open = 3;
constexpr std::uint8_t k_fxp_close = 4;
constexpr std::uint8_t k_fxp_read = 5;
constexpr std::uint8_t k_fxp_fstat = 8;
constexpr std::uint8_t k_fxp_status = 101;
constexpr std::uint8_t k_fxp_handle = 102;
constexpr std::uint8_t k_fxp_data = 103;
constexpr std::uint8_t k_fxp_attrs = 105;
constexpr std::uint32_t k_fxf_read = 0x1;
constexpr std::uint32_t k_attr_size = 0x1;
constexpr std::uint32_t k_fx_eof = 1;

// An SFTP request being built: length, type, fields.
class SftpPacket {
public:
    explicit SftpPacket(std::uint8_t type) : m_data(4, '\0') { m_data += static_cast<char>(type); }
    SftpPacket& u32(std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            m_data += static_cast<char>((v >> shift) & 0xff);
        }
        return *this;
    }
    SftpPacket& u64(std::uint64_t v) {
        u32(static_cast<std::uint32_t>(v >> 32));
        return u32(static_cast<std::uint32_t>(v & 0xffffffffu));
    }
    SftpPacket& str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        m_data.append(s);
        return *this;
    }
    const std::string& finish() {
        const auto n = static_cast<std::uint32_t>(m_data.size() - 4);
        for (int i = 0; i < 4; ++i) {
            m_data[static_cast<std::size_t>(i)] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
        }
        return m_data;
    }

private:
    std::string m_data;
};

// Reads the fields of a reply; a reply too short for them is a protocol error.
class SftpFields {
public:
    explicit SftpFields(std::string_view data) : m_rest(data) {}
    bool u32(std::uint32_t& v) {
        if (m_rest.size() < 4) {
            return false;
        }
        v = 0;
        for (int i = 0; i < 4; ++i) {
            v = (v << 8) | static_cast<unsigned char>(m_rest[static_cast<std::size_t>(i)]);
        }
        m_rest.remove_prefix(4);
        return true;
    }
    bool u64(std::uint64_t& v) {
        std::uint32_t hi = 0;
        std::uint32_t lo = 0;
        if (!u32(hi) || !u32(lo)) {
            return false;
        }
        v = (std::uint64_t{hi} << 32) | lo;
        return true;
    }
    bool str(std::string_view& s) {
        std::uint32_t n = 0;
        if (!u32(n) || m_rest.size() < n) {
            return false;
        }
        s = m_rest.substr(0, n);
        m_rest.remove_prefix(n);
        return true;
    }

private:
    std::string_view m_rest;
};

} // namespace

std::string sftp_status_text(std::uint32_t code) {
    switch (code) {
    case 1:
        return "end of file";
    case 2:
        return "No such file or directory";
    case 3:
        return "Permission denied";
    case 4:
        return "failure";
    case 5:
        return "bad message";
    case 6:
        return "no connection";
    case 7:
        return "connection lost";
    case 8:
        return "operation unsupported";
    case 11:
        return "File exists";
    case 12:
        return "write protected";
    case 13:
        return "no media";
    default:
        return fmt::format("SFTP error {}", code);
    }
}

SftpClient::SftpClient(SftpTransport& transport, SftpReadShape shape)
    : m_t(transport), m_shape(shape), m_buf_size(2 * std::size_t{shape.window}) {
    if (shape.chunk == 0 || shape.chunk > shape.window || shape.window < k_max_sftp_packet + 4) {
        throw std::invalid_argument("SftpReadShape: a chunk of 1..window bytes, a window that holds a packet");
    }
    m_buf = std::make_unique_for_overwrite<char[]>(m_buf_size);
    m_t.send(SftpPacket(k_fxp_init).u32(3).finish());
    const auto [type, body] = next_packet("sftp");
    std::uint32_t version = 0;
    if (type != k_fxp_version || !SftpFields(body).u32(version) || version < 3) {
        fail("sftp", "the server does not speak SFTP version 3");
    }
}

SftpClient::~SftpClient() = default;

std::pair<std::string, std::uint64_t> SftpClient::open(const std::string& path) {
    const std::uint32_t open_id = m_next_id++;
    m_t.send(SftpPacket(k_fxp_open).u32(open_id).str(path).u32(k_fxf_read).u32(0).finish());
    auto [type, body] = next_packet("open");
    SftpFields f(body);
    std::uint32_t id = 0;
    std::string_view handle;
    if (type == k_fxp_status) {
        fail_status("open", body);
    }
    if (type != k_fxp_handle || !f.u32(id) || id != open_id || !f.str(handle)) {
        fail("open", "unexpected SFTP reply");
    }
    std::string h(handle);
    const std::uint32_t stat_id = m_next_id++;
    m_t.send(SftpPacket(k_fxp_fstat).u32(stat_id).str(h).finish());
    std::tie(type, body) = next_packet("stat");
    SftpFields a(body);
    std::uint32_t flags = 0;
    std::uint64_t size = std::numeric_limits<std::uint64_t>::max();
    if (type == k_fxp_attrs && a.u32(id) && id == stat_id && a.u32(flags) && (flags & k_attr_size) != 0) {
        if (!a.u64(size)) {
            size = std::numeric_limits<std::uint64_t>::max();
        }
    }
    return {h, size};
}

std::uint64_t SftpClient::read(const std::string& handle, std::uint64_t offset, std::uint64_t end,
                               const std::function<void(std::string_view)>& sink) {
    struct Request {
        std::uint32_t id = 0;
        std::uint64_t offset = 0;
        std::uint32_t length = 0;
        bool done = false;
        bool eof = false;
        std::string data; // a reply that came before the ones in front of it
    };
    const std::size_t most_in_flight = std::max<std::size_t>(1, m_shape.window / m_shape.chunk);
    std::deque<Request> in_flight;
    std::uint64_t next = offset;
    std::uint64_t received = 0;
    bool eof = false;
    auto request = [&](std::uint64_t at, std::uint32_t length, bool in_front) {
        Request r;
        r.id = m_next_id++;
        r.offset = at;
        r.length = length;
        m_t.send(SftpPacket(k_fxp_read).u32(r.id).str(handle).u64(at).u32(length).finish());
        if (in_front) {
            in_flight.push_front(std::move(r));
        } else {
            in_flight.push_back(std::move(r));
        }
    };
    // One reply's data for the request in front: handed on, and what it
    // lacks (a short read) asked for again, in front.
    auto deliver = [&](std::string_view data, Request r) {
        if (data.size() > r.length) {
            fail("read", "the server sent more than was asked");
        }
        if (!data.empty()) {
            sink(data);
            received += data.size();
        }
        if (data.size() < r.length && !data.empty()) {
            request(r.offset + data.size(), r.length - static_cast<std::uint32_t>(data.size()), true);
        } else if (data.empty()) {
            eof = true;
        }
    };
    for (;;) {
        while (!eof && in_flight.size() < most_in_flight && next < end) {
            const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(m_shape.chunk, end - next));
            request(next, length, false);
            next += length;
        }
        while (!eof && !in_flight.empty() && in_flight.front().done) {
            Request r = std::move(in_flight.front());
            in_flight.pop_front();
            const std::string data = std::move(r.data);
            deliver(r.eof ? std::string_view() : std::string_view(data), std::move(r));
        }
        // At the end of the file, what is still in flight is dropped with
        // the channel.
        if (eof || in_flight.empty()) {
            return received;
        }
        const auto [type, body] = next_packet("read");
        SftpFields f(body);
        std::uint32_t id = 0;
        if (!f.u32(id)) {
            fail("read", "unexpected SFTP reply");
        }
        const auto it =
            std::find_if(in_flight.begin(), in_flight.end(), [&](const Request& r) { return r.id == id && !r.done; });
        if (it == in_flight.end()) {
            fail("read", "unexpected SFTP reply");
        }
        std::string_view data;
        if (type == k_fxp_status) {
            std::uint32_t code = 0;
            if (!f.u32(code) || code != k_fx_eof) {
                fail_status("read", body);
            }
            it->eof = true;
        } else if (type != k_fxp_data || !f.str(data)) {
            fail("read", "unexpected SFTP reply");
        }
        if (it == in_flight.begin()) {
            // The usual case: straight from the receive buffer.
            Request r = std::move(in_flight.front());
            in_flight.pop_front();
            deliver(r.eof ? std::string_view() : data, std::move(r));
        } else {
            it->done = true;
            it->data.assign(data);
        }
    }
}

void SftpClient::close(const std::string& handle) {
    m_t.send(SftpPacket(k_fxp_close).u32(m_next_id++).str(handle).finish());
}

void SftpClient::fail(std::string_view what, std::string_view reason) {
    m_t.fail(what, reason);
    throw std::logic_error("SftpTransport::fail returned"); // it throws; not reached
}

void SftpClient::fail_status(std::string_view what, std::string_view body) {
    SftpFields f(body);
    std::uint32_t id = 0;
    std::uint32_t code = 0;
    if (!f.u32(id) || !f.u32(code)) {
        fail(what, "unexpected SFTP reply");
    }
    fail(what, sftp_status_text(code));
}

// The next packet: type and body, valid until the next call.
std::pair<std::uint8_t, std::string_view> SftpClient::next_packet(std::string_view what) {
    m_begin += m_consumed;
    m_consumed = 0;
    for (;;) {
        const std::size_t have = m_end - m_begin;
        if (have >= 4) {
            std::uint32_t length = 0;
            SftpFields(std::string_view(m_buf.get() + m_begin, 4)).u32(length);
            if (length == 0 || length > k_max_sftp_packet) {
                fail(what, "bad SFTP packet length");
            }
            if (have >= 4 + std::size_t{length}) {
                m_consumed = 4 + std::size_t{length};
                return {static_cast<std::uint8_t>(m_buf[m_begin + 4]),
                        std::string_view(m_buf.get() + m_begin + 5, length - 1)};
            }
        }
        fill(what);
    }
}

void SftpClient::fill(std::string_view what) {
    // Keep room for a wide read (the window follows the size asked): the
    // unread tail, at most a packet, moves to the front now and then.
    if (m_buf_size - m_end < m_shape.window) {
        std::memmove(m_buf.get(), m_buf.get() + m_begin, m_end - m_begin);
        m_end -= m_begin;
        m_begin = 0;
    }
    const std::size_t n = m_t.receive(m_buf.get() + m_end, m_buf_size - m_end, what);
    if (n == 0 || n > m_buf_size - m_end) {
        fail(what, "the SFTP transport returned nothing");
    }
    m_end += n;
}

} // namespace wp
