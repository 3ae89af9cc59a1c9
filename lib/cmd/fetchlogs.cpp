#include "cmd/fetchlogs.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "base/host_range.h"
#include "base/progress.h"
#include "base/table.h"
#include "fetch/host_fetch.h"
#include "fetch/spool.h"
#include "remote/remote_host.h"
#include "remote/ssh.h"
#include "store/db.h"
#include "store/host_status.h"
#include "store/inventory.h"

namespace wp {

namespace {

// fetch_host_logs' settings for one server; creates its spool directory
// (none on a dry run).
HostFetchSettings host_fetch_settings(const Server& s, TransferMode mode, const SshSettings& ssh,
                                      const FetchRequest& req, const CommonOptions& opts, Progress& progress) {
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
    return hs;
}

SshTarget ssh_target(const Server& s, const CommonOptions& opts) {
    SshTarget target;
    target.name = s.name;
    target.address = s.address;
    target.port = s.port == 22 ? 0 : s.port; // 22 is the column's default: ssh_config may say better
    target.user = s.ssh_user.value_or(opts.ssh_user);
    return target;
}

// One server, start to end: spool directory, session, fetch.
HostReport fetch_server(const Server& s, TransferMode mode, const SshSettings& ssh, const FetchRequest& req,
                        const CommonOptions& opts, Progress& progress) {
    HostReport report;
    report.result.server = s.name;
    std::string step = "spool";
    try {
        const HostFetchSettings hs = host_fetch_settings(s, mode, ssh, req, opts, progress);
        step = "connect";
        const auto started = std::chrono::steady_clock::now();
        const SshTarget target = ssh_target(s, opts);
        SshSession session(target, ssh);
        session.set_deadline(started + std::chrono::seconds(req.timeout));
        SshHost host(session);
        report = fetch_host_logs(host, s, hs);
    } catch (const SshError& e) {
        report.result.outcome =
            e.failure_class() == FailureClass::unreachable ? HostOutcome::unreachable : HostOutcome::failed;
        report.result.step = e.step().empty() ? step : e.step();
        report.result.cause = e.what();
    } catch (const Error& e) {
        report.result.outcome = HostOutcome::failed;
        report.result.step = step;
        report.result.cause = e.what();
    }
    if (report.result.outcome != HostOutcome::ok && interrupted()) {
        report.result.outcome = HostOutcome::interrupted;
    }
    return report;
}

// What a host's end shows: a warning when it failed; with -v, the rest.
void tell_host_done(const HostReport& report, Progress& progress) {
    const HostResult& r = report.result;
    switch (r.outcome) {
    case HostOutcome::failed:
        progress.warning(fmt::format("{}: {}", r.server, r.message()));
        break;
    case HostOutcome::unreachable:
        info(1, "{}: not reachable: {}", r.server, r.message());
        break;
    case HostOutcome::ok:
        info(1, "{}: {} files, {} bytes", r.server, report.files, report.bytes);
        break;
    // Interrupted: the summary says so. The rest never come from fetch_server.
    case HostOutcome::interrupted:
    case HostOutcome::command_failed:
    case HostOutcome::timed_out:
    case HostOutcome::down:
    case HostOutcome::not_run:
        break;
    }
}

// Usage is billed by the hour the host's Squid writes, so a host whose clock
// is off by more than the limit has its usage put in the wrong hours. Only an
// offset that is beyond the limit whatever the true value within the
// reading's uncertainty counts: a slow link widens the uncertainty and so
// never raises a false alarm.
void warn_clock_offset(const HostResult& r, double max_offset_s, Progress& progress) {
    if (!r.clock) {
        return;
    }
    const std::int64_t off = r.clock->offset_ms;
    const std::int64_t magnitude = off < 0 ? -off : off;
    if (static_cast<double>(magnitude - r.clock->uncertainty_ms) <= max_offset_s * 1000.0) {
        return;
    }
    progress.warning(fmt::format("{}: clock {:.3f} s {} (\u00b1{:.3f} s) of this collector's: its usage hours may be "
                                 "misbilled",
                                 r.server, static_cast<double>(magnitude) / 1000.0, off < 0 ? "behind" : "ahead",
                                 static_cast<double>(r.clock->uncertainty_ms) / 1000.0));
}

} // namespace

void add_fetchlogs_options(CLI::App& app, FetchRequest& request) {
    add_host_options(app, request.select);
    app.add_flag("--list", request.list, "print the selected servers folded into ranges (tor[1-3]) and exit");
    setting(app.add_option("--transfer", request.transfer, "sftp, zstd (compressed stream) or auto")
                ->check(CLI::IsMember({"sftp", "zstd", "auto"}))
                ->capture_default_str());
    app.add_flag("--dry-run", request.dry_run, "connect and list what would be claimed and fetched; change nothing");
    app.add_flag("--accept-new", request.accept_new, "record unknown host keys (changed ones are always refused)");
    add_jobs_option(app, request.jobs, "hosts fetched at once");
    setting(app.add_option("--timeout", request.timeout, "seconds allowed for one host")
                ->check(CLI::Range(1, 86400))
                ->capture_default_str());
    setting(app.add_option("--ssh-config", request.ssh_config, "ssh_config file (default ~/.ssh/config)"));
    setting(app.add_option("--max-clock-offset", request.max_clock_offset,
                           "seconds a host's clock may be off this one's before a warning")
                ->check(CLI::Range(0.0, 86400.0))
                ->capture_default_str());
}

namespace {

// Each server belongs to one collector, and this one fetches only its own:
// by default the others' are left out; naming one is a usage error.
std::vector<Server> own_servers(std::vector<Server> servers, const NamedHosts& named, const std::string& collector) {
    std::vector<std::string> others;
    std::erase_if(servers, [&](const Server& s) {
        const bool other = s.collector.value_or("") != collector;
        if (other) {
            others.push_back(s.name);
        }
        return other;
    });
    if (!others.empty() && !named.words.empty()) {
        fail(exit_code::k_usage,
             "{} belong{} to another collector than this one ({}): each collector fetches its own servers "
             "(wp-hosts set NAME --collector C)",
             fold_host_names(others), others.size() == 1 ? "s" : "",
             collector.empty() ? std::string("the one without a name") : fmt::format("collector = {}", collector));
    }
    return servers;
}

} // namespace

int run_fetchlogs(const FetchRequest& req, const CommonOptions& opts) {
    if (req.timeout < 1) {
        fail(exit_code::k_usage, "--timeout must be at least 1 second");
    }
    const NamedHosts named = named_hosts(req.select);
    if (req.list) {
        // Only reads: it works for a user who may not write the database.
        const auto reader = open_for_reading(opts.db);
        Inventory inventory(*reader);
        print_folded(names_of(own_servers(select_servers(inventory, req.select, named), named, opts.collector)));
        return exit_code::k_ok;
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
    Inventory inventory(db);
    const std::vector<Server> servers =
        own_servers(select_servers(inventory, req.select, named), named, opts.collector);
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
        tell_host_done(report, progress);
        warn_clock_offset(report.result, req.max_clock_offset, progress);
        if (!req.dry_run) {
            std::lock_guard lock_db(db_mutex);
            record_host_status(inventory, s.id, report.result);
            if (report.result.outcome == HostOutcome::ok) {
                inventory.record_fetch(s.id);
            }
        }
        progress.host_done(static_cast<std::size_t>(report.files));
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

    // Hosts finished with outcome, of those a task started.
    const auto finished_with = [&](HostOutcome outcome) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < servers.size(); ++i) {
            n += finished[i] && reports[i].result.outcome == outcome ? 1 : 0;
        }
        return n;
    };
    const std::size_t unreachable = finished_with(HostOutcome::unreachable);
    const std::size_t failed = finished_with(HostOutcome::failed);
    const std::size_t ok = finished_with(HostOutcome::ok);
    // After warnings (cron mails stderr), one line that sums the run up;
    // hosts that did not answer alone leave the run quiet (monitoring
    // reports them), so they show only with -v.
    std::string summary =
        fmt::format("{} host{}: {} {}, {} failed, {} not reachable", servers.size(), servers.size() == 1 ? "" : "s", ok,
                    req.dry_run ? "listed" : "fetched", failed, unreachable);
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
            causes.push_back(fmt::format("{}: {}", r.result.server, r.result.message()));
        }
        fail(exit_code::k_unavailable, "no server answered ({} tried): {}", servers.size(), fmt::join(causes, "; "));
    }
    return failed > 0 ? exit_code::k_partial : exit_code::k_ok;
}

} // namespace wp
