#include "provision/provision_run.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "provision/host_target.h"
#include "remote/remote_host.h"

namespace wp {

namespace {

using Clock = std::chrono::steady_clock;

ProvisionJob new_server_job(Inventory* inventory, const std::string& name, const std::string& target,
                            const std::string& default_user) {
    if (auto p = check_server_name(name); !p.empty()) {
        fail(exit_code::k_usage, "--name: {}", p);
    }
    ProvisionJob job;
    job.name = name;
    const HostTarget t = parse_host_target(target);
    job.target.name = name;
    job.target.address = t.address;
    job.target.port = t.port;
    job.target.user = t.user.empty() ? default_user : t.user;
    if (inventory != nullptr) {
        job.server = inventory->find(name);
    }
    if (job.server && (job.server->address != t.address || job.server->port != t.port)) {
        fail(exit_code::k_usage, "server {} is in the inventory at {}:{}, not {}:{}", name, job.server->address,
             job.server->port, t.address, t.port);
    }
    return job;
}

} // namespace

std::vector<ProvisionJob> select_jobs(Inventory* inventory, const std::string& new_name,
                                      const std::vector<std::string>& hosts, const std::string& default_user) {
    if (!new_name.empty()) {
        if (hosts.size() != 1) {
            fail(exit_code::k_usage, "--name {} takes exactly one [USER@]ADDRESS[:PORT]", new_name);
        }
        return {new_server_job(inventory, new_name, hosts[0], default_user)};
    }
    std::vector<ProvisionJob> jobs;
    for (const auto& name : hosts) {
        std::optional<Server> s = inventory != nullptr ? inventory->find(name) : std::nullopt;
        if (!s) {
            fail(exit_code::k_no_input, "no server named {} (a new one is added with --name NAME ADDRESS)", name);
        }
        if (std::any_of(jobs.begin(), jobs.end(), [&](const ProvisionJob& j) { return j.name == name; })) {
            continue;
        }
        ProvisionJob job;
        job.name = name;
        job.target.name = name;
        job.target.address = s->address;
        job.target.port = s->port == 22 ? 0 : s->port; // 22 is the column's default: ssh_config may say better
        job.target.user = s->ssh_user.value_or(default_user);
        job.server = std::move(s);
        jobs.push_back(std::move(job));
    }
    return jobs;
}

std::string expand_hostname(std::string_view pattern, std::string_view server) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'n') {
            out += server;
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

namespace {

StepResult add_server_step(Inventory* inventory, const ProvisionJob& job, const ServerDetails& details,
                           const VirtDetection& virt, bool apply) {
    StepResult r;
    r.step = "inventory";
    Server s;
    s.name = job.name;
    s.address = job.target.address;
    s.port = job.target.port > 0 ? job.target.port : 22;
    if (!job.target.user.empty()) s.ssh_user = job.target.user;
    s.city = details.city;
    s.country = details.country;
    s.provider = details.provider;
    s.virt = virt.inventory_virt();
    r.status = apply ? StepStatus::changed : StepStatus::would_change;
    r.detail = fmt::format("{} {} ({}:{}, virt {})", apply ? "added" : "would add", s.name, s.address, s.port, s.virt);
    if (apply) {
        inventory->add(s);
    }
    return r;
}

} // namespace

StepResult inventory_step(Inventory* inventory, const ProvisionJob& job, const ServerDetails& details,
                          const VirtDetection& virt, bool apply) {
    if (!job.server) {
        return add_server_step(inventory, job, details, virt, apply);
    }
    StepResult r;
    r.step = "inventory";
    const Server& s = *job.server;
    ServerChanges c;
    std::vector<std::string> parts;
    const std::string v = virt_for_inventory(s.virt, virt);
    if (v != s.virt) {
        c.virt = v;
        parts.push_back(fmt::format("virt {} -> {}", s.virt, v));
    }
    if (!s.active) {
        c.active = true;
        parts.emplace_back("active");
    }
    auto field = [&](const std::optional<std::string>& want, const std::optional<std::string>& have,
                     std::optional<std::string>& change, std::string_view what) {
        if (want && want != have) {
            change = want;
            parts.push_back(fmt::format("{} {}", what, *want));
        }
    };
    field(details.city, s.city, c.city, "city");
    field(details.country, s.country, c.country, "country");
    field(details.provider, s.provider, c.provider, "provider");
    if (parts.empty()) {
        r.detail = fmt::format("{} (virt {}, active)", s.name, s.virt);
        return r;
    }
    r.status = apply ? StepStatus::changed : StepStatus::would_change;
    r.detail = fmt::format("{}: {}", s.name, fmt::join(parts, ", "));
    if (apply) {
        inventory->change(s.name, c);
    }
    return r;
}

ProvisionRun::ProvisionRun(ProvisionRunSettings settings, Inventory* inventory, ProvisionOutput& out,
                           AnswerLists& lists)
    : m_settings(std::move(settings)), m_inventory(inventory), m_out(out), m_lists(lists) {}

ProvisionResult ProvisionRun::run_host(const ProvisionJob& job) {
    ProvisionResult result;
    result.host.server = job.name;
    auto line = [&](const std::string& text) { m_out.line(job.name, text); };
    auto host_warn = [&](const std::string& text) { warn("{}: {}", job.name, text); };
    ProvisionSettings s = m_settings.steps;
    if (!m_settings.hostname.empty()) {
        s.hostname = expand_hostname(m_settings.hostname, job.name);
        if (auto p = check_hostname(s.hostname); !p.empty()) {
            // Refused before any contact: nothing to record, nothing else to say.
            host_warn(fmt::format("--hostname: {}", p));
            result.host.outcome = HostOutcome::failed;
            result.host.step = "--hostname";
            result.host.cause = p;
            return result;
        }
    }
    if (m_settings.ask) {
        s.ask = [&](const PackageDecision& d) { return m_out.ask(job.name, d); };
    }
    s.remember = [&](const std::string& package, Answer a) { m_lists.add(package, a); };

    const bool apply = m_settings.steps.apply;
    HostRun run;
    bool unreachable = false;
    try {
        SshSession session(job.target, m_settings.ssh);
        result.host.contacted = true;
        session.set_deadline(Clock::now() + m_settings.timeout);
        SshHost host(session);
        run = provision_host(host, s, job.server ? job.server->virt : "unknown", line, host_warn);
    } catch (const SshError& e) {
        run.steps.push_back({e.step().empty() ? "connect" : e.step(), StepStatus::failed, e.what()});
        unreachable = e.failure_class() == FailureClass::unreachable;
        line(describe_step(run.steps.back()));
    } catch (const Error& e) {
        run.steps.push_back({"connect", StepStatus::failed, e.what()});
        line(describe_step(run.steps.back()));
    }
    if (!run.failed() && run.virt) {
        std::lock_guard lock(m_inventory_mutex);
        try {
            run.steps.push_back(inventory_step(m_inventory, job, m_settings.details, *run.virt, apply));
        } catch (const Error& e) {
            run.steps.push_back({"inventory", StepStatus::failed, e.what()});
        }
        line(describe_step(run.steps.back()));
    }
    if (run.failed()) {
        // Any failed step is a failure in host_status, Ctrl-C's "interrupted"
        // included; its last_error reads as the closing line does.
        result.host.outcome = unreachable ? HostOutcome::unreachable : HostOutcome::failed;
        result.host.step = fmt::format("failed at {}", run.steps.back().step);
        result.host.cause = run.steps.back().detail;
    } else {
        result.host.outcome = HostOutcome::ok;
    }
    result.host.clock = run.clock;
    result.steps = std::move(run.steps);
    record(job, result);
    report(job, result);
    return result;
}

void ProvisionRun::record(const ProvisionJob& job, const ProvisionResult& result) {
    // A plan changes nothing, host_status included.
    if (!m_settings.steps.apply || m_inventory == nullptr) {
        return;
    }
    std::lock_guard lock(m_inventory_mutex);
    if (auto server = m_inventory->find(job.name)) {
        record_host_status(*m_inventory, server->id, result.host);
    }
}

void ProvisionRun::report(const ProvisionJob& job, const ProvisionResult& result) {
    const bool apply = m_settings.steps.apply;
    switch (result.host.outcome) {
    case HostOutcome::ok:
        m_out.line(job.name, summarize_host(result.steps, apply));
        break;
    case HostOutcome::unreachable:
        info(1, "{}: not reachable: {}", job.name, result.steps.back().detail);
        break;
    default:
        if (!interrupted()) {
            warn("{}: {}", job.name, summarize_host(result.steps, apply));
        }
        break;
    }
}

} // namespace wp
