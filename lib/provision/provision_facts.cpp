#include "provision/provision_facts.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/error.h"
#include "remote/ssh.h"
#include "store/host_clock.h"

namespace wp {

namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// "key=value" -> {key, value}; a line without '=' has an empty value.
std::pair<std::string_view, std::string_view> key_value(std::string_view line) {
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
        return {line, {}};
    }
    return {line.substr(0, eq), line.substr(eq + 1)};
}

void parse_file_line(RemoteFileState& f, std::string_view line) {
    const auto [key, value] = key_value(line);
    if (key == "type") {
        if (value == "file")
            f.type = RemoteFileState::Type::file;
        else if (value == "symlink")
            f.type = RemoteFileState::Type::symlink;
        else if (value == "missing")
            f.type = RemoteFileState::Type::missing;
        else
            f.type = RemoteFileState::Type::other;
    } else if (key == "target") {
        f.target = std::string(value);
    } else if (key == "immutable") {
        f.immutable = value == "1";
    } else if (key == "sha256") {
        f.sha256 = std::string(value);
    } else if (key == "first_line") {
        f.first_line = std::string(value);
    } else if (key == "nameserver") {
        f.nameservers.emplace_back(value);
    }
}

} // namespace

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        text.remove_prefix(nl + 1);
    }
    return out;
}

bool valid_package_name(std::string_view name) {
    const auto colon = name.find(':');
    const std::string_view pkg = name.substr(0, colon);
    if (pkg.size() < 2 || !is_lower_alnum(pkg[0])) {
        return false;
    }
    if (!std::all_of(pkg.begin(), pkg.end(),
                     [](char c) { return is_lower_alnum(c) || c == '+' || c == '-' || c == '.'; })) {
        return false;
    }
    if (colon == std::string_view::npos) {
        return true;
    }
    const std::string_view arch = name.substr(colon + 1);
    return !arch.empty() && std::all_of(arch.begin(), arch.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

std::string plain_package_name(std::string_view name) {
    return std::string(name.substr(0, name.find(':')));
}

HostPackageFacts HostFacts::package_facts() const {
    HostPackageFacts h;
    h.running_kernel = kernel;
    if (!kernel_patterns.empty()) {
        h.kernel_patterns = kernel_patterns;
    }
    h.essential = always_kept_names(packages);
    return h;
}

std::string facts_command(std::string_view key_blob) {
    // Every value line is "key=value" (or a dpkg-query row) so that nothing a
    // file holds can pass for a section marker.
    return fmt::format(
        R"SH({clock}
sec() {{ printf '@@%s\n' "$1"; }}
sec id
printf 'uid=%s\nhome=%s\n' "$(id -u)" "$HOME"
sec system
printf 'kernel=%s\n' "$(uname -r)"
if [ -r /etc/os-release ]; then (. /etc/os-release; printf 'codename=%s\nname=%s\n' "${{VERSION_CODENAME:-}}" "${{PRETTY_NAME:-}}"); fi
printf 'hostname=%s\n' "$(hostname 2>/dev/null || uname -n)"
sec kernel-patterns
apt-config dump --no-empty --format '%v%n' APT::VersionedKernelPackages 2>/dev/null | sed 's/^/p=/'
sec virt
sh -c {probe} 2>/dev/null
file_state() {{
    sec "file $1"
    if [ -h "$1" ]; then
        echo type=symlink
        printf 'target=%s\n' "$(readlink -- "$1")"
    elif [ -f "$1" ]; then
        echo type=file
        printf 'sha256=%s\n' "$(sha256sum <"$1" | cut -d' ' -f1)"
        printf 'first_line=%s\n' "$(head -n 1 -- "$1")"
        case $(lsattr -d -- "$1" 2>/dev/null | cut -d' ' -f1) in *i*) echo immutable=1 ;; esac
        awk '$1 == "nameserver" {{ print "nameserver=" $2 }}' "$1"
    elif [ -e "$1" ]; then
        echo type=other
    else
        echo type=missing
    fi
}}
file_state {hostname}
file_state {resolv}
sec hosts
awk '$1 == "127.0.1.1" {{ $1 = ""; sub(/^ +/, ""); print "names=" $0; exit }}' {hosts} 2>/dev/null
sec key
[ -d "$HOME/.ssh" ] && printf 'ssh_dir_mode=%s\n' "$(stat -c %a "$HOME/.ssh")"
[ -f "$HOME/.ssh/authorized_keys" ] && printf 'keys_mode=%s\n' "$(stat -c %a "$HOME/.ssh/authorized_keys")"
[ -n {blob} ] && grep -qF -- {blob} "$HOME/.ssh/authorized_keys" 2>/dev/null && echo present=1
sec pending
sed 's/^/cmd=/' {pending} 2>/dev/null
sec dpkg
dpkg-query -W -f={format} || exit 3
sec end
)SH",
        fmt::arg("clock", clock_command()), fmt::arg("probe", shell_quote(k_virt_probe_script)),
        fmt::arg("hostname", shell_quote(k_hostname_path)), fmt::arg("resolv", shell_quote(k_resolv_conf_path)),
        fmt::arg("hosts", shell_quote(k_hosts_path)), fmt::arg("blob", shell_quote(key_blob)),
        fmt::arg("pending", shell_quote(k_pending_restarts_path)),
        fmt::arg("format", shell_quote(k_dpkg_query_format)));
}

HostFacts parse_host_facts(std::string_view text) {
    HostFacts facts;
    std::string section;
    std::string virt_text;
    std::string dpkg_text;
    bool ended = false;
    for (std::string_view line : lines_of(text)) {
        if (line.starts_with("@@")) {
            section = std::string(line.substr(2));
            ended = section == "end";
            continue;
        }
        const auto [key, value] = key_value(line);
        if (section == "id") {
            if (key == "uid")
                facts.uid = std::string(value);
            else if (key == "home")
                facts.home = std::string(value);
        } else if (section == "system") {
            if (key == "kernel")
                facts.kernel = std::string(value);
            else if (key == "codename")
                facts.codename = std::string(value);
            else if (key == "name")
                facts.os_name = std::string(value);
            else if (key == "hostname")
                facts.hostname = std::string(value);
        } else if (section == "kernel-patterns") {
            if (key == "p" && !value.empty()) facts.kernel_patterns.emplace_back(value);
        } else if (section == "virt") {
            virt_text.append(line).append("\n");
        } else if (section.starts_with("file ")) {
            parse_file_line(facts.files[section.substr(5)], line);
        } else if (section == "hosts") {
            if (key == "names") facts.hosts_entry = std::string(value);
        } else if (section == "key") {
            if (key == "ssh_dir_mode")
                facts.ssh_dir_mode = std::string(value);
            else if (key == "keys_mode")
                facts.keys_mode = std::string(value);
            else if (key == "present")
                facts.key_present = value == "1";
        } else if (section == "pending") {
            if (key == "cmd" && !value.empty()) facts.pending_restarts.emplace_back(value);
        } else if (section == "dpkg") {
            dpkg_text.append(line).append("\n");
        }
    }
    if (!ended) {
        fail(exit_code::k_data, "the facts script stopped early (no end marker)");
    }
    facts.virt = parse_virt_facts(virt_text);
    facts.packages = parse_dpkg_query(dpkg_text);
    for (const auto& p : facts.packages) {
        if (!valid_package_name(p.name)) {
            fail(exit_code::k_data, "dpkg-query named a package '{}', which is not a Debian package name", p.name);
        }
    }
    return facts;
}

std::string simulation_command(const std::vector<std::string>& packages, const std::vector<std::string>& extra) {
    std::string extra_words;
    for (const auto& e : extra) {
        extra_words += ' ';
        extra_words += shell_quote(e);
    }
    // Where apt refuses, the same simulation again at -q says why (-qq
    // keeps its "unmet dependencies" report to itself).
    std::string cmd = "sim() { out=$(LC_ALL=C apt-get -s -qq remove \"$@\" 2>&1); rc=$?; "
                      "printf '@@sim %s %s\\n%s\\n' \"$1\" \"$rc\" \"$out\"; "
                      "if [ \"$rc\" != 0 ]; then "
                      "printf '@@why\\n%s\\n' \"$(LC_ALL=C apt-get -s -q remove \"$@\" 2>&1)\"; fi; }\n";
    for (const auto& p : packages) {
        cmd += fmt::format("sim {}{}\n", shell_quote(p), extra_words);
    }
    return cmd;
}

std::vector<RemovalSimulation> parse_simulations(std::string_view output, const std::vector<std::string>& packages) {
    std::vector<RemovalSimulation> sims;
    std::string body;
    std::string why;
    int rc = 0;
    bool open = false;
    bool in_why = false;
    auto close = [&] {
        if (open) {
            sims.push_back(parse_apt_simulation(body, rc, why));
        }
        body.clear();
        why.clear();
        in_why = false;
    };
    for (std::string_view line : lines_of(output)) {
        if (line.starts_with("@@sim ")) {
            close();
            const std::string_view rest = line.substr(6);
            const auto space = rest.rfind(' ');
            const std::size_t index = sims.size();
            if (space == std::string_view::npos || index >= packages.size() ||
                rest.substr(0, space) != packages[index]) {
                fail(exit_code::k_data, "apt-get simulations: unexpected record '{}'", line);
            }
            try {
                rc = std::stoi(std::string(rest.substr(space + 1)));
            } catch (const std::exception&) {
                fail(exit_code::k_data, "apt-get simulations: bad exit status in '{}'", line);
            }
            open = true;
            continue;
        }
        if (line == "@@why") {
            if (!open || in_why || rc == 0) {
                fail(exit_code::k_data, "apt-get simulations: an explanation where none belongs");
            }
            in_why = true;
            continue;
        }
        (in_why ? why : body).append(line).append("\n");
    }
    close();
    if (sims.size() != packages.size()) {
        fail(exit_code::k_data, "apt-get simulations: {} results for {} packages", sims.size(), packages.size());
    }
    return sims;
}

std::vector<const PackageDecision*> PackagePlan::asked() const {
    std::vector<const PackageDecision*> out;
    for (const auto& d : decisions) {
        if (d.action == PackageDecision::Action::ask) {
            out.push_back(&d);
        }
    }
    return out;
}

namespace {

PackagePlan finish_plan(std::map<std::size_t, PackageDecision> decided) {
    PackagePlan plan;
    for (auto& [i, d] : decided) {
        if (d.action == PackageDecision::Action::purge) {
            plan.purge.push_back(d.name);
        } else if (d.action == PackageDecision::Action::ask) {
            plan.ask.push_back(d.name);
        }
        plan.decisions.push_back(std::move(d));
    }
    return plan;
}

} // namespace

std::vector<std::string> blacklisted_packages(const std::vector<InstalledPackage>& packages, const PackageLists& lists,
                                              const HostPackageFacts& host) {
    std::vector<std::string> out;
    for (const auto& p : packages) {
        if (!p.installed()) {
            continue;
        }
        const auto d = decide_package(p, lists, host, std::nullopt);
        if (d.action == PackageDecision::Action::purge) {
            out.push_back(p.name);
        }
    }
    return out;
}

PackagePlan plan_packages(const std::vector<InstalledPackage>& packages, const PackageLists& lists,
                          const HostPackageFacts& host, const Simulator& simulate) {
    using Action = PackageDecision::Action;
    std::map<std::size_t, PackageDecision> decided; // by index in packages
    std::vector<std::size_t> open;
    std::set<std::string> gone;          // plain names planned for purging
    std::vector<std::string> gone_names; // as dpkg-query gave them, for apt-get
    auto purge = [&](std::size_t i, PackageDecision d) {
        gone.insert(plain_package_name(packages[i].name));
        gone_names.push_back(packages[i].name);
        decided[i] = std::move(d);
    };
    for (std::size_t i = 0; i < packages.size(); ++i) {
        const InstalledPackage& p = packages[i];
        if (!p.installed()) {
            continue;
        }
        if (needs_simulation(p, lists, host)) {
            open.push_back(i);
            continue;
        }
        PackageDecision d = decide_package(p, lists, host, std::nullopt);
        if (d.action == Action::purge) {
            purge(i, std::move(d));
        } else {
            decided[i] = std::move(d);
        }
    }
    if (open.empty()) {
        return finish_plan(std::move(decided));
    }
    // Each package's own removal, as the rules define it.
    std::vector<std::string> names;
    for (std::size_t i : open) {
        names.push_back(packages[i].name);
    }
    const std::vector<RemovalSimulation> sims = simulate(names, {});
    std::map<std::size_t, RemovalSimulation> solo;
    for (std::size_t k = 0; k < open.size(); ++k) {
        solo[open[k]] = sims.at(k);
    }
    std::map<std::size_t, RemovalSimulation> refused;
    // A package whose removal takes with it only packages already planned
    // for purging is purged too, once removing it together with them is
    // confirmed to remove nothing else; repeated until nothing new is found.
    for (;;) {
        std::vector<std::size_t> candidates;
        for (std::size_t i : open) {
            const RemovalSimulation& s = solo[i];
            const std::string plain = plain_package_name(packages[i].name);
            const bool only_planned = std::all_of(s.removed.begin(), s.removed.end(),
                                                  [&](const std::string& r) { return r == plain || gone.contains(r); });
            if (s.exit_status == 0 && s.installed.empty() && only_planned &&
                std::find(s.removed.begin(), s.removed.end(), plain) != s.removed.end()) {
                candidates.push_back(i);
            }
        }
        if (candidates.empty()) {
            break;
        }
        std::vector<std::string> cnames;
        for (std::size_t i : candidates) {
            cnames.push_back(packages[i].name);
        }
        const std::vector<RemovalSimulation> together =
            gone_names.empty() ? std::vector<RemovalSimulation>() : simulate(cnames, gone_names);
        std::vector<std::pair<std::size_t, PackageDecision>> found;
        for (std::size_t k = 0; k < candidates.size(); ++k) {
            const std::size_t i = candidates[k];
            const std::string plain = plain_package_name(packages[i].name);
            RemovalSimulation sim = together.empty() ? solo[i] : together.at(k);
            std::erase_if(sim.removed, [&](const std::string& r) { return r != plain && gone.contains(r); });
            PackageDecision d = decide_package(packages[i], lists, host, sim);
            if (d.action != Action::purge) {
                refused[i] = std::move(sim); // what apt said with the purges: asked on that
                continue;
            }
            std::vector<std::string> with;
            for (const auto& r : solo[i].removed) {
                if (r != plain) with.push_back(r);
            }
            if (!with.empty()) {
                d.reason = fmt::format("removes only itself once {} {} purged", fmt::join(with, ", "),
                                       with.size() == 1 ? "is" : "are");
            }
            found.emplace_back(i, std::move(d));
        }
        if (found.empty()) {
            break;
        }
        for (auto& [i, d] : found) {
            purge(i, std::move(d));
            std::erase(open, i);
        }
    }
    // The rest is asked about, as things will stand after the purges.
    for (std::size_t i : open) {
        RemovalSimulation sim = refused.contains(i) ? refused[i] : solo[i];
        const std::string plain = plain_package_name(packages[i].name);
        std::erase_if(sim.removed, [&](const std::string& r) { return r != plain && gone.contains(r); });
        decided[i] = decide_package(packages[i], lists, host, sim);
    }
    return finish_plan(std::move(decided));
}

std::map<std::string, Answer> parse_answers(std::string_view text, std::string_view source) {
    std::map<std::string, Answer> answers;
    int line_no = 0;
    for (std::string_view line : lines_of(text)) {
        ++line_no;
        line = line.substr(0, line.find('#'));
        std::vector<std::string_view> words;
        std::size_t pos = 0;
        while (pos < line.size()) {
            const auto start = line.find_first_not_of(" \t\r", pos);
            if (start == std::string_view::npos) {
                break;
            }
            const auto end = line.find_first_of(" \t\r", start);
            words.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
            pos = end == std::string_view::npos ? line.size() : end;
        }
        if (words.empty()) {
            continue;
        }
        if (words.size() != 2 || !valid_package_name(words[0]) || (words[1] != "keep" && words[1] != "purge")) {
            fail(exit_code::k_data, "{}:{}: expected 'PACKAGE keep' or 'PACKAGE purge'", source, line_no);
        }
        answers[plain_package_name(words[0])] = words[1] == "keep" ? Answer::keep : Answer::purge;
    }
    return answers;
}

} // namespace wp
