// The SFTP replies a download reads (lib/remote/sftp_client.h): packet framing,
// VERSION, HANDLE, ATTRS, DATA and STATUS, and pipelined reads put back in
// order. The first byte picks one of two servers:
//
// - even: a hostile server. The rest of the input is the byte stream it
//   sends, handed over in pieces whose sizes come from the input too.
//   Property: the client either fails the step (through the transport) or
//   hands on at most what it asked for, in pieces that add up to what
//   read() returns.
// - odd: an honest but awkward server over a file of the input's bytes. It
//   answers the pending reads in an order the input picks, cuts replies
//   short, splits its packets over several receives, and says EOF past the
//   end. Property: the client hands on exactly the file's bytes from the
//   offset to the end asked for (or the end of the file), in order.

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <vector>

#include "fuzz.h"
#include "remote/sftp_client.h"

namespace {

struct StepFailed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads the input front to back; past the end, zeros.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
    std::uint8_t byte() { return m_at < m_size ? m_data[m_at++] : 0; }
    std::uint32_t u16() { return static_cast<std::uint32_t>(byte()) << 8 | byte(); }
    std::string_view rest() {
        const auto* p = reinterpret_cast<const char*>(m_data + m_at);
        const std::size_t n = m_size - m_at;
        m_at = m_size;
        return {p, n};
    }
    std::string_view take(std::size_t n) {
        n = std::min(n, m_size - m_at);
        const auto* p = reinterpret_cast<const char*>(m_data + m_at);
        m_at += n;
        return {p, n};
    }
    bool empty() const { return m_at >= m_size; }

private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_at = 0;
};

// The shape of a fuzzed download: a window that holds one packet, small reads.
wp::SftpReadShape shape_from(Input& in) {
    wp::SftpReadShape shape;
    shape.window = wp::k_max_sftp_packet + 4;
    shape.chunk = 1 + in.u16() % 512;
    return shape;
}

class HostileServer final : public wp::SftpTransport {
public:
    explicit HostileServer(Input& in) : m_in(in) {}
    void send(std::string_view packet) override { FUZZ_CHECK(packet.size() >= 5); }
    std::size_t receive(char* into, std::size_t room, std::string_view what) override {
        FUZZ_CHECK(room > 0);
        if (m_in.empty()) {
            fail(what, "the SFTP server went away");
        }
        const std::size_t piece = 1 + m_in.byte() % 64;
        const std::string_view bytes = m_in.take(std::min(room, piece * 16));
        if (bytes.empty()) {
            fail(what, "the SFTP server went away");
        }
        std::copy(bytes.begin(), bytes.end(), into);
        return bytes.size();
    }
    [[noreturn]] void fail(std::string_view what, std::string_view reason) override {
        FUZZ_CHECK(!what.empty() && !reason.empty());
        throw StepFailed(std::string(reason));
    }

private:
    Input& m_in;
};

std::uint32_t get_u32(std::string_view s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        v = v << 8 | static_cast<unsigned char>(s[at + i]);
    }
    return v;
}

void put_u32(std::string& s, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        s += static_cast<char>((v >> shift) & 0xff);
    }
}

void put_packet(std::string& out, std::uint8_t type, const std::string& body) {
    put_u32(out, static_cast<std::uint32_t>(body.size() + 1));
    out += static_cast<char>(type);
    out += body;
}

class HonestServer final : public wp::SftpTransport {
public:
    HonestServer(Input& schedule, std::string_view file) : m_schedule(schedule), m_file(file) {}

    // The client's requests, understood as a server would (our client's own
    // packets, so a malformed one is a property failure).
    void send(std::string_view packet) override {
        FUZZ_CHECK(packet.size() >= 5 && get_u32(packet, 0) == packet.size() - 4);
        const auto type = static_cast<std::uint8_t>(packet[4]);
        const std::string_view body = packet.substr(5);
        std::string reply;
        switch (type) {
        case 1: // INIT
            put_u32(reply, 3);
            put_packet(m_out, 2, reply);
            break;
        case 3: { // OPEN
            const std::uint32_t id = get_u32(body, 0);
            put_u32(reply, id);
            put_u32(reply, 6);
            reply += "handle";
            put_packet(m_out, 102, reply);
            break;
        }
        case 8: { // FSTAT
            const std::uint32_t id = get_u32(body, 0);
            put_u32(reply, id);
            put_u32(reply, 1); // size only
            put_u32(reply, 0);
            put_u32(reply, static_cast<std::uint32_t>(m_file.size()));
            put_packet(m_out, 105, reply);
            break;
        }
        case 5: { // READ: id, handle, offset, length
            FUZZ_CHECK(body.size() == 4 + 4 + 6 + 8 + 4);
            Read r;
            r.id = get_u32(body, 0);
            r.offset = std::uint64_t{get_u32(body, 14)} << 32 | get_u32(body, 18);
            r.length = get_u32(body, 22);
            FUZZ_CHECK(r.length > 0);
            m_pending.push_back(r);
            break;
        }
        case 4: // CLOSE
            break;
        default:
            FUZZ_CHECK(!"a request the client never sends");
        }
    }

    std::size_t receive(char* into, std::size_t room, std::string_view what) override {
        if (m_out.empty() && !m_pending.empty()) {
            answer_one();
        }
        if (m_out.empty()) {
            fail(what, "the SFTP server went away");
        }
        const std::size_t piece = 1 + m_schedule.byte() % 128;
        const std::size_t n = std::min({room, piece, m_out.size()});
        std::copy_n(m_out.begin(), n, into);
        m_out.erase(0, n);
        return n;
    }

    [[noreturn]] void fail(std::string_view, std::string_view reason) override {
        throw StepFailed(std::string(reason));
    }

private:
    struct Read {
        std::uint32_t id = 0;
        std::uint64_t offset = 0;
        std::uint32_t length = 0;
    };

    void answer_one() {
        const std::size_t pick = m_schedule.byte() % m_pending.size();
        const Read r = m_pending[pick];
        m_pending.erase(m_pending.begin() + static_cast<std::ptrdiff_t>(pick));
        std::string reply;
        put_u32(reply, r.id);
        if (r.offset >= m_file.size()) {
            put_u32(reply, 1); // EOF
            put_u32(reply, 0);
            put_u32(reply, 0);
            put_packet(m_out, 101, reply);
            return;
        }
        std::size_t n = std::min<std::uint64_t>(r.length, m_file.size() - r.offset);
        const std::uint8_t cut = m_schedule.byte();
        if (cut % 4 == 0) {
            n = 1 + cut / 4 % n; // a short read
        }
        put_u32(reply, static_cast<std::uint32_t>(n));
        reply += m_file.substr(r.offset, n);
        put_packet(m_out, 103, reply);
    }

    Input& m_schedule;
    std::string_view m_file;
    std::deque<Read> m_pending;
    std::string m_out;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    const bool honest = (in.byte() & 1) != 0;
    const wp::SftpReadShape shape = shape_from(in);
    const std::uint64_t offset = in.u16() % 2048;
    const std::uint64_t want = in.u16() % 4096;
    if (!honest) {
        HostileServer server(in);
        std::uint64_t handed = 0;
        try {
            wp::SftpClient client(server, shape);
            const auto [handle, file_size] = client.open("/var/log/squid/access.log");
            const std::uint64_t end = std::min(file_size, offset + want);
            const std::uint64_t got = client.read(handle, offset, end, [&](std::string_view piece) {
                FUZZ_CHECK(!piece.empty());
                handed += piece.size();
            });
            FUZZ_CHECK(got == handed);
            FUZZ_CHECK(got <= (end > offset ? end - offset : 0));
            client.close(handle);
        } catch (const StepFailed&) {
        }
        return 0;
    }
    // The file is a prefix of what is left; the rest schedules the server.
    const std::size_t file_size = in.u16() % 4096;
    const std::string file(in.take(file_size));
    HonestServer server(in, file);
    wp::SftpClient client(server, shape);
    const auto [handle, reported] = client.open("/var/log/squid/access.log");
    FUZZ_CHECK(reported == file.size());
    const std::uint64_t end = offset + want;
    std::string got;
    const std::uint64_t n = client.read(handle, offset, end, [&](std::string_view piece) { got += piece; });
    const std::string expected =
        offset < file.size() ? file.substr(offset, std::min<std::uint64_t>(end, file.size()) - offset) : "";
    FUZZ_CHECK(n == got.size());
    FUZZ_CHECK(got == expected);
    client.close(handle);
    return 0;
}
