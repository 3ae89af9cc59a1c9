#include "provision/packages.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fs.h"

namespace wp {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto pos = s.find(sep, start);
        if (pos == std::string_view::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, pos - start));
        start = pos + 1;
    }
}

std::string_view trim(std::string_view s) {
    const auto a = s.find_first_not_of(" \t\r");
    if (a == std::string_view::npos) {
        return {};
    }
    return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

std::string without_arch(std::string_view name) {
    return std::string(name.substr(0, name.find(':')));
}

// apt names a versioned kernel package PATTERN-RELEASE (apt-pkg builds
// ^PATTERN-UNAME$ from each pattern), RELEASE being a kernel's `uname -r`
// (X.Y.Z...): a pattern alone would also take libpam-modules (".*-modules"),
// linux-base or the linux-image-amd64 metapackage ("linux-.*"), and a version
// of two numbers perl-modules-5.36.
bool is_kernel_package(std::string_view name, const HostPackageFacts& host) {
    const std::string plain = without_arch(name);
    return std::any_of(host.kernel_patterns.begin(), host.kernel_patterns.end(), [&](const std::string& p) {
        try {
            const std::regex versioned("(" + p + ")-[0-9]+\\.[0-9]+\\.[0-9]+([-+.~].*)?", std::regex::extended);
            return std::regex_match(plain, versioned);
        } catch (const std::regex_error&) {
            return false;
        }
    });
}

bool is_running_kernel(std::string_view name, const HostPackageFacts& host) {
    return !host.running_kernel.empty() && without_arch(name).find(host.running_kernel) != std::string::npos;
}

} // namespace

std::vector<InstalledPackage> parse_dpkg_query(std::string_view text) {
    std::vector<InstalledPackage> out;
    int line_no = 0;
    for (std::string_view line : split(text, '\n')) {
        ++line_no;
        if (line.empty()) {
            continue;
        }
        const auto f = split(line, '\t');
        if (f.size() != 7 || f[0].empty() || f[1].size() != 3) {
            fail(exit_code::k_data, "dpkg-query output line {}: expected 7 tab-separated fields", line_no);
        }
        InstalledPackage p;
        p.name = std::string(f[0]);
        p.status = std::string(f[1]);
        p.version = std::string(f[2]);
        p.essential = f[3] == "yes";
        p.is_protected = f[4] == "yes";
        p.important = f[5] == "yes";
        p.priority = std::string(f[6]);
        out.push_back(std::move(p));
    }
    return out;
}

bool RemovalSimulation::removes_only(std::string_view pkg) const {
    return exit_status == 0 && installed.empty() && removed.size() == 1 && removed[0] == without_arch(pkg);
}

std::vector<std::string> RemovalSimulation::refused_for(const std::set<std::string, std::less<>>& essential) const {
    if (exit_status == 0 || !removed.empty() || !installed.empty() || errors.empty()) {
        return {};
    }
    const bool resolver =
        std::all_of(errors.begin(), errors.end(), [](const std::string& e) { return e == k_apt_resolver_refusal; });
    const bool removal =
        std::all_of(errors.begin(), errors.end(), [](const std::string& e) { return e == k_apt_essential_refusal; });
    const std::vector<std::string>& named = resolver  ? broken
                                            : removal ? explained_removed
                                                      : std::vector<std::string>();
    std::vector<std::string> out;
    for (const auto& n : named) {
        if (essential.contains(n) && std::find(out.begin(), out.end(), n) == out.end()) {
            out.push_back(n);
        }
    }
    return out;
}

namespace {

void add_unique(std::vector<std::string>& v, std::string name) {
    if (std::find(v.begin(), v.end(), name) == v.end()) {
        v.push_back(std::move(name));
    }
}

// A line of apt's "unmet dependencies" report that names a broken package:
// " PKG : Depends: …" (one space, the name, " : ", a dependency type); its
// further dependencies are indented under it. The name, or empty.
std::string_view broken_package(std::string_view line) {
    if (line.size() < 2 || line[0] != ' ' || line[1] == ' ') {
        return {};
    }
    const auto sep = line.find(" : ");
    if (sep == std::string_view::npos) {
        return {};
    }
    const std::string_view name = line.substr(1, sep - 1);
    const std::string_view rest = line.substr(sep + 3);
    const auto colon = rest.find(':');
    if (name.find_first_of(" \t") != std::string_view::npos || colon == std::string_view::npos) {
        return {};
    }
    static constexpr std::string_view k_types[] = {"PreDepends", "Depends",  "Recommends", "Suggests", "Conflicts",
                                                   "Breaks",     "Replaces", "Obsoletes",  "Enhances"};
    const std::string_view type = rest.substr(0, colon);
    return std::find(std::begin(k_types), std::end(k_types), type) != std::end(k_types) ? name : std::string_view();
}

} // namespace

RemovalSimulation parse_apt_simulation(std::string_view output, int exit_status, std::string_view explanation) {
    RemovalSimulation sim;
    sim.exit_status = exit_status;
    for (std::string_view line : split(output, '\n')) {
        if (line.starts_with("E: ")) {
            sim.errors.emplace_back(trim(line.substr(3)));
            continue;
        }
        const auto words = split(trim(line), ' ');
        if (words.size() < 2) {
            continue;
        }
        if (words[0] == "Remv" || words[0] == "Purg") {
            sim.removed.push_back(without_arch(words[1]));
        } else if (words[0] == "Inst" || words[0] == "Conf") {
            add_unique(sim.installed, without_arch(words[1]));
        }
    }
    for (std::string_view line : split(explanation, '\n')) {
        if (const std::string_view name = broken_package(line); !name.empty()) {
            add_unique(sim.broken, without_arch(name));
            continue;
        }
        const auto words = split(trim(line), ' ');
        if (words.size() >= 2 && (words[0] == "Remv" || words[0] == "Purg")) {
            add_unique(sim.explained_removed, without_arch(words[1]));
        }
    }
    return sim;
}

std::vector<std::string> PackageLists::parse_list(std::string_view text) {
    std::vector<std::string> names;
    for (std::string_view line : split(text, '\n')) {
        line = trim(line.substr(0, line.find('#')));
        if (!line.empty()) {
            names.emplace_back(line);
        }
    }
    return names;
}

PackageLists PackageLists::load(const std::string& dir) {
    namespace fs = std::filesystem;
    PackageLists lists;
    const std::string white = dir + "/packages";
    std::error_code ec;
    if (!fs::is_directory(white, ec)) {
        fail(exit_code::k_no_input, "package lists: {} is not a directory", white);
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(white, ec)) {
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        for (auto& n : parse_list(read_file(f.string()))) {
            lists.keep.insert(std::move(n));
        }
    }
    for (auto& n : parse_list(read_file(dir + "/packages-blacklist"))) {
        lists.purge.insert(std::move(n));
    }
    return lists;
}

std::string PackageDecision::describe() const {
    switch (action) {
    case Action::keep:
        return fmt::format("KEEPING {} ({})", name, reason);
    case Action::purge:
        return fmt::format("PURGING {} ({})", name, reason);
    case Action::ask:
        if (!also_removed.empty()) {
            return fmt::format("ASKING {} (would also remove: {})", name, fmt::join(also_removed, ", "));
        }
        return fmt::format("ASKING {} ({})", name, reason);
    }
    return {};
}

bool needs_simulation(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host) {
    const PackageDecision d = decide_package(pkg, lists, host, std::nullopt);
    return d.action == PackageDecision::Action::ask && d.reason == "not simulated";
}

bool always_kept(const InstalledPackage& pkg) {
    const std::string plain = without_arch(pkg.name);
    return pkg.essential || pkg.is_protected || pkg.important || plain == "apt" || plain == "dpkg";
}

std::set<std::string, std::less<>> always_kept_names(const std::vector<InstalledPackage>& packages) {
    std::set<std::string, std::less<>> out;
    for (const auto& p : packages) {
        if (p.installed() && always_kept(p)) {
            out.insert(without_arch(p.name));
        }
    }
    return out;
}

PackageDecision decide_package(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host,
                               const std::optional<RemovalSimulation>& simulation) {
    using Action = PackageDecision::Action;
    PackageDecision d;
    d.name = pkg.name;
    const std::string plain = without_arch(pkg.name);
    auto decide = [&](Action a, std::string why) {
        d.action = a;
        d.reason = std::move(why);
        return d;
    };
    if (pkg.essential) return decide(Action::keep, "essential");
    if (pkg.is_protected) return decide(Action::keep, "protected");
    if (pkg.important) return decide(Action::keep, "important to apt");
    if (plain == "apt" || plain == "dpkg") return decide(Action::keep, "the package manager");
    if (lists.keep.contains(plain)) return decide(Action::keep, "whitelist");
    if (is_running_kernel(plain, host)) return decide(Action::keep, "running kernel");
    if (lists.purge.contains(plain)) return decide(Action::purge, "blacklist");
    if (is_kernel_package(plain, host)) return decide(Action::ask, "kernel package");
    if (!simulation) return decide(Action::ask, "not simulated");
    if (simulation->removes_only(plain)) return decide(Action::purge, "removes only itself");
    // apt refuses to remove it for the sake of an Essential package: asking
    // would be noise, and a "purge" answer could only fail
    d.needed_by = simulation->refused_for(host.essential);
    if (!d.needed_by.empty()) return decide(Action::keep, "needed by essential packages");
    for (const auto& r : simulation->removed) {
        if (r != plain) {
            d.also_removed.push_back(r);
        }
    }
    if (!simulation->installed.empty()) {
        return decide(Action::ask, fmt::format("removing it installs: {}", fmt::join(simulation->installed, ", ")));
    }
    if (simulation->exit_status != 0) {
        return decide(Action::ask, fmt::format("apt-get -s remove exited {}", simulation->exit_status));
    }
    return decide(Action::ask, "would remove more than itself");
}

std::string add_to_list(std::string_view text, const std::string& name) {
    // Names stay sorted; comment lines (and the header) stay in place.
    auto lines = split(text, '\n');
    if (!lines.empty() && lines.back().empty()) {
        lines.pop_back();
    }
    std::vector<std::string> out;
    bool inserted = false;
    for (std::string_view line : lines) {
        const std::string_view entry = trim(line.substr(0, line.find('#')));
        if (entry == name) {
            return std::string(text); // already there
        }
        if (!inserted && !entry.empty() && entry > name) {
            out.push_back(name);
            inserted = true;
        }
        out.emplace_back(line);
    }
    if (!inserted) {
        out.push_back(name);
    }
    std::string result;
    for (const auto& l : out) {
        result += l;
        result += '\n';
    }
    return result;
}

} // namespace wp
