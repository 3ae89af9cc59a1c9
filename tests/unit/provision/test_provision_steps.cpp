#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "provision/host_target.h"
#include "provision/provision_facts.h"
#include "provision/provision_run.h"
#include "provision/provision_steps.h"
#include "provision/virt.h"
#include "remote/remote_host.h"
#include "remote/ssh.h"
#include "support/apt_recorded.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;
using Action = wp::PackageDecision::Action;

namespace {

struct ShellResult {
    int status = -1;
    std::string out;
    std::string err;
};

// Runs a command with the real /bin/sh here, input on its stdin.
ShellResult sh(const TempDir& dir, const std::string& command, const std::string& input = "",
               const std::string& env = "") {
    wp::atomic_write_file(dir.path(".cmd"), command);
    wp::atomic_write_file(dir.path(".in"), input);
    const std::string line =
        fmt::format("{} sh {} <{} >{} 2>{}", env, wp::shell_quote(dir.path(".cmd")), wp::shell_quote(dir.path(".in")),
                    wp::shell_quote(dir.path(".out")), wp::shell_quote(dir.path(".err")));
    const int st = std::system(line.c_str());
    ShellResult r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = wp::read_file(dir.path(".out"));
    r.err = wp::read_file(dir.path(".err"));
    return r;
}

std::string mode_of(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return fmt::format("{:o}", st.st_mode & 07777);
}

// A tiny apt for the fake host, refusing as apt 2.6 does: removing a package
// removes everything that depends on it, transitively; an essential or held
// package cannot go, and then nothing does.
class FakeApt {
public:
    std::map<std::string, std::vector<std::string>> rdeps; ///< plain name -> packages depending on it
    std::set<std::string> essential;
    std::set<std::string> held;

    // Output and exit status of `apt-get -s -qq remove names…`.
    std::pair<std::string, int> remove(const std::vector<std::string>& names) const {
        const auto [gone, stuck] = solve(names);
        if (!stuck.empty()) {
            return {"E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n",
                    100};
        }
        std::string out;
        for (const auto& [g, parent] : gone)
            out += fmt::format("Remv {} [1.0]\n", g);
        return {out, 0};
    }

    // What `apt-get -s -q remove names…` explains where remove() refuses.
    std::string explain(const std::vector<std::string>& names) const {
        const auto [gone, stuck] = solve(names);
        std::string out = "Reading package lists...\nBuilding dependency tree...\n"
                          "The following packages have unmet dependencies:\n";
        for (const auto& [p, dep] : stuck)
            out += fmt::format(" {} : Depends: {} but it is not going to be installed\n", p, dep);
        return out + "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";
    }

private:
    // What goes (name -> the package it goes for, "" when asked for), and the
    // essential or held packages that would have to (name -> that package).
    std::pair<std::map<std::string, std::string>, std::map<std::string, std::string>>
    solve(const std::vector<std::string>& names) const {
        std::map<std::string, std::string> gone;
        std::map<std::string, std::string> stuck;
        std::vector<std::pair<std::string, std::string>> todo;
        for (const auto& n : names)
            todo.emplace_back(wp::plain_package_name(n), "");
        while (!todo.empty()) {
            const auto [p, parent] = todo.back();
            todo.pop_back();
            if (essential.contains(p) || held.contains(p)) {
                stuck.emplace(p, parent.empty() ? p : parent);
                continue;
            }
            if (!gone.emplace(p, parent).second) continue;
            if (auto it = rdeps.find(p); it != rdeps.end()) {
                for (const auto& r : it->second)
                    todo.emplace_back(r, p);
            }
        }
        return {gone, stuck};
    }
};

// Splits a line of shell words as simulation_command writes them: 'a' 'b'.
std::vector<std::string> quoted_words(std::string_view line) {
    std::vector<std::string> words;
    std::size_t pos = 0;
    while ((pos = line.find('\'', pos)) != std::string_view::npos) {
        const auto end = line.find('\'', pos + 1);
        words.emplace_back(line.substr(pos + 1, end - pos - 1));
        pos = end + 1;
    }
    return words;
}

// A host whose facts are recorded and whose apt is FakeApt; it records
// every command and upload.
class FakeHost : public wp::RemoteHost {
public:
    std::string facts;
    std::string clock_line = "wp-clock 1796000000.000000000\n"; ///< the clock line before the facts
    FakeApt apt;
    std::string dpkg_rows; ///< what dpkg-query answers after a change (empty: nothing)
    std::vector<std::string> commands;
    std::vector<std::string> uploads;

    wp::ExecResult run(const std::string& command, const wp::ExecOptions& options = {}) override {
        commands.push_back(command);
        wp::ExecResult r;
        r.exit_status = 0;
        if (command.starts_with(wp::clock_command()) && command.find("\nsec() {") != std::string::npos) {
            r.out = clock_line + facts;
        } else if (command.starts_with("sim()")) {
            std::istringstream in(command);
            std::string line;
            while (std::getline(in, line)) {
                if (!line.starts_with("sim '")) continue;
                const auto words = quoted_words(line);
                const auto [out, rc] = apt.remove(words);
                r.out += fmt::format("@@sim {} {}\n{}", words[0], rc, out);
                if (rc != 0) r.out += "@@why\n" + apt.explain(words);
            }
        } else if (command.starts_with("dpkg-query -W")) {
            r.out = dpkg_rows;
        } else if (command.starts_with("LC_ALL=C apt-get -s -qq purge")) {
            const auto [out, rc] = apt.remove(quoted_words(command));
            r.out = out;
            r.exit_status = rc;
        } else if (command.find("--with-new-pkgs upgrade") != std::string::npos) {
            r.out = "Inst wp-test-tool [1.0] (2.0 local [all])\nConf wp-test-tool (2.0 local [all])\n";
        }
        // As SshHost does: streamed output is not collected.
        if (options.on_stdout) {
            options.on_stdout(r.out);
            r.out.clear();
        }
        return r;
    }

    wp::ExecResult run_alongside(const std::string& command,
                                 const std::function<std::chrono::seconds()>& meanwhile) override {
        meanwhile();
        return run(command);
    }

    void download(const std::string& path, const std::function<void(std::string_view)>& /*sink*/) override {
        ADD_FAILURE() << "provisioning downloads nothing, yet asked for " << path;
    }

    void upload(const std::string& local_path, const std::string& remote_path, mode_t /*mode*/) override {
        uploads.push_back(local_path + " -> " + remote_path);
    }
};

// Facts of a small host as the facts script prints them.
std::string small_host_facts() {
    const std::string hostname_sha = wp::sha256_hex("vps-template\n");
    return "@@id\nuid=0\nhome=/root\n"
           "@@system\nkernel=6.1.0-18-amd64\ncodename=bookworm\nname=Debian GNU/Linux 12 "
           "(bookworm)\nhostname=vps-template\n"
           "@@kernel-patterns\np=linux-.*\np=.*-modules\n"
           "@@virt\ndetect_vm=xen\ndetect_container=none\n"
           "@@file /etc/hostname\ntype=file\nsha256=" +
           hostname_sha +
           "\nfirst_line=vps-template\n"
           "@@file /etc/resolv.conf\ntype=symlink\ntarget=../run/resolvconf/resolv.conf\n"
           "@@hosts\nnames=vps-template\n"
           "@@key\nssh_dir_mode=700\nkeys_mode=644\n"
           "@@pending\n"
           "@@dpkg\n"
           "apache2\trc \t2.4.57-2\tno\tno\t\toptional\n"
           "apt\tii \t2.6.1\tno\tno\t\trequired\n"
           "dpkg\tii \t1.21.22\tyes\tno\t\trequired\n"
           "exim4-daemon-light\tii \t4.96-15\tno\tno\t\toptional\n"
           "jq\tii \t1.6-2.1\tno\tno\t\toptional\n"
           "libidn12:amd64\tii \t1.41-1\tno\tno\t\toptional\n"
           "libjq1:amd64\tii \t1.6-2.1\tno\tno\t\toptional\n"
           "libmd0:amd64\tii \t1.0.4-2\tno\tno\t\toptional\n"
           "libonig5:amd64\tii \t6.9.8-1\tno\tno\t\toptional\n"
           "libwrap0:amd64\tii \t7.6.q-32\tno\tno\t\toptional\n"
           "linux-image-6.1.0-17-amd64\tii \t6.1.69-1\tno\tno\t\toptional\n"
           "linux-image-6.1.0-18-amd64\tii \t6.1.76-1\tno\tno\t\toptional\n"
           "openssh-server\tii \t1:9.2p1-2\tno\tno\t\toptional\n"
           "@@end\n";
}

FakeApt small_host_apt() {
    FakeApt apt;
    apt.rdeps = {{"libwrap0", {"openssh-server"}},
                 {"libidn12", {"exim4-daemon-light"}},
                 {"libjq1", {"jq"}},
                 {"libonig5", {"libjq1"}},
                 {"libmd0", {"dpkg"}}};
    apt.essential = {"dpkg"};
    return apt;
}

wp::PackageLists small_lists() {
    wp::PackageLists l;
    l.keep = {"openssh-server", "wp-test-tool"};
    l.purge = {"apache2", "exim4-daemon-light"};
    return l;
}

} // namespace

TEST(ProvisionNames, DebianPackageNamesOnly) {
    for (const char* ok : {"jq", "libc6:amd64", "g++", "libstdc++6", "linux-image-6.1.0-18-amd64", "0ad", "x.y+z"}) {
        EXPECT_TRUE(wp::valid_package_name(ok)) << ok;
    }
    for (const char* bad :
         {"", "a", "-rf", "Apache2", "jq;reboot", "jq name", "libc6:", "libc6:AMD64", "$(id)", "jq\n"}) {
        EXPECT_FALSE(wp::valid_package_name(bad)) << bad;
    }
    EXPECT_EQ(wp::plain_package_name("libc6:amd64"), "libc6");
}

TEST(ProvisionFacts, RecordedFromTheTestRoot) {
    const auto facts =
        wp::parse_host_facts(wp::read_file(std::string(WP_SOURCE_DIR) + "/tests/provision/facts-bookworm-minbase.txt"));
    EXPECT_EQ(facts.uid, "0");
    EXPECT_EQ(facts.home, "/root");
    EXPECT_EQ(facts.codename, "bookworm");
    EXPECT_EQ(facts.os_name, "Debian GNU/Linux 12 (bookworm)");
    EXPECT_EQ(facts.kernel_patterns,
              (std::vector<std::string>{"linux-.*", "kfreebsd-.*", "gnumach-.*", ".*-modules", ".*-kernel"}));
    const auto& hostname = facts.files.at("/etc/hostname");
    EXPECT_EQ(hostname.type, wp::RemoteFileState::Type::file);
    EXPECT_EQ(hostname.sha256, wp::sha256_hex("vps-template\n"));
    EXPECT_FALSE(hostname.immutable);
    EXPECT_EQ(facts.files.at("/etc/resolv.conf").nameservers, std::vector<std::string>{"192.0.2.53"});
    EXPECT_EQ(facts.hostname, "vps-template");
    EXPECT_EQ(facts.ssh_dir_mode, "700");
    EXPECT_EQ(facts.packages.size(), 158u); // the rows between @@dpkg and @@end
    auto row = [&](const std::string& name) {
        const auto it = std::find_if(facts.packages.begin(), facts.packages.end(),
                                     [&](const wp::InstalledPackage& p) { return p.name == name; });
        return it == facts.packages.end() ? nullptr : &*it;
    };
    ASSERT_NE(row("e2fsprogs"), nullptr);
    EXPECT_TRUE(row("e2fsprogs")->important);
    ASSERT_NE(row("apache2"), nullptr);
    EXPECT_EQ(row("apache2")->status, "ii ");
    // apt's kernel patterns as the root has them: the old kernel is one, and
    // neither libpam-modules nor perl-modules-5.36 (".*-modules" alone)
    const wp::PackageLists lists = wp::PackageLists::load(std::string(WP_SOURCE_DIR) + "/share");
    const auto host = facts.package_facts();
    ASSERT_NE(row("linux-image-4.19.0-27-amd64"), nullptr);
    EXPECT_EQ(wp::decide_package(*row("linux-image-4.19.0-27-amd64"), lists, host, std::nullopt).describe(),
              "ASKING linux-image-4.19.0-27-amd64 (kernel package)");
    ASSERT_NE(row("perl-modules-5.36"), nullptr);
    EXPECT_TRUE(wp::needs_simulation(*row("perl-modules-5.36"), lists, host));
    ASSERT_NE(row("libpam-modules:amd64"), nullptr);
    EXPECT_EQ(wp::decide_package(*row("libpam-modules:amd64"), lists, host, std::nullopt).reason, "whitelist");
    // what apt will not break: the first rule's packages, by plain name
    EXPECT_EQ(host.essential, wp::always_kept_names(facts.packages));
    for (const char* name : {"apt", "dpkg", "coreutils", "e2fsprogs", "libcrypt1", "init-system-helpers"}) {
        EXPECT_TRUE(host.essential.contains(name)) << name;
    }
    EXPECT_FALSE(host.essential.contains("libacl1"));
    EXPECT_FALSE(host.essential.contains("openssh-server"));
    // apt-get -s -qq remove libacl1 in that root, and the same at -q
    const auto acl = wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why());
    ASSERT_NE(row("libacl1:amd64"), nullptr);
    EXPECT_EQ(wp::decide_package(*row("libacl1:amd64"), lists, host, acl).describe(),
              "KEEPING libacl1:amd64 (needed by essential packages)");
    EXPECT_EQ(wp::blacklisted_packages(facts.packages, lists, host),
              (std::vector<std::string>{"apache2", "apache2-bin", "apache2-data", "exim4-base", "exim4-config",
                                        "exim4-daemon-light"}));
    // a chroot shows no virtualisation marker at all
    EXPECT_EQ(wp::detect_virt(facts.virt).describe(), "physical");
}

TEST(ProvisionFacts, HostileOrTruncatedOutputIsRefused) {
    std::string facts = small_host_facts();
    EXPECT_EQ(exit_code_of([&] { wp::parse_host_facts(facts.substr(0, facts.find("@@end"))); }), 65);
    facts.replace(facts.find("jq\tii"), 2, "jq;reboot");
    EXPECT_EQ(exit_code_of([&] { wp::parse_host_facts(facts); }), 65);
}

TEST(ProvisionFacts, TheScriptRunsOnThisDebianMachine) {
    TempDir dir;
    const auto key =
        wp::parse_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEDQ test", "test");
    const std::int64_t sent = wp::wall_clock_ns();
    const ShellResult r = sh(dir, wp::facts_command(key.blob), "", "HOME=" + wp::shell_quote(dir.path()));
    const std::int64_t received = wp::wall_clock_ns();
    ASSERT_EQ(r.status, 0) << r.err;
    // the clock first: this machine's own, so no offset beyond the bracket
    ASSERT_EQ(r.out.rfind("wp-clock ", 0), 0U) << r.out.substr(0, 100);
    const auto clock = wp::clock_reading(sent, received, r.out.substr(9, r.out.find('\n') - 9));
    ASSERT_TRUE(clock) << r.out.substr(0, 100);
    EXPECT_LE(std::abs(clock->offset_ms), clock->uncertainty_ms + 1);
    const auto facts = wp::parse_host_facts(r.out);
    EXPECT_FALSE(facts.kernel.empty());
    EXPECT_EQ(facts.home, dir.path());
    EXPECT_FALSE(facts.key_present);
    EXPECT_EQ(facts.ssh_dir_mode, "");
    EXPECT_TRUE(std::any_of(facts.packages.begin(), facts.packages.end(),
                            [](const wp::InstalledPackage& p) { return p.name == "dpkg" && p.essential; }));
    EXPECT_NE(facts.files.at("/etc/hostname").type, wp::RemoteFileState::Type::other);
}

TEST(ProvisionPackages, SimulationsRunHereAreSplitPerPackage) {
    TempDir dir;
    // this Debian machine's own apt: libacl1 is what coreutils, sed and tar
    // pre-depend on; the other package does not exist
    const std::vector<std::string> names = {"libacl1", "wp-no-such-package"};
    const ShellResult r = sh(dir, wp::simulation_command(names, {}));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto sims = wp::parse_simulations(r.out, names);
    ASSERT_EQ(sims.size(), 2u);
    EXPECT_NE(sims[0].exit_status, 0);
    const std::set<std::string, std::less<>> essential = {"coreutils", "sed", "tar", "dpkg"};
    const auto refused = sims[0].refused_for(essential);
    EXPECT_NE(std::find(refused.begin(), refused.end(), "coreutils"), refused.end()) << r.out;
    EXPECT_EQ(sims[1].exit_status, 100); // unknown package
    EXPECT_EQ(sims[1].errors, std::vector<std::string>{"Unable to locate package wp-no-such-package"});
    EXPECT_TRUE(sims[1].refused_for(essential).empty());
    EXPECT_EQ(exit_code_of([&] { wp::parse_simulations(r.out, {"libacl1"}); }), 65);
    // an explanation belongs to a refusal only
    EXPECT_EQ(exit_code_of([] { wp::parse_simulations("@@sim jq 0\nRemv jq [1]\n@@why\n", {"jq"}); }), 65);
    EXPECT_EQ(exit_code_of([] { wp::parse_simulations("@@why\n@@sim jq 100\n", {"jq"}); }), 65);
    EXPECT_EQ(exit_code_of([] { wp::parse_simulations("@@sim jq 100\n@@why\n@@why\n", {"jq"}); }), 65);
}

TEST(ProvisionPackages, DecidedInRoundsWithTheSeedsWords) {
    const auto facts = wp::parse_host_facts(small_host_facts());
    const FakeApt apt = small_host_apt();
    std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> calls;
    const wp::Simulator simulate = [&](const std::vector<std::string>& names, const std::vector<std::string>& extra) {
        calls.emplace_back(names, extra);
        std::vector<wp::RemovalSimulation> out;
        for (const auto& n : names) {
            std::vector<std::string> all = {n};
            all.insert(all.end(), extra.begin(), extra.end());
            const auto [text, rc] = apt.remove(all);
            out.push_back(wp::parse_apt_simulation(text, rc, rc == 0 ? "" : apt.explain(all)));
        }
        return out;
    };
    const auto plan = wp::plan_packages(facts.packages, small_lists(), facts.package_facts(), simulate);
    std::vector<std::string> lines;
    for (const auto& d : plan.decisions)
        lines.push_back(d.describe());
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "KEEPING apt (the package manager)",
                         "KEEPING dpkg (essential)",
                         "PURGING exim4-daemon-light (blacklist)",
                         "PURGING jq (removes only itself)",
                         "PURGING libidn12:amd64 (removes only itself once exim4-daemon-light is purged)",
                         "PURGING libjq1:amd64 (removes only itself once jq is purged)",
                         "KEEPING libmd0:amd64 (needed by essential packages)",
                         "PURGING libonig5:amd64 (removes only itself once jq, libjq1 are purged)",
                         "ASKING libwrap0:amd64 (would also remove: openssh-server)",
                         "ASKING linux-image-6.1.0-17-amd64 (kernel package)",
                         "KEEPING linux-image-6.1.0-18-amd64 (running kernel)",
                         "KEEPING openssh-server (whitelist)",
                     }));
    EXPECT_EQ(plan.purge, (std::vector<std::string>{"exim4-daemon-light", "jq", "libidn12:amd64", "libjq1:amd64",
                                                    "libonig5:amd64"}));
    EXPECT_EQ(plan.ask, (std::vector<std::string>{"libwrap0:amd64", "linux-image-6.1.0-17-amd64"}));
    // one batch of single removals, then confirmations with the planned purges removed too
    ASSERT_GE(calls.size(), 2u);
    EXPECT_TRUE(calls[0].second.empty());
    EXPECT_EQ(calls[1].second, (std::vector<std::string>{"exim4-daemon-light"}));
}

TEST(ProvisionPackages, AConfirmationThatRemovesMoreKeepsThePackageAsked) {
    const auto facts = wp::parse_host_facts(small_host_facts());
    // Alone, libjq1 takes only jq with it; together with the planned purges
    // apt would also remove openssh-server (an alternative dependency): asked.
    const wp::Simulator simulate = [&](const std::vector<std::string>& names, const std::vector<std::string>& extra) {
        std::vector<wp::RemovalSimulation> out;
        for (const auto& n : names) {
            std::string text = fmt::format("Remv {} [1]\n", wp::plain_package_name(n));
            if (n == "libjq1:amd64") text += "Remv jq [1]\n";
            if (n == "libjq1:amd64" && !extra.empty()) text += "Remv openssh-server [1]\n";
            if (n == "libwrap0:amd64" || n == "libonig5:amd64") text += "Remv openssh-server [1]\n";
            for (const auto& e : extra)
                text += fmt::format("Remv {} [1]\n", wp::plain_package_name(e));
            out.push_back(wp::parse_apt_simulation(text, 0));
        }
        return out;
    };
    const auto plan = wp::plan_packages(facts.packages, small_lists(), facts.package_facts(), simulate);
    const auto it = std::find_if(plan.decisions.begin(), plan.decisions.end(),
                                 [](const wp::PackageDecision& d) { return d.name == "libjq1:amd64"; });
    ASSERT_NE(it, plan.decisions.end());
    EXPECT_EQ(it->action, Action::ask);
    EXPECT_EQ(it->describe(), "ASKING libjq1:amd64 (would also remove: openssh-server)");
}

TEST(ProvisionPackages, NeededByEssentialPackagesKeptOtherRefusalsAsked) {
    const auto facts = wp::parse_host_facts(small_host_facts());
    FakeHost host;
    host.apt = small_host_apt();
    host.apt.held = {"openssh-server"}; // `apt-mark hold openssh-server`: libwrap0 cannot go either
    const wp::Simulator simulate = [&](const std::vector<std::string>& names, const std::vector<std::string>& extra) {
        return wp::parse_simulations(host.run(wp::simulation_command(names, extra)).out, names);
    };
    const auto plan = wp::plan_packages(facts.packages, small_lists(), facts.package_facts(), simulate);
    std::map<std::string, std::string> lines;
    for (const auto& d : plan.decisions)
        lines[d.name] = d.describe();
    EXPECT_EQ(lines["libmd0:amd64"], "KEEPING libmd0:amd64 (needed by essential packages)");
    EXPECT_EQ(lines["libwrap0:amd64"], "ASKING libwrap0:amd64 (apt-get -s remove exited 100)");
    EXPECT_EQ(plan.ask, (std::vector<std::string>{"libwrap0:amd64", "linux-image-6.1.0-17-amd64"}));
}

TEST(ProvisionHost, NeededByEssentialPackagesNeitherAskedNorPurgedByAnswers) {
    FakeHost host;
    host.facts = small_host_facts();
    host.apt = small_host_apt();
    const std::string facts = small_host_facts();
    const auto rows = facts.find("@@dpkg\n") + 7;
    host.dpkg_rows = facts.substr(rows, facts.find("@@end") - rows);
    wp::ProvisionSettings s;
    s.apply = true;
    // nothing to purge, so the answers are taken in the first round
    s.lists.keep = {"openssh-server", "wp-test-tool", "jq", "libjq1", "libonig5", "exim4-daemon-light", "libidn12"};
    s.answers = {{"libmd0", wp::Answer::purge}, {"libwrap0", wp::Answer::keep}};
    s.learn = true;
    std::vector<std::string> asked;
    std::vector<std::string> remembered;
    s.ask = [&](const wp::PackageDecision& d) {
        asked.push_back(d.name);
        return wp::Reply{};
    };
    s.remember = [&](const std::string& name, wp::Answer) { remembered.push_back(name); };
    std::vector<std::string> lines;
    const auto run = wp::provision_host(
        host, s, "", [&](const std::string& l) { lines.push_back(l); }, [](const std::string&) {});
    ASSERT_FALSE(run.failed()) << lines.back();
    // the facts script read the host's clock first, and the facts were read past its line
    EXPECT_TRUE(host.commands.at(0).starts_with(wp::clock_command()));
    EXPECT_TRUE(run.clock);
    EXPECT_EQ(asked, std::vector<std::string>{"linux-image-6.1.0-17-amd64"});
    EXPECT_EQ(remembered, std::vector<std::string>{"libwrap0"});
    for (const auto& c : host.commands) { // simulated, never purged
        EXPECT_FALSE(c.find("purge") != std::string::npos && c.find("libmd0") != std::string::npos) << c;
    }
    EXPECT_TRUE(std::none_of(lines.begin(), lines.end(),
                             [](const std::string& l) { return l.find("libmd0") != std::string::npos; }));
    const auto prune =
        std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("prune:"); });
    ASSERT_NE(prune, lines.end());
    EXPECT_EQ(*prune, "prune: ok: 1 asked packages left installed (listed above); learned libwrap0 keep");
}

TEST(ProvisionAnswers, KeepOrPurgePerLine) {
    const auto a = wp::parse_answers("# answers\nlibwrap0 keep\n  linux-image-wptest purge  # old kernel\n\n"
                                     "libc6:amd64 keep\n",
                                     "answers");
    EXPECT_EQ(a.at("libwrap0"), wp::Answer::keep);
    EXPECT_EQ(a.at("linux-image-wptest"), wp::Answer::purge);
    EXPECT_EQ(a.at("libc6"), wp::Answer::keep);
    EXPECT_EQ(exit_code_of([] { wp::parse_answers("jq remove\n", "f"); }), 65);
    EXPECT_EQ(exit_code_of([] { wp::parse_answers("jq;id keep\n", "f"); }), 65);
    try {
        wp::parse_answers("jq keep\n\njq\n", "answers.txt");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_STREQ(e.what(), "answers.txt:3: expected 'PACKAGE keep' or 'PACKAGE purge'");
    }
}

TEST(ProvisionManagedFile, PlansByContentLinkAndPolicy) {
    using Type = wp::RemoteFileState::Type;
    const std::string content = "vps1\n";
    wp::RemoteFileState same{Type::file, "", false, wp::sha256_hex(content), "vps1", {}};
    EXPECT_EQ(wp::plan_managed_file("/etc/hostname", same, content, true).describe(), "chattr +i");
    EXPECT_FALSE(wp::plan_managed_file("/etc/hostname", same, content, false).changes());
    same.immutable = true;
    EXPECT_FALSE(wp::plan_managed_file("/etc/hostname", same, content, true).changes());
    // Virtuozzo: an immutable bit found is taken off, never set
    EXPECT_EQ(wp::plan_managed_file("/etc/hostname", same, content, false).describe(), "chattr -i");
    wp::RemoteFileState other{Type::file, "", true, wp::sha256_hex("old\n"), "old", {}};
    EXPECT_EQ(wp::plan_managed_file("/etc/hostname", other, content, true).describe(), "chattr -i, write, chattr +i");
    EXPECT_EQ(wp::plan_managed_file("/etc/hostname", other, content, false).describe(), "chattr -i, write");
    wp::RemoteFileState link{Type::symlink, "../run/resolvconf/resolv.conf", false, "", "", {}};
    EXPECT_EQ(wp::plan_managed_file("/etc/resolv.conf", link, content, true).describe(),
              "replace the symbolic link by a file, write, chattr +i");
    wp::RemoteFileState missing;
    EXPECT_EQ(wp::plan_managed_file("/etc/hostname", missing, content, false).describe(), "write");
    wp::RemoteFileState dir{Type::other, "", false, "", "", {}};
    EXPECT_EQ(exit_code_of([&] { wp::plan_managed_file("/etc/hostname", dir, content, true); }), 65);
}

TEST(ProvisionManagedFile, TheCommandReplacesALinkByAFileHere) {
    TempDir dir;
    wp::atomic_write_file(dir.path("target"), "nameserver 192.0.2.53\n");
    fs::create_symlink("target", dir.path("resolv.conf"));
    wp::RemoteFileState link{wp::RemoteFileState::Type::symlink, "target", false, "", "", {}};
    const std::string content = wp::resolv_conf_content({"127.0.0.1", "::1"});
    const auto plan = wp::plan_managed_file(dir.path("resolv.conf"), link, content, false);
    const ShellResult r = sh(dir, wp::managed_file_command(dir.path("resolv.conf"), plan), content);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::is_symlink(dir.path("resolv.conf")));
    EXPECT_EQ(wp::read_file(dir.path("resolv.conf")),
              "# written by wp-provision\nnameserver 127.0.0.1\nnameserver ::1\n");
    EXPECT_EQ(wp::read_file(dir.path("target")), "nameserver 192.0.2.53\n");
    EXPECT_EQ(mode_of(dir.path("resolv.conf")), "644");
    EXPECT_FALSE(fs::exists(dir.path("resolv.conf.wp-tmp")));
}

TEST(ProvisionManagedFile, HostsEntryReplacedOrAppended) {
    TempDir dir;
    wp::atomic_write_file(dir.path("hosts"),
                          "127.0.0.1\tlocalhost\n127.0.1.1 old.example old\n127.0.1.1 dup\n::1 ip6\n");
    ASSERT_EQ(sh(dir, wp::hosts_entry_command("vps1", dir.path("hosts"))).status, 0);
    EXPECT_EQ(wp::read_file(dir.path("hosts")), "127.0.0.1\tlocalhost\n127.0.1.1\tvps1\n::1 ip6\n");
    wp::atomic_write_file(dir.path("hosts"), "127.0.0.1 localhost\n");
    ASSERT_EQ(sh(dir, wp::hosts_entry_command("vps1", dir.path("hosts"))).status, 0);
    EXPECT_EQ(wp::read_file(dir.path("hosts")), "127.0.0.1 localhost\n127.0.1.1\tvps1\n");
}

TEST(ProvisionValues, HostnamesResolversTargets) {
    EXPECT_EQ(wp::check_hostname("lon1.proxy.example"), "");
    EXPECT_EQ(wp::check_hostname("vps-1"), "");
    for (const char* bad : {"", "-x", "x-", "a..b", "a b", "a;reboot", "$(id)"}) {
        EXPECT_NE(wp::check_hostname(bad), "") << bad;
    }
    EXPECT_EQ(wp::check_resolver("127.0.0.1"), "");
    EXPECT_EQ(wp::check_resolver("2001:db8::53"), "");
    EXPECT_NE(wp::check_resolver("dns.example"), "");
    EXPECT_EQ(wp::expand_hostname("%n.proxy.example", "lon1"), "lon1.proxy.example");

    auto t = wp::parse_host_target("root@203.0.113.5:2222");
    EXPECT_EQ(t.user, "root");
    EXPECT_EQ(t.address, "203.0.113.5");
    EXPECT_EQ(t.port, 2222);
    t = wp::parse_host_target("[2001:db8::5]:22");
    EXPECT_EQ(t.address, "2001:db8::5");
    t = wp::parse_host_target("2001:db8::5");
    EXPECT_EQ(t.address, "2001:db8::5");
    EXPECT_EQ(t.port, 22);
    t = wp::parse_host_target("vps.example");
    EXPECT_EQ(t.user, "");
    EXPECT_EQ(t.port, 22);
    for (const char* bad : {"root@", "-oProxyCommand=x", "host:0", "host:99999", "[::1", "a b"}) {
        EXPECT_EQ(exit_code_of([&] { wp::parse_host_target(bad); }), 64) << bad;
    }
}

TEST(ProvisionValues, InventoryVirtKeepsTheOperatorsOpenvzWord) {
    wp::VirtDetection vz;
    vz.container = "openvz";
    vz.openvz_family = true;
    EXPECT_EQ(wp::virt_for_inventory("virtuozzo", vz), "virtuozzo");
    EXPECT_EQ(wp::virt_for_inventory("openvz", vz), "openvz");
    EXPECT_EQ(wp::virt_for_inventory("unknown", vz), "unknown");
    wp::VirtDetection xen;
    xen.vm = "xen";
    EXPECT_EQ(wp::virt_for_inventory("unknown", xen), "xen");
    EXPECT_EQ(wp::virt_for_inventory("kvm", xen), "xen");
    wp::VirtDetection none;
    none.vm = "vm-other";
    EXPECT_EQ(wp::virt_for_inventory("xen", none), "xen");
}

TEST(ProvisionTree, FilesModesAndTheRestartMap) {
    TempDir dir;
    fs::create_directories(dir.path("tree/etc/squid"));
    wp::atomic_write_file(dir.path("tree/etc/squid/squid.conf"), "http_port 3128\n", 0640);
    wp::atomic_write_file(dir.path("tree/etc/motd"), "hello\n", 0644);
    wp::atomic_write_file(dir.path("tree/.restart"), "# path-glob command\n/etc/squid/*  systemctl restart squid\n"
                                                     "/etc/motd true\n/etc/*  echo etc\n");
    const auto files = wp::read_config_tree(dir.path("tree"));
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].remote, "/etc/motd");
    EXPECT_EQ(files[1].remote, "/etc/squid/squid.conf");
    EXPECT_EQ(files[1].mode, 0640u);
    EXPECT_EQ(files[1].sha256, wp::sha256_hex("http_port 3128\n"));
    const auto rules = wp::parse_restart_map(wp::read_file(dir.path("tree/.restart")), ".restart");
    ASSERT_EQ(rules.size(), 3u);
    EXPECT_EQ(rules[0].command, "systemctl restart squid");
    // FNM_PATHNAME: /etc/* does not reach into /etc/squid/
    EXPECT_EQ(wp::restart_commands_for(rules, {"/etc/squid/squid.conf"}),
              std::vector<std::string>{"systemctl restart squid"});
    EXPECT_EQ(wp::restart_commands_for(rules, {"/etc/motd", "/etc/squid/squid.conf"}),
              (std::vector<std::string>{"systemctl restart squid", "true", "echo etc"}));
    EXPECT_TRUE(wp::restart_commands_for(rules, {"/usr/local/bin/x"}).empty());
    EXPECT_EQ(exit_code_of([] { wp::parse_restart_map("etc/motd true\n", "m"); }), 65);
    EXPECT_EQ(exit_code_of([] { wp::parse_restart_map("/etc/motd\n", "m"); }), 65);

    fs::create_symlink("motd", dir.path("tree/etc/issue"));
    EXPECT_EQ(exit_code_of([&] { wp::read_config_tree(dir.path("tree")); }), 65);
    EXPECT_EQ(exit_code_of([&] { wp::read_config_tree(dir.path("none")); }), 66);
}

TEST(ProvisionTree, RemoteDigestsHere) {
    TempDir dir;
    wp::atomic_write_file(dir.path("a"), "x\n", 0600);
    std::vector<wp::TreeFile> files(2);
    files[0].remote = dir.path("a");
    files[1].remote = dir.path("missing");
    const ShellResult r = sh(dir, wp::tree_digest_command(files));
    EXPECT_EQ(r.out, fmt::format("600 {}\nmissing\n", wp::sha256_hex("x\n")));
}

TEST(ProvisionKey, AppendsOnceKeepsOtherKeysFixesModes) {
    TempDir dir;
    const auto key = wp::parse_public_key(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEDQ ops@central\n", "key.pub");
    fs::create_directories(dir.path(".ssh"));
    ::chmod(dir.path(".ssh").c_str(), 0755);
    wp::atomic_write_file(dir.path(".ssh/authorized_keys"), "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ other", 0644);
    const std::string env = "HOME=" + wp::shell_quote(dir.path());
    ShellResult r = sh(dir, wp::install_key_command(key), "", env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "~/.ssh mode 755 -> 700\n~/.ssh/authorized_keys mode 644 -> 600\n"
                     "added ssh-ed25519 key ops@central\n");
    EXPECT_EQ(wp::read_file(dir.path(".ssh/authorized_keys")),
              "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ other\n" + key.line() + "\n");
    EXPECT_EQ(mode_of(dir.path(".ssh")), "700");
    EXPECT_EQ(mode_of(dir.path(".ssh/authorized_keys")), "600");
    r = sh(dir, wp::install_key_command(key), "", env);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "");

    TempDir fresh;
    r = sh(fresh, wp::install_key_command(key), "", "HOME=" + wp::shell_quote(fresh.path()));
    EXPECT_EQ(r.out, "created ~/.ssh\ncreated ~/.ssh/authorized_keys\nadded ssh-ed25519 key ops@central\n");
    EXPECT_EQ(mode_of(fresh.path(".ssh/authorized_keys")), "600");

    EXPECT_EQ(exit_code_of([] { wp::parse_public_key("ssh-ed25519 'x;reboot' c", "k"); }), 65);
    EXPECT_EQ(exit_code_of([] { wp::parse_public_key("not a key", "k"); }), 65);
}

TEST(ProvisionRelease, SourcesPointAtTheNewRelease) {
    TempDir dir;
    fs::create_directories(dir.path("apt/sources.list.d"));
    wp::atomic_write_file(dir.path("apt/sources.list"),
                          "# bookworm stays in comments\n"
                          "deb http://deb.debian.org/debian bookworm main\n"
                          "deb [arch=amd64] http://deb.debian.org/debian bookworm-updates main contrib\n"
                          "deb http://security.debian.org/debian-security bookworm-security main\n"
                          "deb http://example.org/bookwormish bookworm-extra main\n",
                          0640);
    wp::atomic_write_file(dir.path("apt/sources.list.d/debian.sources"),
                          "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
                          "Components: main\n");
    const ShellResult r = sh(dir, wp::release_sources_command("bookworm", "trixie", dir.path("apt")));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(wp::read_file(dir.path("apt/sources.list")),
              "# bookworm stays in comments\n"
              "deb http://deb.debian.org/debian trixie main\n"
              "deb [arch=amd64] http://deb.debian.org/debian trixie-updates main contrib\n"
              "deb http://security.debian.org/debian-security trixie-security main\n"
              "deb http://example.org/bookwormish bookworm-extra main\n");
    EXPECT_EQ(mode_of(dir.path("apt/sources.list")), "640");
    EXPECT_EQ(wp::read_file(dir.path("apt/sources.list.d/debian.sources")),
              "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\n");
    // the pre-bullseye security suite
    wp::atomic_write_file(dir.path("apt/sources.list"), "deb http://security.debian.org buster/updates main\n");
    ASSERT_EQ(sh(dir, wp::release_sources_command("buster", "bullseye", dir.path("apt"))).status, 0);
    EXPECT_EQ(wp::read_file(dir.path("apt/sources.list")), "deb http://security.debian.org bullseye-security main\n");
}

TEST(ProvisionReport, StepLinesAndSummaries) {
    using S = wp::StepStatus;
    EXPECT_EQ(wp::describe_step({"upgrade", S::ok, ""}), "upgrade: ok");
    EXPECT_EQ(wp::describe_step({"prune", S::would_change, "would purge 1: jq"}),
              "prune: would change: would purge 1: jq");
    const std::vector<wp::StepResult> applied = {
        {"facts", S::ok, ""}, {"prune", S::changed, ""}, {"hostname", S::changed, ""}};
    EXPECT_EQ(wp::summarize_host(applied, true), "done: 2 changed, 1 ok");
    const std::vector<wp::StepResult> planned = {{"facts", S::ok, ""}, {"prune", S::would_change, ""}};
    EXPECT_EQ(wp::summarize_host(planned, false), "plan: 1 would change, 1 ok");
    const std::vector<wp::StepResult> failed = {{"facts", S::ok, ""},
                                                {"files", S::failed, "restart command 'x' failed"}};
    EXPECT_EQ(wp::summarize_host(failed, true), "failed at files: restart command 'x' failed");
}

TEST(ProvisionHost, PlanOfASmallHostFromRecordedFacts) {
    FakeHost host;
    host.facts = small_host_facts();
    host.apt = small_host_apt();
    wp::ProvisionSettings s;
    s.apply = false;
    s.lists = small_lists();
    s.key = wp::parse_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEDQ ops", "k");
    s.hostname = "vps1";
    s.resolvers = {"127.0.0.1"};
    s.answers = {{"linux-image-6.1.0-17-amd64", wp::Answer::purge}};
    std::vector<std::string> lines;
    std::vector<std::string> warnings;
    const auto run = wp::provision_host(
        host, s, "xen", [&](const std::string& l) { lines.push_back(l); },
        [&](const std::string& w) { warnings.push_back(w); });
    ASSERT_FALSE(run.failed());
    ASSERT_TRUE(run.virt);
    EXPECT_EQ(run.virt->vm, "xen");
    std::vector<std::string> steps;
    for (const auto& l : lines) {
        if (!l.starts_with("KEEPING") && !l.starts_with("PURGING") && !l.starts_with("ASKING")) steps.push_back(l);
    }
    EXPECT_EQ(steps,
              (std::vector<std::string>{
                  "facts: ok: Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64, vm xen, 12 packages installed, "
                  "hostname vps-template",
                  "key: would change: ~/.ssh/authorized_keys mode 644 -> 600; add ssh-ed25519 key ops",
                  "purge-blacklisted: would change: would purge exim4-daemon-light",
                  "upgrade: would change: would refresh the package lists and upgrade wp-test-tool",
                  "prune: would change: would purge 5: exim4-daemon-light, jq, libidn12:amd64, libjq1:amd64, "
                  "libonig5:amd64; 2 to ask about (answered: linux-image-6.1.0-17-amd64 purge)",
                  "hostname: would change: /etc/hostname: write, chattr +i; running hostname vps-template -> vps1; "
                  "/etc/hosts: 127.0.1.1 vps1",
                  "resolver: would change: /etc/resolv.conf: replace the symbolic link by a file, write, chattr +i",
              }));
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("PURGING"); }),
              5);
    EXPECT_TRUE(warnings.empty());
    EXPECT_TRUE(host.uploads.empty());
    // a plan only reads and simulates
    for (const auto& c : host.commands) {
        EXPECT_EQ(c.find("apt-get -y"), std::string::npos) << c;
        EXPECT_EQ(c.find("chattr"), std::string::npos) << c;
    }
}

TEST(ProvisionHost, VirtuozzoNeverGetsTheImmutableBit) {
    FakeHost host;
    host.facts = small_host_facts();
    host.apt = small_host_apt();
    wp::ProvisionSettings s;
    s.apply = true;
    s.lists = small_lists();
    s.hostname = "vps-template";
    std::string facts = small_host_facts();
    facts.replace(facts.find("detect_vm=xen\ndetect_container=none\n"), 36, "proc_vz=1\n");
    facts.replace(facts.find("first_line=vps-template\n"), 24, "first_line=vps-template\nimmutable=1\n");
    facts.replace(facts.find("names=vps-template"), 18, "names=vps-template");
    host.facts = facts;
    std::vector<std::string> lines;
    std::vector<std::string> warnings;
    const auto run = wp::provision_host(
        host, s, "virtuozzo", [&](const std::string& l) { lines.push_back(l); },
        [&](const std::string& w) { warnings.push_back(w); });
    ASSERT_FALSE(run.failed()) << lines.back();
    EXPECT_TRUE(std::none_of(host.commands.begin(), host.commands.end(),
                             [](const std::string& c) { return c.find("chattr +i") != std::string::npos; }));
    EXPECT_TRUE(std::any_of(host.commands.begin(), host.commands.end(),
                            [](const std::string& c) { return c.find("chattr -i") != std::string::npos; }));
    const auto it =
        std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("hostname:"); });
    ASSERT_NE(it, lines.end());
    EXPECT_EQ(*it, "hostname: changed: /etc/hostname: chattr -i (no chattr +i: virtuozzo: an immutable file stops "
                   "the container from booting)");
    EXPECT_TRUE(warnings.empty()); // the operator said virtuozzo: nothing to warn about
}
