#include "cmd/fetchlogs.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <tuple>
#include <unistd.h>

#include <fmt/format.h>
#include <zstd.h>

#include "store/db.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "base/sha256.h"
#include "base/table.h"
#include "base/diagnostics.h"
#include "base/calendar.h"

namespace wp {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view k_digest_marker = "wp-digest:";
// The host's SHA-256 of standard input: OpenSSL's when it is there (with the
// processor's SHA instructions it hashes about five times as fast as
// coreutils, CPU a proxy serving traffic meanwhile keeps), else sha256sum.
// Both print the sum first on a line (`-r`: "<hex> *stdin").
constexpr std::string_view k_sha256_of_stdin =
    "if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi";

// A failed step of a host that answered: the report's cause.
class StepFailure : public std::runtime_error {
public:
    explicit StepFailure(const std::string& cause) : std::runtime_error(cause) {}
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int two_digits(std::string_view s, std::size_t at) {
    return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

bool valid_stamp(std::string_view s) {
    // YYYYMMDDTHHMMSSZ
    if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
        return false;
    }
    for (std::size_t i = 0; i < 15; ++i) {
        if (i != 8 && !is_digit(s[i])) {
            return false;
        }
    }
    const int month = two_digits(s, 4);
    const int day = two_digits(s, 6);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && two_digits(s, 9) <= 23 &&
           two_digits(s, 11) <= 59 && two_digits(s, 13) <= 60;
}

// Oldest first: by stamp, then by the same-second counter.
std::pair<std::string, int> claim_order(std::string_view stamp) {
    const auto dot = stamp.find('.');
    if (dot == std::string_view::npos) {
        return {std::string(stamp), 0};
    }
    return {std::string(stamp.substr(0, dot)), std::stoi(std::string(stamp.substr(dot + 1)))};
}

std::pair<std::string, std::string> split_log_path(std::string_view log_path) {
    const auto slash = log_path.rfind('/');
    std::string dir(log_path.substr(0, slash));
    if (dir.empty()) {
        dir = "/";
    }
    return {dir, std::string(log_path.substr(slash + 1))};
}

std::string join_path(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string human_bytes(std::uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

// Streaming zstd decompression of what `zstd -c` sends.
class ZstdStream {
public:
    explicit ZstdStream(std::function<void(std::string_view)> sink)
        : m_ctx(ZSTD_createDCtx()), m_out(ZSTD_DStreamOutSize()), m_sink(std::move(sink)) {
        if (m_ctx == nullptr) {
            throw Error(exit_code::k_io, "cannot create a zstd decompressor: out of memory");
        }
    }
    ~ZstdStream() { ZSTD_freeDCtx(m_ctx); }
    ZstdStream(const ZstdStream&) = delete;
    ZstdStream& operator=(const ZstdStream&) = delete;

    void feed(std::string_view data) {
        m_any = m_any || !data.empty();
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        while (in.pos < in.size) {
            step(in);
        }
    }

    void finish() {
        ZSTD_inBuffer in{nullptr, 0, 0};
        // Output that did not fit the last buffer is still inside.
        for (int i = 0; m_last != 0 && i < 1000; ++i) {
            if (step(in) == 0) {
                break;
            }
        }
        if (m_any && m_last != 0) {
            throw StepFailure("the zstd stream ends in the middle of a frame");
        }
    }

private:
    std::size_t step(ZSTD_inBuffer& in) {
        ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
        const std::size_t ret = ZSTD_decompressStream(m_ctx, &out, &in);
        if (ZSTD_isError(ret) != 0) {
            throw StepFailure(fmt::format("corrupt zstd stream: {}", ZSTD_getErrorName(ret)));
        }
        m_last = ret;
        if (out.pos > 0) {
            m_sink(std::string_view(m_out.data(), out.pos));
        }
        return out.pos;
    }

    ZSTD_DCtx* m_ctx;
    std::vector<char> m_out;
    std::function<void(std::string_view)> m_sink;
    std::size_t m_last = 0;
    bool m_any = false;
};

// Writes a spool file in blocks of at least 64 KiB (transfers hand over 128
// or 255 KiB at a time, written as they come; small pieces are gathered), and
// has the kernel start writing each few megabytes to disk at once, so that
// the fsync of the commit finds little left to do.
class SpoolWriter {
public:
    explicit SpoolWriter(AtomicFile& file) : m_file(file) { m_buf.reserve(k_block); }

    void write(std::string_view data) {
        if (m_buf.empty() && data.size() >= k_block) {
            written(data);
            return;
        }
        m_buf.append(data);
        if (m_buf.size() >= k_block) {
            flush();
        }
    }

    void flush() {
        if (!m_buf.empty()) {
            written(m_buf);
            m_buf.clear();
        }
    }

private:
    void written(std::string_view data) {
        m_file.write(data);
        m_end += static_cast<off_t>(data.size());
        if (m_end - m_started >= k_writeback) {
            // Advisory: an error here shows again at the fsync.
            ::sync_file_range(m_file.fd(), m_started, m_end - m_started, SYNC_FILE_RANGE_WRITE);
            m_started = m_end;
        }
    }

    static constexpr std::size_t k_block = 64 << 10;
    static constexpr off_t k_writeback = 8 << 20;
    AtomicFile& m_file;
    std::string m_buf;
    off_t m_started = 0;
    off_t m_end = 0;
};

std::string file_sha256(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fail_errno(errno, fmt::format("cannot open {}", path));
    }
    Sha256 sha;
    std::vector<char> buf(1 << 16);
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            fail_errno(err, fmt::format("cannot read {}", path));
        }
        if (n == 0) {
            break;
        }
        sha.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    ::close(fd);
    return sha.hex_digest();
}

bool exists_no_follow(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// The stale temporaries AtomicFile leaves when a run is killed:
// <server>.<…>.log.tmp.<pid>.<8 hex>.
bool is_stale_temp(std::string_view server, std::string_view name) {
    if (name.substr(0, server.size() + 1) != fmt::format("{}.", server)) {
        return false;
    }
    const auto tmp = name.rfind(".log.tmp.");
    if (tmp == std::string_view::npos) {
        return false;
    }
    std::string_view rest = name.substr(tmp + 9);
    const auto dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || rest.size() - dot - 1 != 8) {
        return false;
    }
    return std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(dot), is_digit) &&
           std::all_of(rest.begin() + static_cast<std::ptrdiff_t>(dot) + 1, rest.end(),
                       [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); });
}

} // namespace

TransferMode parse_transfer_mode(std::string_view name) {
    if (name == "sftp") {
        return TransferMode::sftp;
    }
    if (name == "zstd") {
        return TransferMode::zstd;
    }
    if (name == "auto" || name.empty()) {
        return TransferMode::automatic;
    }
    fail(exit_code::k_usage, "--transfer: '{}' is not one of sftp, zstd, auto", name);
}

std::string format_claim_stamp(std::int64_t epoch) {
    const std::time_t t = static_cast<std::time_t>(epoch);
    std::tm tm {};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

std::string claimed_stamp(std::string_view log_base, std::string_view name) {
    const std::string prefix = fmt::format("{}.wp-", log_base);
    if (log_base.empty() || name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) {
        return {};
    }
    const std::string_view stamp = name.substr(prefix.size());
    if (!valid_stamp(stamp.substr(0, 16))) {
        return {};
    }
    if (stamp.size() > 16) {
        // A second claim in the same second: ".N", N in 1..999.
        const std::string_view n = stamp.substr(17);
        if (stamp[16] != '.' || n.empty() || n.size() > 3 || n[0] == '0' ||
            !std::all_of(n.begin(), n.end(), is_digit)) {
            return {};
        }
    }
    return std::string(stamp);
}

std::string survey_command(std::string_view log_path, std::string_view claim_stamp, std::string_view rotate_cmd,
                           std::int64_t wait_ms) {
    const auto [dir, base] = split_log_path(log_path);
    // $s unquoted: a padded `wc -c` (BSD) loses its blanks. The claim runs
    // only on a size that is a number above zero; the rotate command's own
    // output goes to stderr (see rotate_command), so that stdout carries
    // only the records.
    return fmt::format(
        "cd -- {dir} || exit 2\n"
        "if [ -h {b} ]; then printf 'S\\0'\n"
        "elif [ -f {b} ]; then\n"
        "  s=$(wc -c < {b}) || exit 3\n"
        "  printf 'L%s\\0' $s\n"
        "  if [ -n {stamp} ] && [ $s -gt 0 ] 2>/dev/null; then\n"
        "    n={b}.wp-{stamp}; i=0\n"
        "    while [ -e \"$n\" ] || [ -h \"$n\" ]; do\n"
        "      i=$((i+1))\n"
        "      if [ $i -gt 999 ]; then echo a thousand claims stamped {stamp}: try again in a second >&2; exit 1; fi\n"
        "      n={b}.wp-{stamp}.$i\n"
        "    done\n"
        "    mv -- {b} \"$n\" || exit 1\n"
        "    printf 'N%s\\0' \"$n\"\n"
        "    r=$({rotate})\n"
        "    printf 'R%s\\0' \"$r\"\n"
        "  fi\n"
        "fi\n"
        "for f in {b}.wp-*; do if [ -f \"$f\" ] && [ ! -h \"$f\" ]; then printf 'C%s\\0' \"$f\"; fi; done\n"
        "if command -v zstd >/dev/null 2>&1; then printf 'Z\\0'; fi\n",
        fmt::arg("dir", shell_quote(dir)), fmt::arg("b", shell_quote(base)),
        fmt::arg("stamp", shell_quote(claim_stamp)), fmt::arg("rotate", rotate_command(rotate_cmd, log_path, wait_ms)));
}

LogListing parse_listing(std::string_view output, std::string_view log_base) {
    LogListing listing;
    if (!output.empty() && output.back() != '\0') {
        fail(exit_code::k_data, "listing does not end with a NUL");
    }
    std::size_t pos = 0;
    while (pos < output.size()) {
        const auto end = output.find('\0', pos);
        const std::string_view record = output.substr(pos, end - pos);
        pos = end + 1;
        if (record.empty()) {
            fail(exit_code::k_data, "empty record in listing");
        }
        const std::string_view value = record.substr(1);
        switch (record[0]) {
        case 'L': {
            if (value.empty() || value.size() > 19 || !std::all_of(value.begin(), value.end(), is_digit) ||
                listing.live_size || listing.live_is_symlink) {
                fail(exit_code::k_data, "bad size '{}' in listing", escape_control(value));
            }
            listing.live_size = std::stoull(std::string(value));
            break;
        }
        case 'S':
            if (listing.live_size || listing.live_is_symlink) {
                fail(exit_code::k_data, "a second live log in listing");
            }
            listing.live_is_symlink = true;
            break;
        case 'Z':
            listing.has_zstd = true;
            break;
        case 'N':
            if (claimed_stamp(log_base, value).empty() || !listing.claimed_now.empty()) {
                fail(exit_code::k_data, "unexpected claim '{}' in listing", escape_control(value));
            }
            listing.claimed_now = value;
            break;
        case 'R':
            listing.rotate_outcome = value;
            break;
        case 'C':
            if (!claimed_stamp(log_base, value).empty()) {
                listing.claimed.emplace_back(value);
            } else {
                listing.rejected.emplace_back(value);
            }
            break;
        default:
            fail(exit_code::k_data, "unexpected record '{}' in listing", escape_control(record));
        }
    }
    std::sort(listing.claimed.begin(), listing.claimed.end(), [&](const auto& a, const auto& b) {
        return claim_order(claimed_stamp(log_base, a)) < claim_order(claimed_stamp(log_base, b));
    });
    if (!listing.claimed_now.empty() &&
        std::find(listing.claimed.begin(), listing.claimed.end(), listing.claimed_now) == listing.claimed.end()) {
        fail(exit_code::k_data, "the claimed {} is not in the listing", escape_control(listing.claimed_now));
    }
    return listing;
}

std::string rotate_command(std::string_view rotate_cmd, std::string_view log_path, std::int64_t wait_ms) {
    // One round trip: the rotate command, then a wait on the host itself.
    // Rotate's own output goes to stderr, so that stdout carries only ours.
    return fmt::format("/bin/sh -c {rot} >&2\n"
                       "s=$?\n"
                       "if [ $s -ne 0 ]; then echo rotate-failed $s; exit 0; fi\n"
                       "i=0\n"
                       "while [ ! -e {log} ]; do\n"
                       "  if [ $i -ge {n} ]; then echo not-reopened; exit 0; fi\n"
                       "  sleep 0.1 2>/dev/null || sleep 1\n"
                       "  i=$((i+1))\n"
                       "done\n"
                       "echo reopened\n",
                       fmt::arg("rot", shell_quote(rotate_cmd)), fmt::arg("log", shell_quote(log_path)),
                       fmt::arg("n", std::max<std::int64_t>(1, wait_ms / 100)));
}

std::string parse_rotate_outcome(const ExecResult& result, std::string_view rotate_cmd, std::string_view log_path,
                                 std::int64_t wait_ms) {
    if (!result.ok()) {
        return result.describe();
    }
    if (result.out == "reopened\n") {
        return {};
    }
    if (result.out == "not-reopened\n") {
        return fmt::format("{} did not reappear within {} ms of '{}': Squid has not reopened its log, so the "
                           "claimed files stay on the host",
                           log_path, wait_ms, rotate_cmd);
    }
    constexpr std::string_view k_failed = "rotate-failed ";
    if (result.out.rfind(k_failed, 0) == 0) {
        ExecResult rotate = result;
        rotate.exit_status = std::atoi(result.out.c_str() + k_failed.size());
        return fmt::format("'{}': {}", rotate_cmd, rotate.describe());
    }
    return fmt::format("unexpected output: {}", escape_control(result.out.substr(0, 200)));
}

std::string spool_file_name(std::string_view server, std::string_view stamp) {
    return fmt::format("{}.{}.log", server, stamp);
}

std::string digest_command(std::string_view path) {
    const std::string q = shell_quote(path);
    return fmt::format("wc -c < {q} && {{ {sha}; }} < {q}", fmt::arg("q", q), fmt::arg("sha", k_sha256_of_stdin));
}

std::optional<RemoteDigest> parse_remote_digest(std::string_view output) {
    const auto nl = output.find('\n');
    if (nl == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view size = output.substr(0, nl);
    std::string_view rest = output.substr(nl + 1);
    while (!size.empty() && (size.front() == ' ' || size.front() == '\t')) {
        size.remove_prefix(1);
    }
    while (!size.empty() && (size.back() == ' ' || size.back() == '\r')) {
        size.remove_suffix(1);
    }
    if (size.empty() || size.size() > 19 || !std::all_of(size.begin(), size.end(), is_digit)) {
        return std::nullopt;
    }
    if (rest.size() < 64 || !std::all_of(rest.begin(), rest.begin() + 64, [](char c) {
            return is_digit(c) || (c >= 'a' && c <= 'f');
        })) {
        return std::nullopt;
    }
    if (rest.size() > 64 && rest[64] != ' ' && rest[64] != '\n') {
        return std::nullopt;
    }
    return RemoteDigest{std::stoull(std::string(size)), std::string(rest.substr(0, 64))};
}

std::string zstd_stream_command(std::string_view path) {
    // The checksum in the background, read from the page cache while zstd
    // reads the same file; on stderr, where only errors go otherwise.
    // Level 1: about twice as fast as the default 3 on a Squid log, for a
    // few per cent of size (both near 5x); compressing is what limits a
    // fast link, and the proxy serves traffic meanwhile.
    return fmt::format("f={}\n"
                       "(s=$(wc -c < \"$f\") && h=$({{ {sha}; }} < \"$f\") && "
                       "printf '{m}%s\\n{m}%s\\n' \"$s\" \"$h\" >&2) &\n"
                       "zstd -1 -q -c -- \"$f\"\n"
                       "z=$?\n"
                       "wait $!\n"
                       "exit $z\n",
                       shell_quote(path), fmt::arg("m", k_digest_marker), fmt::arg("sha", k_sha256_of_stdin));
}

std::optional<RemoteDigest> take_stream_digest(ExecResult& result) {
    std::vector<std::string> values;
    std::string rest;
    std::string_view err = result.err;
    while (!err.empty()) {
        const auto nl = err.find('\n');
        const std::string_view line = err.substr(0, nl == std::string_view::npos ? err.size() : nl + 1);
        err.remove_prefix(line.size());
        if (line.substr(0, k_digest_marker.size()) == k_digest_marker) {
            values.emplace_back(line.substr(k_digest_marker.size()));
        } else {
            rest.append(line);
        }
    }
    result.err = std::move(rest);
    if (values.size() != 2) {
        return std::nullopt;
    }
    std::string digest = values[0];
    if (digest.empty() || digest.back() != '\n') {
        return std::nullopt;
    }
    return parse_remote_digest(digest + values[1]);
}

std::string HostReport::message() const {
    return step.empty() ? cause : fmt::format("{}: {}", step, cause);
}

std::string prepare_spool_dir(const std::string& spool, const std::string& server) {
    if (auto problem = check_server_name(server); !problem.empty()) {
        fail(exit_code::k_data, "server name {}", problem);
    }
    const std::string dir = fmt::format("{}/{}", spool, server);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            fail_errno(errno, fmt::format("cannot read spool directory {}", dir));
        }
        if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
            const int err = errno;
            throw Error(err == EACCES || err == EPERM ? exit_code::k_no_perm : exit_code::k_cant_create,
                        fmt::format("cannot create directory {}: {}", dir, std::strerror(err)));
        }
        if (::lstat(dir.c_str(), &st) != 0) {
            fail_errno(errno, fmt::format("cannot read spool directory {}", dir));
        }
    }
    if (S_ISLNK(st.st_mode)) {
        fail(exit_code::k_cant_create, "{} is a symbolic link: the spool is never written through one", dir);
    }
    if (!S_ISDIR(st.st_mode)) {
        fail(exit_code::k_cant_create, "{} is not a directory", dir);
    }
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        fail_errno(errno, fmt::format("cannot open spool directory {}", dir));
    }
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        const int err = errno;
        ::close(fd);
        fail_errno(err, fmt::format("cannot read spool directory {}", dir));
    }
    // We hold the lock: a temporary here is a killed run's, never a live one's.
    while (const dirent* e = ::readdir(d)) {
        if (is_stale_temp(server, e->d_name) && ::unlinkat(fd, e->d_name, 0) == 0) {
            info(1, "{}: removed {}/{}, left by an interrupted run", server, dir, e->d_name);
        }
    }
    ::closedir(d);
    return dir;
}

namespace {

void must(const ExecResult& r, std::string_view what = {}) {
    if (!r.ok()) {
        throw StepFailure(what.empty() ? r.describe() : fmt::format("{} {}", what, r.describe()));
    }
}

// One host's steps over an open connection. Each step names itself in
// m_step before it touches anything, so that a failure says where it was.
class HostFetch {
public:
    HostFetch(RemoteHost& host, const Server& server, const HostFetchSettings& settings, HostReport& report)
        : m_host(host), m_server(server), m_settings(settings), m_report(report) {}

    const std::string& step() const { return m_step; }

    void run() {
        if (auto p = check_log_path(m_server.log_path); !p.empty()) {
            throw StepFailure(fmt::format("log path {}", p));
        }
        std::tie(m_dir, m_base) = split_log_path(m_server.log_path);
        if (m_base.empty() || m_base == "." || m_base == "..") {
            throw StepFailure(fmt::format("log path '{}' does not name a file", m_server.log_path));
        }
        if (m_settings.dry_run) {
            plan();
            return;
        }
        const std::int64_t now = m_settings.clock ? m_settings.clock() : now_epoch();
        const LogListing listing = survey(format_claim_stamp(now));
        if (listing.live_is_symlink) {
            m_step = fmt::format("claim {}", m_server.log_path);
            throw StepFailure("it is a symbolic link; refusing to rename it");
        }
        // Until Squid reopens its log it keeps writing into the claimed file,
        // which must not be fetched and deleted before then. A live log that
        // exists again proves the reopen (the survey waited for it after its
        // claim); without one (an earlier rotate that failed) Squid is asked
        // again.
        if (listing.claimed.empty()) {
            return;
        }
        if (!listing.live_size) {
            rotate_and_wait_for_reopen();
        }
        TransferMode mode = m_settings.mode;
        if (mode == TransferMode::automatic) {
            mode = listing.has_zstd ? TransferMode::zstd : TransferMode::sftp;
        }
        for (const auto& name : listing.claimed) {
            if (interrupted()) {
                throw StepFailure("interrupted");
            }
            fetch_claimed_file(name, mode);
        }
    }

private:
    // --dry-run: the survey without a claim (an empty stamp), told as what a
    // real run would do.
    void plan() {
        const LogListing listing = survey("");
        auto& out = m_report.planned;
        if (listing.live_is_symlink) {
            out.push_back(fmt::format("would refuse {}: a symbolic link", m_server.log_path));
        } else if (!listing.live_size) {
            out.push_back(fmt::format("no live log at {}", m_server.log_path));
        } else if (*listing.live_size == 0) {
            out.push_back(fmt::format("would leave {} alone: empty", m_server.log_path));
        } else {
            out.push_back(fmt::format("would claim {} ({} bytes), run {}, fetch it", m_server.log_path,
                                      *listing.live_size, m_server.rotate_cmd));
        }
        for (const auto& name : listing.claimed) {
            out.push_back(fmt::format("would fetch {} (claimed earlier)", join_path(m_dir, name)));
        }
        const bool zstd = m_settings.mode == TransferMode::zstd ||
                          (m_settings.mode == TransferMode::automatic && listing.has_zstd);
        out.push_back(fmt::format("transfer: {}", zstd ? "zstd stream" : "sftp"));
    }

    // List, claim and rotate in one round trip (survey_command).
    LogListing survey(const std::string& stamp) {
        m_step = fmt::format("list {}", m_dir);
        const std::int64_t wait_ms = m_settings.rotate_wait.count();
        const ExecResult r = m_host.run(survey_command(m_server.log_path, stamp, m_server.rotate_cmd, wait_ms));
        if (!r.ok()) {
            if (r.out.rfind('L', 0) == 0) {
                m_step = fmt::format("claim {}", m_server.log_path);
            }
            must(r);
        }
        LogListing listing;
        try {
            listing = parse_listing(r.out, m_base);
        } catch (const Error& e) {
            throw StepFailure(fmt::format("unexpected output: {}", e.what()));
        }
        for (const auto& name : listing.rejected) {
            info(1, "{}: left alone {}: not a name wp-fetchlogs gives", m_server.name, join_path(m_dir, name));
        }
        if (!listing.claimed_now.empty()) {
            m_step = "rotate";
            ExecResult rotate = r;
            rotate.out = listing.rotate_outcome + "\n";
            const std::string problem = parse_rotate_outcome(rotate, m_server.rotate_cmd, m_server.log_path, wait_ms);
            if (!problem.empty()) {
                throw StepFailure(problem);
            }
        }
        return listing;
    }

    void rotate_and_wait_for_reopen() {
        m_step = "rotate";
        const std::int64_t wait_ms = m_settings.rotate_wait.count();
        const std::string problem = parse_rotate_outcome(
            m_host.run(rotate_command(m_server.rotate_cmd, m_server.log_path, wait_ms)), m_server.rotate_cmd,
            m_server.log_path, wait_ms);
        if (!problem.empty()) {
            throw StepFailure(problem);
        }
    }


    // The spool names for a claim's stamp: the usual one, then .dup1,
    // .dup2, … up to the first free one, which is last. Normally the usual
    // name is free. A file there already is this claim fetched before its
    // remote delete failed (then identical), or another claim that got the
    // same stamp (a run killed after its claim, the next one in the same
    // second): then ours goes beside it.
    std::vector<std::string> spool_paths(const std::string& stamp) const {
        std::vector<std::string> paths{
            fmt::format("{}/{}", m_settings.spool_dir, spool_file_name(m_server.name, stamp))};
        for (int i = 1; exists_no_follow(paths.back()); ++i) {
            paths.push_back(fmt::format("{}/{}", m_settings.spool_dir,
                                        spool_file_name(m_server.name, fmt::format("{}.dup{}", stamp, i))));
        }
        return paths;
    }

    // One of the files already there with these bytes, if any. wp-parse
    // may take spool files away meanwhile: one that is gone is no match.
    static std::optional<std::string> same_content(const std::vector<std::string>& existing, std::uint64_t size,
                                                   const std::string& sha256) {
        for (const auto& path : existing) {
            struct stat st {};
            if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
                static_cast<std::uint64_t>(st.st_size) != size) {
                continue;
            }
            try {
                if (file_sha256(path) == sha256) {
                    return path;
                }
            } catch (const Error&) {
                if (exists_no_follow(path)) {
                    throw;
                }
            }
        }
        return std::nullopt;
    }

    void fetch_claimed_file(const std::string& name, TransferMode mode) {
        const std::string path = join_path(m_dir, name);
        const std::string stamp = claimed_stamp(m_base, name);
        std::vector<std::string> existing = spool_paths(stamp);
        const std::string target = existing.back();
        existing.pop_back();
        AtomicFile out(target, 0640);
        SpoolWriter writer(out);
        Sha256 sha;
        std::uint64_t size = 0;
        auto sink = [&](std::string_view data) {
            writer.write(data);
            sha.update(data);
            size += data.size();
            if (m_settings.on_bytes) {
                m_settings.on_bytes(data.size());
            }
        };
        // The host computes its checksum while it sends the file, so that
        // it is ready (nearly) when the last byte arrives: in the background
        // of the zstd stream, or on a channel of its own beside SFTP.
        const auto transfer_start = Clock::now();
        auto transfer_end = transfer_start;
        std::optional<RemoteDigest> remote;
        std::string digest_output;
        if (mode == TransferMode::sftp) {
            m_step = fmt::format("verify {}", path);
            const ExecResult r = m_host.run_alongside(digest_command(path), [&]() -> std::chrono::seconds {
                m_step = fmt::format("download {}", path);
                m_host.download(path, sink);
                writer.flush();
                transfer_end = Clock::now();
                m_step = fmt::format("verify {}", path);
                // What the host may still have to hash after the last byte.
                return m_settings.io_timeout + std::chrono::seconds(size >> 24);
            });
            must(r);
            remote = parse_remote_digest(r.out);
            digest_output = r.out;
        } else {
            m_step = fmt::format("download {}", path);
            ZstdStream stream(sink);
            ExecResult r = m_host.run(zstd_stream_command(path), [&](std::string_view data) { stream.feed(data); });
            digest_output = r.err;
            remote = take_stream_digest(r);
            must(r, "zstd");
            stream.finish();
            writer.flush();
            transfer_end = Clock::now();
            m_step = fmt::format("verify {}", path);
        }
        const std::string local = sha.hex_digest();
        if (!remote) {
            throw StepFailure(digest_output.empty() ? std::string("no checksum from the host")
                                                    : fmt::format("unexpected checksum from the host: {}",
                                                                  escape_control(digest_output.substr(0, 200))));
        }
        if (remote->size != size || remote->sha256 != local) {
            m_step = fmt::format("download {}", path);
            throw StepFailure(fmt::format(
                "checksum mismatch (the host has {} bytes, SHA-256 {}; received {} bytes, SHA-256 {}); "
                "the file stays on the host",
                remote->size, remote->sha256, size, local));
        }
        if (size > 0) {
            if (const auto there = same_content(existing, size, local)) {
                info(1, "{}: {} is already in the spool as {}", m_server.name, path, *there);
            } else {
                m_step = fmt::format("write {}", target);
                out.commit();
            }
        }
        m_step = fmt::format("delete {}", path);
        must(m_host.run(fmt::format("rm -f -- {}", shell_quote(path))));
        ++m_report.files;
        m_report.bytes += size;
        const double seconds = std::chrono::duration<double>(transfer_end - transfer_start).count();
        info(2, "{}: fetched {} ({} bytes, {:.1f} MB/s by {}; verified and committed in {:.2f} s)", m_server.name,
             path, size, seconds > 0 ? static_cast<double>(size) / 1e6 / seconds : 0.0,
             mode == TransferMode::sftp ? "sftp" : "zstd",
             std::chrono::duration<double>(Clock::now() - transfer_end).count());
    }

    RemoteHost& m_host;
    const Server& m_server;
    const HostFetchSettings& m_settings;
    HostReport& m_report;
    std::string m_step = "list";
    std::string m_dir;
    std::string m_base;
};

} // namespace

HostReport fetch_host_logs(RemoteHost& host, const Server& server, const HostFetchSettings& settings) {
    HostReport report;
    report.server = server.name;
    HostFetch fetch(host, server, settings, report);
    auto failed = [&](std::string step, const char* cause) {
        report.outcome = interrupted() ? HostOutcome::interrupted : HostOutcome::failed;
        report.step = std::move(step);
        report.cause = cause;
    };
    try {
        fetch.run();
    } catch (const StepFailure& e) {
        failed(fetch.step(), e.what());
    } catch (const SshError& e) {
        failed(e.step().empty() ? fetch.step() : e.step(), e.what());
    } catch (const Error& e) {
        failed(fetch.step(), e.what());
    }
    return report;
}

namespace {

// The SSH session as fetch_host_logs sees a host.
class SessionHost : public RemoteHost {
public:
    SessionHost(SshSession& session, std::chrono::seconds io_timeout) : m_session(session), m_io(io_timeout) {}

    ExecResult run(const std::string& command, const std::function<void(std::string_view)>& on_stdout) override {
        ExecOptions options;
        if (on_stdout) {
            options.on_stdout = on_stdout;
            options.idle_timeout = m_io;
        } else {
            options.timeout = m_io;
        }
        return m_session.exec(command, options);
    }

    void download(const std::string& path, const std::function<void(std::string_view)>& sink) override {
        m_session.sftp_download(path, 0, sink);
    }

    ExecResult run_alongside(const std::string& command,
                             const std::function<std::chrono::seconds()>& meanwhile) override {
        return m_session.exec_alongside(command, meanwhile);
    }

private:
    SshSession& m_session;
    std::chrono::seconds m_io;
};

// A status line on a terminal: hosts done of all, files, bytes, and the
// rate over the last second or two (shown from the second second of data
// on; 0 B/s while nothing comes). Redrawn as data comes, at most five times a
// second, and twice a second by a clock of its own, so that a stall shows;
// warnings print above it.
class Progress {
public:
    Progress(std::size_t hosts, bool enabled) : m_hosts(hosts), m_enabled(enabled) {
        if (m_enabled) {
            m_clock = std::thread([this] { tick(); });
        }
    }

    ~Progress() { finish(); }

    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void add_bytes(std::uint64_t n) {
        std::lock_guard lock(m_mutex);
        m_bytes += n;
        const auto now = Clock::now();
        if (now - m_drawn >= std::chrono::milliseconds(200)) {
            draw(now);
        }
    }

    void host_done(const HostReport& report) {
        std::lock_guard lock(m_mutex);
        ++m_done;
        m_files += static_cast<std::size_t>(report.files);
        draw(Clock::now());
    }

    void warning(const std::string& message) {
        std::lock_guard lock(m_mutex);
        clear();
        warn_message(message);
        draw(Clock::now());
    }

    void finish() {
        {
            std::lock_guard lock(m_mutex);
            m_finished = true;
            clear();
        }
        m_tick.notify_all();
        if (m_clock.joinable()) {
            m_clock.join();
        }
    }

private:
    void tick() {
        std::unique_lock lock(m_mutex);
        while (!m_tick.wait_for(lock, std::chrono::milliseconds(500), [&] { return m_finished; })) {
            draw(Clock::now());
        }
    }

    void draw(Clock::time_point now) {
        if (!m_enabled || m_finished) {
            return;
        }
        m_drawn = now;
        // Samples of the byte count from the first byte on, the last two
        // seconds of them: the rate is over what they span.
        if (m_bytes > 0) {
            m_samples.emplace_back(now, m_bytes);
            while (now - m_samples.front().first > k_rate_span) {
                m_samples.pop_front();
            }
        }
        std::string rate;
        if (!m_samples.empty() && now - m_samples.front().first >= k_rate_span / 2) {
            const double seconds = std::chrono::duration<double>(now - m_samples.front().first).count();
            rate = fmt::format(", {}/s", human_bytes(static_cast<std::uint64_t>(
                                             static_cast<double>(m_bytes - m_samples.front().second) / seconds)));
        }
        fmt::print(stderr, "\r{}: {}/{} hosts, {} file{}, {}{}\033[K", program_name(), m_done, m_hosts, m_files,
                   m_files == 1 ? "" : "s", human_bytes(m_bytes), rate);
        std::fflush(stderr);
        m_shown = true;
    }
    void clear() {
        if (m_shown) {
            fmt::print(stderr, "\r\033[K");
            std::fflush(stderr);
            m_shown = false;
        }
    }

    static constexpr auto k_rate_span = std::chrono::seconds(2);
    std::mutex m_mutex;
    std::condition_variable m_tick;
    std::size_t m_hosts;
    bool m_enabled;
    bool m_finished = false;
    std::size_t m_done = 0;
    std::size_t m_files = 0;
    std::uint64_t m_bytes = 0;
    bool m_shown = false;
    Clock::time_point m_drawn{};
    std::deque<std::pair<Clock::time_point, std::uint64_t>> m_samples;
    std::thread m_clock; // last: started when the rest exists
};

std::vector<Server> select_servers(Database& db, const FetchRequest& req) {
    Inventory inventory(db);
    if (req.hosts.empty()) {
        auto servers = inventory.select(req.where, false);
        std::erase_if(servers, [](const Server& s) { return !s.active; });
        return servers;
    }
    // Named servers are contacted even when inactive: the operator asked.
    const auto matching = inventory.select(req.where, true);
    std::vector<Server> out;
    for (const auto& name : req.hosts) {
        const auto it = std::find_if(matching.begin(), matching.end(), [&](const Server& s) { return s.name == name; });
        if (it == matching.end()) {
            if (!inventory.find(name)) {
                fail(exit_code::k_no_input, "no server named {}", name);
            }
            continue; // excluded by --where
        }
        if (std::none_of(out.begin(), out.end(), [&](const Server& s) { return s.name == name; })) {
            out.push_back(*it);
        }
    }
    return out;
}

void record_status(Database& db, std::int64_t server_id, const HostReport& report) {
    if (report.outcome == HostOutcome::ok) {
        Inventory(db).record_contact(server_id);
    } else if (report.outcome == HostOutcome::unreachable || report.outcome == HostOutcome::failed) {
        Inventory(db).record_failure(server_id, report.message());
    }
}

// One server, start to end: spool directory, session, fetch.
HostReport fetch_server(const Server& s, TransferMode mode, const SshSettings& ssh, const FetchRequest& req,
                        const CommonOptions& opts, Progress& progress) {
    HostReport report;
    report.server = s.name;
    std::string step = "spool";
    try {
        HostFetchSettings hs;
        hs.mode = mode;
        hs.dry_run = req.dry_run;
        if (!req.dry_run) {
            hs.spool_dir = prepare_spool_dir(opts.spool, s.name);
        }
        // Half the command time limit: the survey that claims and waits
        // must end within it, listing included.
        hs.rotate_wait = std::min<std::chrono::milliseconds>(std::chrono::seconds(10), ssh.io_timeout / 2);
        hs.io_timeout = ssh.io_timeout;
        hs.on_bytes = [&progress](std::uint64_t n) { progress.add_bytes(n); };
        step = "connect";
        SshTarget target;
        target.name = s.name;
        target.address = s.address;
        target.port = s.port == 22 ? 0 : s.port; // 22 is the column's default: ssh_config may say better
        target.user = s.ssh_user.value_or(opts.ssh_user);
        const auto started = Clock::now();
        SshSession session(target, ssh);
        session.set_deadline(started + std::chrono::seconds(req.timeout));
        SessionHost host(session, ssh.io_timeout);
        report = fetch_host_logs(host, s, hs);
    } catch (const SshError& e) {
        report.outcome =
            e.failure_class() == FailureClass::unreachable ? HostOutcome::unreachable : HostOutcome::failed;
        report.step = e.step().empty() ? step : e.step();
        report.cause = e.what();
    } catch (const Error& e) {
        report.outcome = HostOutcome::failed;
        report.step = step;
        report.cause = e.what();
    }
    if (report.outcome != HostOutcome::ok && interrupted()) {
        report.outcome = HostOutcome::interrupted;
    }
    return report;
}

} // namespace

void add_fetchlogs_options(CLI::App& app, FetchRequest& request) {
    app.add_option("-H,--hosts", request.hosts, "only these servers, comma-separated (inactive ones too)")
        ->delimiter(',');
    app.add_option("--where", request.where, "only servers matching this read-only SQL condition");
    setting(app.add_option("--transfer", request.transfer, "sftp, zstd (compressed stream) or auto")
                ->check(CLI::IsMember({"sftp", "zstd", "auto"}))
                ->capture_default_str());
    app.add_flag("--dry-run", request.dry_run, "connect and list what would be claimed and fetched; change nothing");
    app.add_flag("--accept-new", request.accept_new, "record unknown host keys (changed ones are always refused)");
    setting(app.add_option("-j,--jobs", request.jobs, "hosts fetched at once")
                ->check(CLI::Range(1, 64))
                ->capture_default_str());
    setting(app.add_option("--timeout", request.timeout, "seconds allowed for one host")
                ->check(CLI::Range(1, 86400))
                ->capture_default_str());
    setting(app.add_option("--ssh-config", request.ssh_config, "ssh_config file (default ~/.ssh/config)"));
}

int run_fetchlogs(const FetchRequest& req, const CommonOptions& opts) {
    if (req.jobs < 1 || req.jobs > 64) {
        fail(exit_code::k_usage, "--jobs must be between 1 and 64");
    }
    if (req.timeout < 1) {
        fail(exit_code::k_usage, "--timeout must be at least 1 second");
    }
    const TransferMode mode = parse_transfer_mode(req.transfer);
    const SshSettings ssh = ssh_settings_from(opts, req.ssh_config, req.accept_new);

    // The inventory must exist (wp-hosts creates it): a mistyped --db is an
    // error, never a new empty database.
    Database db(opts.db, req.dry_run ? OpenMode::read_only : OpenMode::read_write);
    // A dry run changes nothing here either: no spool, no lock, no host_status.
    std::optional<LockFile> lock;
    if (!req.dry_run) {
        make_directories(opts.spool, 0755);
        lock.emplace(opts.spool + "/.wp-fetchlogs.lock");
    }
    const std::vector<Server> servers = select_servers(db, req);
    if (servers.empty()) {
        info(1, "no server selected");
        return exit_code::k_ok;
    }

    std::vector<HostReport> reports(servers.size());
    std::vector<char> finished(servers.size(), 0); // not vector<bool>: written from several threads
    std::mutex db_mutex;
    // With -v the messages are the progress; a status line would tangle with them.
    Progress progress(servers.size(), verbosity() == 0 && is_smart_terminal(stderr));
    HostPool pool(req.jobs);
    pool.run(servers.size(), [&](std::size_t i) {
        const Server& s = servers[i];
        HostReport report = fetch_server(s, mode, ssh, req, opts, progress);
        switch (report.outcome) {
        case HostOutcome::failed:
            progress.warning(fmt::format("{}: {}", s.name, report.message()));
            break;
        case HostOutcome::unreachable:
            info(1, "{}: not reachable: {}", s.name, report.message());
            break;
        case HostOutcome::ok:
            info(1, "{}: {} files, {} bytes", s.name, report.files, report.bytes);
            break;
        case HostOutcome::interrupted:
            break;
        }
        if (!req.dry_run) {
            std::lock_guard lock_db(db_mutex);
            record_status(db, s.id, report);
        }
        progress.host_done(report);
        reports[i] = std::move(report);
        finished[i] = 1;
    });
    progress.finish();
    if (req.dry_run) {
        for (std::size_t i = 0; i < servers.size(); ++i) {
            for (const auto& line : reports[i].planned) {
                fmt::print("{}: {}\n", servers[i].name, line);
            }
        }
        std::fflush(stdout);
    }

    std::size_t unreachable = 0;
    std::size_t failed = 0;
    std::size_t ok = 0;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        if (!finished[i]) {
            continue;
        }
        switch (reports[i].outcome) {
        case HostOutcome::ok:
            ++ok;
            break;
        case HostOutcome::unreachable:
            ++unreachable;
            break;
        case HostOutcome::failed:
            ++failed;
            break;
        case HostOutcome::interrupted:
            break;
        }
    }
    // After warnings (cron mails stderr), one line that sums the run up;
    // hosts that did not answer alone leave the run quiet (monitoring
    // reports them), so they show only with -v.
    std::string summary = fmt::format("{} host{}: {} {}, {} failed, {} not reachable", servers.size(),
                                      servers.size() == 1 ? "" : "s", ok, req.dry_run ? "listed" : "fetched", failed,
                                      unreachable);
    if (interrupted()) {
        summary += ", interrupted";
    }
    info(failed > 0 || interrupted() ? 0 : 1, "{}", summary);
    if (interrupted()) {
        return exit_code::k_partial;
    }
    if (unreachable == servers.size()) {
        std::vector<std::string> causes;
        for (const auto& r : reports) {
            causes.push_back(fmt::format("{}: {}", r.server, r.message()));
        }
        fail(exit_code::k_unavailable, "no server answered ({} tried): {}", servers.size(), fmt::join(causes, "; "));
    }
    return failed > 0 ? exit_code::k_partial : exit_code::k_ok;
}

} // namespace wp
