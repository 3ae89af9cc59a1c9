#include "fetch/host_fetch.h"

#include <optional>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "fetch/claim.h"
#include "fetch/digest.h"
#include "fetch/spool.h"
#include "fetch/zstd_stream.h"
#include "store/host_clock.h"

namespace wp {

namespace {

using Clock = std::chrono::steady_clock;

// A failed step of a host that answered: the report's cause.
class StepFailure : public std::runtime_error {
public:
    explicit StepFailure(const std::string& cause) : std::runtime_error(cause) {}
};

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
    // A command on the host, bounded by io_timeout: a hung host must not
    // hold the run until its whole-host deadline.
    ExecResult run(const std::string& command) {
        ExecOptions options;
        options.timeout = m_settings.io_timeout;
        return m_host.run(command, options);
    }

    // A command whose output streams here: bounded by its silence, since a
    // large file takes longer than io_timeout to send.
    ExecResult run_streamed(const std::string& command, const std::function<void(std::string_view)>& on_stdout) {
        ExecOptions options;
        options.on_stdout = on_stdout;
        options.idle_timeout = m_settings.io_timeout;
        return m_host.run(command, options);
    }

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
        const bool zstd =
            m_settings.mode == TransferMode::zstd || (m_settings.mode == TransferMode::automatic && listing.has_zstd);
        out.push_back(fmt::format("transfer: {}", zstd ? "zstd stream" : "sftp"));
    }

    // List, claim and rotate in one round trip (survey_command).
    LogListing survey(const std::string& stamp) {
        m_step = fmt::format("list {}", m_dir);
        const std::int64_t wait_ms = m_settings.rotate_wait.count();
        // The host's clock is read first; the bracket closes when its line
        // arrives, not when the survey (which may wait for Squid) ends.
        std::string out;
        ClockLine clock([&out](std::string_view data) { out.append(data); });
        ExecOptions options;
        options.timeout = m_settings.io_timeout;
        options.on_stdout = [&clock](std::string_view data) { clock.feed(data); };
        options.on_send = [&clock] { clock.sent(); };
        clock.sent();
        ExecResult r;
        try {
            r = m_host.run(survey_command(m_server.log_path, stamp, m_server.rotate_cmd, wait_ms), options);
        } catch (...) {
            m_report.result.clock = clock.reading();
            throw;
        }
        clock.finish();
        m_report.result.clock = clock.reading();
        r.out = std::move(out);
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
        const std::string problem =
            parse_rotate_outcome(run(rotate_command(m_server.rotate_cmd, m_server.log_path, wait_ms)),
                                 m_server.rotate_cmd, m_server.log_path, wait_ms);
        if (!problem.empty()) {
            throw StepFailure(problem);
        }
    }

    // Over SFTP, with the host's checksum computed on a channel of its own
    // meanwhile, so that it is ready (nearly) when the last byte arrives.
    // Returns the host's answer; the caller checks it.
    std::optional<RemoteDigest> download_sftp(const std::string& path,
                                              const std::function<void(std::string_view)>& sink, SpoolWriter& writer,
                                              std::uint64_t& size, std::string& digest_output) {
        m_step = fmt::format("verify {}", path);
        const ExecResult r = m_host.run_alongside(digest_command(path), [&]() -> std::chrono::seconds {
            m_step = fmt::format("download {}", path);
            m_host.download(path, sink);
            writer.flush();
            m_transfer_end = Clock::now();
            m_step = fmt::format("verify {}", path);
            // What the host may still have to hash after the last byte.
            return m_settings.io_timeout + std::chrono::seconds(size >> 24);
        });
        must(r);
        digest_output = r.out;
        return parse_remote_digest(r.out);
    }

    // As a zstd stream, with the host's checksum computed in its background.
    std::optional<RemoteDigest> download_zstd(const std::string& path,
                                              const std::function<void(std::string_view)>& sink, SpoolWriter& writer,
                                              std::string& digest_output) {
        m_step = fmt::format("download {}", path);
        ZstdStream stream(sink);
        ExecResult r = run_streamed(zstd_stream_command(path), [&](std::string_view data) { stream.feed(data); });
        digest_output = r.err;
        std::optional<RemoteDigest> remote = take_stream_digest(r);
        must(r, "zstd");
        stream.finish();
        writer.flush();
        m_transfer_end = Clock::now();
        m_step = fmt::format("verify {}", path);
        return remote;
    }

    void fetch_claimed_file(const std::string& name, TransferMode mode) {
        const std::string path = join_path(m_dir, name);
        std::vector<std::string> existing =
            spool_paths(m_settings.spool_dir, m_server.name, claimed_stamp(m_base, name));
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
        const auto transfer_start = Clock::now();
        m_transfer_end = transfer_start;
        std::string digest_output;
        const std::optional<RemoteDigest> remote = mode == TransferMode::sftp
                                                       ? download_sftp(path, sink, writer, size, digest_output)
                                                       : download_zstd(path, sink, writer, digest_output);
        const std::string local = sha.hex_digest();
        if (!remote) {
            throw StepFailure(digest_output.empty() ? std::string("no checksum from the host")
                                                    : fmt::format("unexpected checksum from the host: {}",
                                                                  escape_control(digest_output.substr(0, 200))));
        }
        if (remote->size != size || remote->sha256 != local) {
            m_step = fmt::format("download {}", path);
            throw StepFailure(
                fmt::format("checksum mismatch (the host has {} bytes, SHA-256 {}; received {} bytes, SHA-256 {}); "
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
        must(run(fmt::format("rm -f -- {}", shell_quote(path))));
        ++m_report.files;
        m_report.bytes += size;
        const double seconds = std::chrono::duration<double>(m_transfer_end - transfer_start).count();
        info(2, "{}: fetched {} ({} bytes, {:.1f} MB/s by {}; verified and committed in {:.2f} s)", m_server.name, path,
             size, seconds > 0 ? static_cast<double>(size) / 1e6 / seconds : 0.0,
             mode == TransferMode::sftp ? "sftp" : "zstd",
             std::chrono::duration<double>(Clock::now() - m_transfer_end).count());
    }

    RemoteHost& m_host;
    const Server& m_server;
    const HostFetchSettings& m_settings;
    HostReport& m_report;
    std::string m_step = "list";
    std::string m_dir;
    std::string m_base;
    Clock::time_point m_transfer_end{}; ///< when the current file's last byte was in
};

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

HostReport fetch_host_logs(RemoteHost& host, const Server& server, const HostFetchSettings& settings) {
    HostReport report;
    report.result.server = server.name;
    report.result.contacted = true; // the connection is open
    HostFetch fetch(host, server, settings, report);
    auto failed = [&](std::string step, const char* cause) {
        report.result.outcome = interrupted() ? HostOutcome::interrupted : HostOutcome::failed;
        report.result.step = std::move(step);
        report.result.cause = cause;
    };
    try {
        fetch.run();
        report.result.outcome = HostOutcome::ok;
    } catch (const StepFailure& e) {
        failed(fetch.step(), e.what());
    } catch (const SshError& e) {
        failed(e.step().empty() ? fetch.step() : e.step(), e.what());
    } catch (const Error& e) {
        failed(fetch.step(), e.what());
    }
    return report;
}

} // namespace wp
