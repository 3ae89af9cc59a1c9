#include "cmd/provision.h"

#include <algorithm>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "cmd/provision_bootstrap.h"
#include "provision/provision_run.h"
#include "remote/ssh.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

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
    plan->add_option("host", r.hosts, "inventory names and ranges (with --name: one [USER@]ADDRESS[:PORT])");
    auto* apply = app.add_subcommand("apply", "carry the steps out (idempotent: a second run changes nothing)");
    apply->add_option("host", r.hosts, "inventory names and ranges (with --name: one [USER@]ADDRESS[:PORT])");
    auto* boot = app.add_subcommand("bootstrap", "first contact by password: install our public key");
    boot->add_option("target", r.hosts, "[USER@]ADDRESS[:PORT] (USER defaults to root)")->required()->expected(1);
    for (auto* sub : {plan, apply, boot}) {
        sub->callback([&r, sub] { r.command = sub->get_name(); });
    }

    auto* selection = app.add_option_group("Selection");
    add_host_options(*selection, r.select);
    selection->add_flag("--list", r.list, "print the selected servers folded into ranges (tor[1-3]) and exit");
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
    add_jobs_option(*g, r.jobs, "hosts provisioned at once");
    setting(g->add_option("--timeout", r.timeout, "seconds allowed for one host")
                ->check(CLI::Range(1, 86400))
                ->capture_default_str());
}

namespace {

// Nothing is provisioned by default: some selection must be given.
void require_selection(const ProvisionRequest& req) {
    const HostOptions& o = req.select;
    if (req.name.empty() && req.hosts.empty() && o.hosts.empty() && o.hosts_file.empty() && o.where.empty()) {
        fail(exit_code::k_usage, "name the servers: HOST..., -H, --hosts-file or --where (or --name NAME ADDRESS)");
    }
}

// The inventory names plan and apply work on: the positional names and the
// selection options (with --name, the one new server's address instead).
std::vector<std::string> selected_names(Inventory* inventory, const ProvisionRequest& req) {
    const HostOptions& o = req.select;
    const bool selects = !o.hosts.empty() || !o.hosts_file.empty() || !o.exclude.empty() || !o.where.empty();
    if (!req.name.empty()) {
        if (selects || req.list) {
            fail(exit_code::k_usage,
                 "--name {} adds one server: -H, -x, --hosts-file, --where and --list select "
                 "servers already in the inventory",
                 req.name);
        }
        return req.hosts;
    }
    const NamedHosts named = named_hosts(o, req.hosts);
    constexpr std::string_view hint = " (a new one is added with --name NAME ADDRESS)";
    if (inventory == nullptr) { // plan without a database: no server is known
        if (!named.words.empty()) {
            fail(exit_code::k_no_input, "no server named {} in the inventory{}", fmt::join(named.words, ", "), hint);
        }
        return {};
    }
    try {
        return names_of(select_servers(*inventory, o, named));
    } catch (const Error& e) {
        if (e.code() != exit_code::k_no_input) {
            throw;
        }
        fail(exit_code::k_no_input, "{}{}", e.what(), hint);
    }
}

} // namespace

int run_provision(const ProvisionRequest& req, const CommonOptions& opts) {
    if (req.command == "bootstrap") {
        return run_bootstrap(req, opts);
    }
    require_selection(req);
    if (req.list) {
        const auto reader = open_for_reading(opts.db);
        Inventory inventory(*reader);
        print_folded(selected_names(&inventory, req));
        return exit_code::k_ok;
    }
    const bool apply = req.command == "apply";
    ProvisionRunSettings settings;
    settings.steps = settings_from(req, opts);
    settings.ssh = ssh_settings_from(opts, req.ssh_config, req.accept_new);
    settings.timeout = std::chrono::seconds(req.timeout);
    settings.hostname = req.hostname;
    settings.details = {req.city, req.country, req.provider};
    settings.ask = !req.no_ask && ::isatty(STDIN_FILENO) != 0 && ::isatty(STDERR_FILENO) != 0;

    // plan reads the inventory and writes nothing, not even a new database.
    std::unique_ptr<Database> db;
    if (apply) {
        make_database_directory(opts.db);
        db = std::make_unique<Database>(opts.db);
    } else if (database_exists(opts.db)) {
        db = std::make_unique<Database>(opts.db, OpenMode::read_only);
    }
    std::unique_ptr<Inventory> inventory = db ? std::make_unique<Inventory>(*db) : nullptr;
    const std::vector<ProvisionJob> jobs =
        select_jobs(inventory.get(), req.name, selected_names(inventory.get(), req), opts.ssh_user);
    if (!req.hostname.empty() && req.hostname.find("%n") == std::string::npos && jobs.size() > 1) {
        fail(exit_code::k_usage, "--hostname {} for {} hosts: use %n for each server's name", req.hostname,
             jobs.size());
    }

    ProvisionOutput out;
    AnswerLists lists(opts.lists_dir());
    ProvisionRun run(std::move(settings), inventory.get(), out, lists);
    std::vector<HostOutcome> outcomes(jobs.size(), HostOutcome::not_run);
    HostPool pool(req.jobs);
    pool.run(jobs.size(), [&](std::size_t i) { outcomes[i] = run.run_host(jobs[i]).host.outcome; });
    if (interrupted()) {
        return exit_code::k_partial;
    }
    const auto n_unreachable = std::count(outcomes.begin(), outcomes.end(), HostOutcome::unreachable);
    if (!jobs.empty() && n_unreachable == static_cast<std::ptrdiff_t>(jobs.size())) {
        fail(exit_code::k_unavailable, "no host answered ({} tried)", jobs.size());
    }
    const auto n_ok = std::count(outcomes.begin(), outcomes.end(), HostOutcome::ok);
    return n_ok == static_cast<std::ptrdiff_t>(jobs.size()) ? exit_code::k_ok : exit_code::k_partial;
}

} // namespace wp
