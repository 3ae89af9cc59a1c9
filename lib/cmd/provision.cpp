#include "cmd/provision.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "store/db.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "store/inventory.h"
#include "provision/packages.h"
#include "cmd/provision_bootstrap.h"
#include "provision/provision_steps.h"
#include "remote/ssh.h"
#include "base/diagnostics.h"

namespace wp {

namespace {

using Clock = std::chrono::steady_clock;

// The SSH session as the steps see a host.
class SessionHost : public ProvisionHost {
public:
    explicit SessionHost(SshSession& session) : m_session(session) {}

    ExecResult run(const std::string& command, std::string_view input) override {
        ExecOptions options;
        options.stdin_data = input;
        return m_session.exec(command, options);
    }

    void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) override {
        m_session.sftp_upload(local_path, remote_path, mode);
    }

private:
    SshSession& m_session;
};

// One line at a time on stdout, whichever host's thread writes it.
class Output {
public:
    void line(std::string_view host, std::string_view text) {
        if (verbosity() < 0) {
            return;
        }
        std::lock_guard lock(m_mutex);
        fmt::print("{}: {}\n", host, escape_control(text));
        std::fflush(stdout);
    }
    std::mutex& mutex() { return m_mutex; }

private:
    std::mutex m_mutex;
};

// A host to provision: where it is and what the inventory knows of it.
struct Job {
    std::string name; ///< inventory name (or the one --name gives)
    SshTarget target;
    std::optional<Server> server; ///< its row, when it has one
};

constexpr std::string_view k_learned_header =
    "# Role: learned. Packages an operator chose to keep when wp-provision asked\n"
    "# (k at the prompt, or 'keep' in an --answers file with --learn).\n"
    "#\n"
    "# One Debian binary package name per line, sorted (LC_ALL=C sort).\n";

// --learn and the k/p replies: one writer at a time, whatever the host.
class ListWriter {
public:
    explicit ListWriter(std::string dir) : m_dir(std::move(dir)) {}

    void add(const std::string& package, Answer answer) {
        std::lock_guard lock(m_mutex);
        const std::string path = answer == Answer::keep ? m_dir + "/packages/learned" : m_dir + "/packages-blacklist";
        std::string text;
        mode_t mode = 0644;
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            text = read_file(path);
            mode = st.st_mode & 07777;
        } else {
            text = std::string(k_learned_header);
        }
        const std::string updated = add_to_list(text, package);
        if (updated != text) {
            atomic_write_file(path, updated, mode);
            info(1, "{}: added {}", path, package);
        }
    }

private:
    std::mutex m_mutex;
    std::string m_dir;
};

// The y/n/k/p question on the terminal, one host at a time.
Reply ask_on_terminal(Output& out, std::string_view host, const PackageDecision& d) {
    std::lock_guard lock(out.mutex());
    for (;;) {
        fmt::print(stderr, "{}: {} -- purge it? [y]es, [n]o, [k]eep and whitelist, [p]urge and blacklist: ", host,
                   escape_control(d.describe()));
        std::fflush(stderr);
        std::string reply;
        if (!std::getline(std::cin, reply)) {
            return {};
        }
        if (reply == "y" || reply == "yes") return {Answer::purge, false};
        if (reply == "n" || reply == "no") return {Answer::keep, false};
        if (reply == "k") return {Answer::keep, true};
        if (reply == "p") return {Answer::purge, true};
    }
}

void record_status(Database& db, std::int64_t server_id, const std::string& error) {
    Inventory inventory(db);
    if (error.empty()) {
        inventory.record_contact(server_id);
    } else {
        inventory.record_failure(server_id, error);
    }
}

// The inventory step: add the server, or bring its row up to date.
StepResult inventory_step(Inventory* inventory, const Job& job, const ProvisionRequest& req, const VirtDetection& virt,
                          bool apply) {
    StepResult r;
    r.step = "inventory";
    const StepStatus changed = apply ? StepStatus::changed : StepStatus::would_change;
    if (!job.server) {
        Server s;
        s.name = job.name;
        s.address = job.target.address;
        s.port = job.target.port > 0 ? job.target.port : 22;
        if (!job.target.user.empty()) s.ssh_user = job.target.user;
        s.city = req.city;
        s.country = req.country;
        s.provider = req.provider;
        s.virt = virt.inventory_virt();
        r.status = changed;
        r.detail =
            fmt::format("{} {} ({}:{}, virt {})", apply ? "added" : "would add", s.name, s.address, s.port, s.virt);
        if (apply) {
            inventory->add(s);
        }
        return r;
    }
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
    field(req.city, s.city, c.city, "city");
    field(req.country, s.country, c.country, "country");
    field(req.provider, s.provider, c.provider, "provider");
    if (parts.empty()) {
        r.detail = fmt::format("{} (virt {}, active)", s.name, s.virt);
        return r;
    }
    r.status = changed;
    r.detail = fmt::format("{}: {}", s.name, fmt::join(parts, ", "));
    if (apply) {
        inventory->change(s.name, c);
    }
    return r;
}

std::vector<Job> select_jobs(Inventory* inventory, const ProvisionRequest& req, const CommonOptions& opts) {
    std::vector<Job> jobs;
    if (!req.name.empty()) {
        if (req.hosts.size() != 1) {
            fail(exit_code::k_usage, "--name {} takes exactly one [USER@]ADDRESS[:PORT]", req.name);
        }
        if (auto p = check_server_name(req.name); !p.empty()) {
            fail(exit_code::k_usage, "--name: {}", p);
        }
        Job job;
        job.name = req.name;
        const HostTarget t = parse_host_target(req.hosts[0]);
        job.target.name = req.name;
        job.target.address = t.address;
        job.target.port = t.port;
        job.target.user = t.user.empty() ? opts.ssh_user : t.user;
        if (inventory != nullptr) {
            job.server = inventory->find(req.name);
        }
        if (job.server && (job.server->address != t.address || job.server->port != t.port)) {
            fail(exit_code::k_usage, "server {} is in the inventory at {}:{}, not {}:{}", req.name, job.server->address,
                 job.server->port, t.address, t.port);
        }
        jobs.push_back(std::move(job));
        return jobs;
    }
    for (const auto& name : req.hosts) {
        std::optional<Server> s = inventory != nullptr ? inventory->find(name) : std::nullopt;
        if (!s) {
            fail(exit_code::k_no_input, "no server named {} (a new one is added with --name NAME ADDRESS)", name);
        }
        if (std::any_of(jobs.begin(), jobs.end(), [&](const Job& j) { return j.name == name; })) {
            continue;
        }
        Job job;
        job.name = name;
        job.target.name = name;
        job.target.address = s->address;
        job.target.port = s->port == 22 ? 0 : s->port; // 22 is the column's default: ssh_config may say better
        job.target.user = s->ssh_user.value_or(opts.ssh_user);
        job.server = std::move(s);
        jobs.push_back(std::move(job));
    }
    return jobs;
}

ProvisionSettings settings_from(const ProvisionRequest& req, const CommonOptions& opts) {
    ProvisionSettings s;
    s.apply = req.command == "apply";
    s.lists = PackageLists::load(opts.lists_dir());
    s.key = find_public_key(opts.identity);
    if (!req.to_release.empty()) {
        if (!std::all_of(req.to_release.begin(), req.to_release.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
            fail(exit_code::k_usage, "--to-release: '{}' is not a Debian codename", req.to_release);
        }
        s.to_release = req.to_release;
    }
    if (!req.files.empty()) {
        s.tree = read_config_tree(req.files);
        const std::string map = req.files + "/" + std::string(k_restart_map_name);
        if (::access(map.c_str(), F_OK) == 0) {
            s.restarts = parse_restart_map(read_file(map), map);
        }
    }
    if (!req.hostname.empty()) {
        if (auto p = check_hostname(expand_hostname(req.hostname, "x")); !p.empty()) {
            fail(exit_code::k_usage, "--hostname: {}", p);
        }
        if (req.hostname.find("%n") == std::string::npos && req.hosts.size() > 1) {
            fail(exit_code::k_usage, "--hostname {} for {} hosts: use %n for each server's name", req.hostname,
                 req.hosts.size());
        }
    }
    if (req.resolvers.size() > 3) {
        fail(exit_code::k_usage, "--resolver: at most 3 (the C library reads no more)");
    }
    for (const auto& r : req.resolvers) {
        if (auto p = check_resolver(r); !p.empty()) {
            fail(exit_code::k_usage, "--resolver: {}", p);
        }
    }
    s.resolvers = req.resolvers;
    if (!req.answers.empty()) {
        s.answers = parse_answers(read_file(req.answers), req.answers);
    }
    s.learn = req.learn;
    return s;
}

} // namespace

void add_provision_commands(CLI::App& app, ProvisionRequest& r) {
    app.require_subcommand(1);
    auto* plan =
        app.add_subcommand("plan", "connect, gather facts, print every step and package decision; change nothing");
    plan->add_option("host", r.hosts, "inventory names (with --name: one [USER@]ADDRESS[:PORT])")->required();
    auto* apply = app.add_subcommand("apply", "carry the steps out (idempotent: a second run changes nothing)");
    apply->add_option("host", r.hosts, "inventory names (with --name: one [USER@]ADDRESS[:PORT])")->required();
    auto* boot = app.add_subcommand("bootstrap", "first contact by password: install our public key");
    boot->add_option("target", r.hosts, "[USER@]ADDRESS[:PORT] (USER defaults to root)")->required()->expected(1);
    for (auto* sub : {plan, apply, boot}) {
        sub->callback([&r, sub] { r.command = sub->get_name(); });
    }

    auto* g = app.add_option_group("Provisioning");
    g->add_option("--name", r.name, "add the server to the inventory under this name");
    g->add_option_function<std::string>(
        "--city", [&r](const std::string& v) { r.city = v; }, "its city (with --name)");
    g->add_option_function<std::string>(
        "--country",
        [&r](const std::string& v) {
            std::string upper;
            if (auto p = check_country(v, upper); !p.empty()) {
                throw CLI::ValidationError("--country", p);
            }
            r.country = upper;
        },
        "its ISO 3166-1 alpha-2 country code, e.g. CA");
    g->add_option_function<std::string>(
        "--provider", [&r](const std::string& v) { r.provider = v; }, "its VPS provider");
    g->add_option("--to-release", r.to_release, "after the upgrade, move to this Debian release (e.g. trixie)");
    g->add_option("--files", r.files, "config tree pushed under / (restart map: DIR/.restart)");
    g->add_option("--hostname", r.hostname, "host name to set (%n: the server's inventory name)");
    g->add_option("--resolver", r.resolvers, "name server for /etc/resolv.conf (repeatable, at most 3)")
        ->allow_extra_args(false);
    g->add_flag("--no-ask", r.no_ask, "never ask: packages the rules ask about are left installed and listed");
    g->add_option("--answers", r.answers, "answers for asked packages: lines 'PACKAGE keep|purge'");
    g->add_flag("--learn", r.learn, "write the --answers used into the lists under --lists");
    g->add_option("--password-file", r.password_file, "bootstrap: the password on this file's first line");
    setting(g->add_option("--ssh-config", r.ssh_config, "ssh_config file (default ~/.ssh/config)"));
    g->add_flag("--accept-new", r.accept_new, "record unknown host keys (changed ones are always refused)");
    setting(g->add_option("-j,--jobs", r.jobs, "hosts provisioned at once")
                ->check(CLI::Range(1, 64))
                ->capture_default_str());
    setting(g->add_option("--timeout", r.timeout, "seconds allowed for one host")
                ->check(CLI::Range(1, 86400))
                ->capture_default_str());
}

HostTarget parse_host_target(std::string_view text) {
    HostTarget t;
    const std::string original(text);
    const auto at = text.rfind('@');
    if (at != std::string_view::npos) {
        t.user = std::string(text.substr(0, at));
        text.remove_prefix(at + 1);
        if (auto p = check_ssh_user(t.user); !p.empty()) {
            fail(exit_code::k_usage, "{}: user {}", original, p);
        }
    }
    std::string_view port;
    if (text.starts_with("[")) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            fail(exit_code::k_usage, "{}: unclosed '['", original);
        }
        t.address = std::string(text.substr(1, close - 1));
        text.remove_prefix(close + 1);
        if (!text.empty()) {
            if (text[0] != ':') {
                fail(exit_code::k_usage, "{}: expected ':PORT' after ']'", original);
            }
            port = text.substr(1);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        t.address = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
    } else {
        t.address = std::string(text); // a name, IPv4, or a bare IPv6 address
    }
    if (auto p = check_address(t.address); !p.empty()) {
        fail(exit_code::k_usage, "{}: address {}", original, p);
    }
    if (!port.empty() || text.ends_with(":")) {
        if (auto p = check_port(port, t.port); !p.empty()) {
            fail(exit_code::k_usage, "{}: port {}", original, p);
        }
    }
    return t;
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

std::string virt_for_inventory(std::string_view current, const VirtDetection& detected) {
    if (detected.openvz_family && (current == "openvz" || current == "virtuozzo")) {
        return std::string(current);
    }
    const std::string d = detected.inventory_virt();
    return d == "unknown" ? std::string(current) : d;
}

int run_provision(const ProvisionRequest& req, const CommonOptions& opts) {
    if (req.command == "bootstrap") {
        return run_bootstrap(req, opts);
    }
    const bool apply = req.command == "apply";
    ProvisionSettings settings = settings_from(req, opts);
    const SshSettings ssh = ssh_settings_from(opts, req.ssh_config, req.accept_new);

    // plan reads the inventory and writes nothing, not even a new database.
    std::unique_ptr<Database> db;
    if (apply) {
        make_directories(parent_directory(opts.db));
        db = std::make_unique<Database>(opts.db);
    } else if (::access(opts.db.c_str(), F_OK) == 0) {
        db = std::make_unique<Database>(opts.db, OpenMode::read_only);
    }
    std::unique_ptr<Inventory> inventory = db ? std::make_unique<Inventory>(*db) : nullptr;
    const std::vector<Job> jobs = select_jobs(inventory.get(), req, opts);

    Output out;
    ListWriter lists(opts.lists_dir());
    const bool terminal = !req.no_ask && ::isatty(STDIN_FILENO) != 0 && ::isatty(STDERR_FILENO) != 0;
    std::mutex db_mutex;
    std::vector<char> failed(jobs.size(), 0);
    std::vector<char> unreachable(jobs.size(), 0);
    HostPool pool(req.jobs);
    pool.run(jobs.size(), [&](std::size_t i) {
        const Job& job = jobs[i];
        auto line = [&](const std::string& text) { out.line(job.name, text); };
        auto host_warn = [&](const std::string& text) { warn("{}: {}", job.name, text); };
        ProvisionSettings s = settings;
        if (!req.hostname.empty()) {
            s.hostname = expand_hostname(req.hostname, job.name);
            if (auto p = check_hostname(s.hostname); !p.empty()) {
                host_warn(fmt::format("--hostname: {}", p));
                failed[i] = 1;
                return;
            }
        }
        if (terminal) {
            s.ask = [&](const PackageDecision& d) { return ask_on_terminal(out, job.name, d); };
        }
        s.remember = [&](const std::string& package, Answer a) { lists.add(package, a); };

        HostRun run;
        try {
            SshSession session(job.target, ssh);
            session.set_deadline(Clock::now() + std::chrono::seconds(req.timeout));
            SessionHost host(session);
            run = provision_host(host, s, job.server ? job.server->virt : "unknown", line, host_warn);
        } catch (const SshError& e) {
            run.steps.push_back({e.step().empty() ? "connect" : e.step(), StepStatus::failed, e.what()});
            unreachable[i] = e.failure_class() == FailureClass::unreachable;
            line(describe_step(run.steps.back()));
        } catch (const Error& e) {
            run.steps.push_back({"connect", StepStatus::failed, e.what()});
            line(describe_step(run.steps.back()));
        }
        if (!run.failed() && run.virt) {
            std::lock_guard lock(db_mutex);
            try {
                run.steps.push_back(inventory_step(inventory.get(), job, req, *run.virt, apply));
            } catch (const Error& e) {
                run.steps.push_back({"inventory", StepStatus::failed, e.what()});
            }
            line(describe_step(run.steps.back()));
        }
        failed[i] = run.failed();
        if (apply && db) {
            std::lock_guard lock(db_mutex);
            if (auto s2 = inventory->find(job.name)) {
                record_status(*db, s2->id, run.failed() ? summarize_host(run.steps, true) : "");
            }
        }
        if (run.failed()) {
            if (unreachable[i]) {
                info(1, "{}: not reachable: {}", job.name, run.steps.back().detail);
            } else if (!interrupted()) {
                warn("{}: {}", job.name, summarize_host(run.steps, apply));
            }
        } else {
            out.line(job.name, summarize_host(run.steps, apply));
        }
    });
    const auto n_unreachable = std::count(unreachable.begin(), unreachable.end(), 1);
    const auto n_failed = std::count(failed.begin(), failed.end(), 1);
    if (interrupted()) {
        return exit_code::k_partial;
    }
    if (!jobs.empty() && n_unreachable == static_cast<std::ptrdiff_t>(jobs.size())) {
        fail(exit_code::k_unavailable, "no host answered ({} tried)", jobs.size());
    }
    return n_failed > 0 ? exit_code::k_partial : exit_code::k_ok;
}

} // namespace wp
