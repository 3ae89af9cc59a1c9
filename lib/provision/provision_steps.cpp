#include "provision/provision_steps.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fnmatch.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <libssh/libssh.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/sha256.h"

namespace wp {

namespace {

// A step that could not be done: the report's cause.
class StepFailure : public std::runtime_error {
public:
    explicit StepFailure(const std::string& cause) : std::runtime_error(cause) {}
};

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
    return fmt::format("{}", fmt::join(items, sep));
}

std::string quoted_words(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        out += ' ';
        out += shell_quote(w);
    }
    return out;
}

std::string octal(mode_t mode) {
    return fmt::format("{:o}", static_cast<unsigned>(mode & 07777));
}

} // namespace

std::string_view status_word(StepStatus status) {
    switch (status) {
    case StepStatus::ok:
        return "ok";
    case StepStatus::would_change:
        return "would change";
    case StepStatus::changed:
        return "changed";
    case StepStatus::failed:
        return "failed";
    }
    return "?";
}

std::string describe_step(const StepResult& r) {
    if (r.detail.empty()) {
        return fmt::format("{}: {}", r.step, status_word(r.status));
    }
    return fmt::format("{}: {}: {}", r.step, status_word(r.status), r.detail);
}

std::string summarize_host(const std::vector<StepResult>& steps, bool apply) {
    if (!steps.empty() && steps.back().status == StepStatus::failed) {
        return fmt::format("failed at {}: {}", steps.back().step, steps.back().detail);
    }
    const auto count = [&](StepStatus s) {
        return std::count_if(steps.begin(), steps.end(), [s](const StepResult& r) { return r.status == s; });
    };
    if (!apply) {
        return fmt::format("plan: {} would change, {} ok", count(StepStatus::would_change), count(StepStatus::ok));
    }
    return fmt::format("done: {} changed, {} ok", count(StepStatus::changed), count(StepStatus::ok));
}

// --- managed files -----------------------------------------------------

std::string ManagedFilePlan::describe() const {
    std::vector<std::string> parts;
    if (remove_immutable) parts.emplace_back("chattr -i");
    if (replace_symlink) parts.emplace_back("replace the symbolic link by a file");
    if (write) parts.emplace_back("write");
    if (set_immutable) parts.emplace_back("chattr +i");
    return join(parts);
}

ManagedFilePlan plan_managed_file(std::string_view path, const RemoteFileState& state, std::string_view content,
                                  bool immutable_allowed) {
    using Type = RemoteFileState::Type;
    if (state.type == Type::other) {
        fail(exit_code::k_data, "{} is neither a regular file nor a symbolic link", path);
    }
    ManagedFilePlan plan;
    const bool content_ok = state.type == Type::file && state.sha256 == sha256_hex(content);
    plan.write = !content_ok;
    plan.replace_symlink = state.type == Type::symlink;
    // A rename cannot replace an immutable file; and where +i is not allowed
    // (Virtuozzo: the container would not boot), one found is taken off.
    plan.remove_immutable = state.immutable && (plan.write || !immutable_allowed);
    plan.set_immutable = immutable_allowed && (plan.write || !state.immutable);
    return plan;
}

std::string managed_file_command(std::string_view path, const ManagedFilePlan& plan) {
    std::string cmd = fmt::format("f={}\n", shell_quote(path));
    if (plan.remove_immutable) {
        cmd += "chattr -i -- \"$f\" || exit 10\n";
    }
    if (plan.replace_symlink) {
        cmd += "rm -f -- \"$f\" || exit 11\n";
    }
    if (plan.write) {
        cmd += "t=\"$f.wp-tmp\"\n"
               "cat >\"$t\" && chmod 644 \"$t\" && mv -f -- \"$t\" \"$f\" || { rm -f -- \"$t\"; exit 12; }\n";
    }
    if (plan.set_immutable) {
        cmd += "if ! msg=$(chattr +i -- \"$f\" 2>&1); then printf '@@chattr-failed %s\\n' \"$msg\"; fi\n";
    }
    return cmd;
}

std::string hosts_entry_command(std::string_view hostname, std::string_view hosts_path) {
    return fmt::format(
        "h={}; t=\"$h.wp-tmp\"\n"
        "{{ cat \"$h\" 2>/dev/null || :; }} | awk -v n={} 'BEGIN {{ done = 0 }} "
        "$1 == \"127.0.1.1\" {{ if (!done) {{ print \"127.0.1.1\\t\" n; done = 1 }} next }} {{ print }} "
        "END {{ if (!done) print \"127.0.1.1\\t\" n }}' >\"$t\" && chmod 644 \"$t\" && mv -f -- \"$t\" \"$h\"\n",
        shell_quote(hosts_path), shell_quote(hostname));
}

std::string check_hostname(std::string_view name) {
    if (name.empty() || name.size() > 253) {
        return "must be 1 to 253 characters";
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        auto dot = name.find('.', start);
        if (dot == std::string_view::npos) {
            dot = name.size();
        }
        const std::string_view label = name.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
            !std::all_of(label.begin(), label.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
            })) {
            return fmt::format("'{}' is not a host name (labels of letters, digits and '-', separated by '.')", name);
        }
        start = dot + 1;
    }
    return {};
}

std::string check_resolver(std::string_view address) {
    const std::string a(address);
    unsigned char buf[16];
    if (inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1) {
        return {};
    }
    return fmt::format("'{}' is not an IPv4 or IPv6 address", address);
}

std::string resolv_conf_content(const std::vector<std::string>& resolvers) {
    std::string out = "# written by wp-provision\n";
    for (const auto& r : resolvers) {
        out += fmt::format("nameserver {}\n", r);
    }
    return out;
}

// --- the pushed tree -----------------------------------------------------

std::vector<TreeFile> read_config_tree(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        fail(exit_code::k_no_input, "--files: {} is not a directory", dir);
    }
    std::vector<TreeFile> files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        const fs::path& p = it->path();
        const std::string rel = fs::relative(p, dir).generic_string();
        if (rel == k_restart_map_name) {
            continue;
        }
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) {
            fail_errno(errno, fmt::format("cannot read {}", p.string()));
        }
        if (S_ISDIR(st.st_mode)) {
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            fail(exit_code::k_data, "--files: {} is not a regular file (links and devices are not pushed)", p.string());
        }
        if (std::any_of(rel.begin(), rel.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
            fail(exit_code::k_data, "--files: {}: control characters in a file name", dir);
        }
        TreeFile f;
        f.local = p.string();
        f.remote = "/" + rel;
        f.mode = st.st_mode & 07777;
        f.sha256 = sha256_hex(read_file(f.local));
        files.push_back(std::move(f));
    }
    if (ec) {
        fail_errno(ec.value(), fmt::format("cannot read {}", dir));
    }
    std::sort(files.begin(), files.end(), [](const TreeFile& a, const TreeFile& b) { return a.remote < b.remote; });
    return files;
}

std::vector<RestartRule> parse_restart_map(std::string_view text, std::string_view source) {
    std::vector<RestartRule> rules;
    int line_no = 0;
    for (std::string_view line : lines_of(text)) {
        ++line_no;
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos || line[start] == '#') {
            continue;
        }
        line.remove_prefix(start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.remove_suffix(1);
        }
        const auto gap = line.find_first_of(" \t");
        const auto cmd_start = gap == std::string_view::npos ? gap : line.find_first_not_of(" \t", gap);
        if (line[0] != '/' || cmd_start == std::string_view::npos) {
            fail(exit_code::k_data, "{}:{}: expected '/PATH-GLOB COMMAND'", source, line_no);
        }
        rules.push_back({std::string(line.substr(0, gap)), std::string(line.substr(cmd_start))});
    }
    return rules;
}

std::vector<std::string> restart_commands_for(const std::vector<RestartRule>& rules,
                                              const std::vector<std::string>& changed_paths) {
    std::vector<std::string> out;
    for (const auto& rule : rules) {
        const bool hit = std::any_of(changed_paths.begin(), changed_paths.end(), [&](const std::string& p) {
            return ::fnmatch(rule.glob.c_str(), p.c_str(), FNM_PATHNAME) == 0;
        });
        if (hit && std::find(out.begin(), out.end(), rule.command) == out.end()) {
            out.push_back(rule.command);
        }
    }
    return out;
}

std::string tree_digest_command(const std::vector<TreeFile>& files) {
    std::string cmd = "d() { if [ -f \"$1\" ] && [ ! -h \"$1\" ]; then "
                      "printf '%s %s\\n' \"$(stat -c %a -- \"$1\")\" \"$(sha256sum <\"$1\" | cut -d' ' -f1)\"; "
                      "else echo missing; fi; }\n";
    for (const auto& f : files) {
        cmd += fmt::format("d {}\n", shell_quote(f.remote));
    }
    return cmd;
}

// --- keys ------------------------------------------------------------------

std::string PublicKey::line() const {
    return comment.empty() ? fmt::format("{} {}", type, blob) : fmt::format("{} {} {}", type, blob, comment);
}

PublicKey parse_public_key(std::string_view text, std::string_view source) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    PublicKey key;
    const auto s1 = text.find(' ');
    const auto s2 = s1 == std::string_view::npos ? s1 : text.find(' ', s1 + 1);
    key.type = std::string(text.substr(0, s1));
    if (s1 != std::string_view::npos) {
        key.blob = std::string(text.substr(s1 + 1, s2 == std::string_view::npos ? s2 : s2 - s1 - 1));
    }
    if (s2 != std::string_view::npos) {
        key.comment = std::string(text.substr(s2 + 1));
    }
    const bool type_ok = !key.type.empty() && std::all_of(key.type.begin(), key.type.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '@' || c == '.';
    });
    const bool blob_ok = key.blob.size() >= 16 && std::all_of(key.blob.begin(), key.blob.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                    c == '+' || c == '/' || c == '=';
                         });
    const bool comment_ok =
        std::none_of(key.comment.begin(), key.comment.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    if (!type_ok || !blob_ok || !comment_ok) {
        fail(exit_code::k_data, "{}: not a public key line 'TYPE BASE64 [COMMENT]'", source);
    }
    return key;
}

std::optional<PublicKey> find_public_key(const std::string& identity) {
    auto readable = [](const std::string& p) { return ::access(p.c_str(), R_OK) == 0; };
    if (!identity.empty()) {
        if (readable(identity + ".pub")) {
            return parse_public_key(read_file(identity + ".pub"), identity + ".pub");
        }
        ssh_key priv = nullptr;
        ssh_key pub = nullptr;
        char* b64 = nullptr;
        std::optional<PublicKey> key;
        if (ssh_pki_import_privkey_file(identity.c_str(), nullptr, nullptr, nullptr, &priv) == SSH_OK &&
            ssh_pki_export_privkey_to_pubkey(priv, &pub) == SSH_OK &&
            ssh_pki_export_pubkey_base64(pub, &b64) == SSH_OK) {
            key = PublicKey{ssh_key_type_to_char(ssh_key_type(pub)), b64, "wp-provision"};
        }
        ssh_string_free_char(b64);
        ssh_key_free(pub);
        ssh_key_free(priv);
        if (!key) {
            fail(exit_code::k_config, "cannot derive a public key from identity {}", identity);
        }
        return key;
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr) {
        return std::nullopt;
    }
    for (const char* name : {"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"}) {
        const std::string p = fmt::format("{}/.ssh/{}", home, name);
        if (readable(p)) {
            return parse_public_key(read_file(p), p);
        }
    }
    return std::nullopt;
}

std::string install_key_command(const PublicKey& key) {
    return fmt::format(
        R"SH(set -e
umask 077
cd
if [ ! -d .ssh ]; then mkdir .ssh; echo "created ~/.ssh"; fi
m=$(stat -c %a .ssh)
if [ "$m" != 700 ]; then chmod 700 .ssh; echo "~/.ssh mode $m -> 700"; fi
f=.ssh/authorized_keys
if [ ! -e "$f" ]; then : >"$f"; echo "created ~/.ssh/authorized_keys"; fi
m=$(stat -c %a "$f")
if [ "$m" != 600 ]; then chmod 600 "$f"; echo "~/.ssh/authorized_keys mode $m -> 600"; fi
if ! grep -qF -- {blob} "$f"; then
    if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >>"$f"; fi
    printf '%s\n' {line} >>"$f"
    echo {added}
fi
)SH",
        fmt::arg("blob", shell_quote(key.blob)), fmt::arg("line", shell_quote(key.line())),
        fmt::arg("added", shell_quote(fmt::format("added {} key {}", key.type, key.comment))));
}

// --- apt -------------------------------------------------------------------

std::string release_sources_command(std::string_view from, std::string_view to, std::string_view apt_dir) {
    return fmt::format(
        R"SH(cd {dir} || exit 1
for f in sources.list sources.list.d/*.list sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v from={from} -v to={to} '
        /^[[:space:]]*#/ {{ print; next }}
        {{
            for (i = 1; i <= NF; i++) {{
                if ($i == from) $i = to
                else if ($i == from "/updates") $i = to "-security"
                else if ($i == from "-updates" || $i == from "-security" || $i == from "-backports" || $i == from "-proposed-updates")
                    $i = to substr($i, length(from) + 1)
            }}
            print
        }}' "$f" >"$f.wp-tmp" && chmod --reference="$f" "$f.wp-tmp" && mv -f -- "$f.wp-tmp" "$f" || exit 1
done
)SH",
        fmt::arg("dir", shell_quote(apt_dir)), fmt::arg("from", shell_quote(from)), fmt::arg("to", shell_quote(to)));
}

std::string apt_get_command(std::string_view arguments) {
    return fmt::format("DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none LC_ALL=C apt-get -y -q "
                       "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
                       "-o DPkg::Lock::Timeout=120 {}",
                       arguments);
}

// --- one host's run --------------------------------------------------------

namespace {

class Provisioner {
public:
    Provisioner(RemoteHost& host, const ProvisionSettings& settings, std::string inventory_virt,
                const std::function<void(const std::string&)>& line,
                const std::function<void(const std::string&)>& warn)
        : m_host(host), m_s(settings), m_inventory_virt(std::move(inventory_virt)), m_line(line), m_warn(warn) {}

    HostRun run() {
        if (!step("facts", [&] { return facts(); })) return std::move(m_run);
        if (m_s.key && !step("key", [&] { return key(); })) return std::move(m_run);
        if (!step("purge-blacklisted", [&] { return purge_blacklisted(); })) return std::move(m_run);
        if (!step("upgrade", [&] { return upgrade(); })) return std::move(m_run);
        if (!m_s.to_release.empty() && !step("release", [&] { return release(); })) return std::move(m_run);
        if (!step("prune", [&] { return prune(); })) return std::move(m_run);
        if ((!m_s.tree.empty() || !m_facts.pending_restarts.empty()) && !step("files", [&] { return files(); }))
            return std::move(m_run);
        if (!m_s.hostname.empty() && !step("hostname", [&] { return hostname(); })) return std::move(m_run);
        if (!m_s.resolvers.empty() && !step("resolver", [&] { return resolver(); })) return std::move(m_run);
        return std::move(m_run);
    }

private:
    using Action = PackageDecision::Action;

    // Runs one step; false when it failed (the run stops).
    template <typename F> bool step(const std::string& name, F&& body) {
        StepResult r;
        r.step = name;
        try {
            if (interrupted()) {
                throw StepFailure("interrupted");
            }
            r = body();
            r.step = name;
        } catch (const StepFailure& e) {
            r.status = StepStatus::failed;
            r.detail = e.what();
        } catch (const SshError& e) {
            r.status = StepStatus::failed;
            r.detail = e.what();
        } catch (const Error& e) {
            r.status = StepStatus::failed;
            r.detail = e.what();
        }
        m_line(describe_step(r));
        m_run.steps.push_back(r);
        return r.status != StepStatus::failed;
    }

    StepResult result(bool changes, std::string detail) const {
        StepResult r;
        r.status = !changes ? StepStatus::ok : m_s.apply ? StepStatus::changed : StepStatus::would_change;
        r.detail = std::move(detail);
        return r;
    }

    ExecResult must(const std::string& command, std::string_view what, std::string_view input = {}) {
        ExecOptions options;
        options.stdin_data = input;
        ExecResult r = m_host.run(command, options);
        if (!r.ok()) {
            throw StepFailure(fmt::format("{}: {}", what, r.describe()));
        }
        return r;
    }

    void print(const std::string& text) { m_line(text); }

    // --- facts

    StepResult facts() {
        // The host's clock line comes first; the bracket closes when it
        // arrives, not when dpkg-query has listed every package.
        std::string out;
        ClockLine clock([&out](std::string_view data) { out.append(data); });
        ExecOptions options;
        options.on_stdout = [&clock](std::string_view data) { clock.feed(data); };
        options.on_send = [&clock] { clock.sent(); };
        clock.sent();
        ExecResult r;
        try {
            r = m_host.run(facts_command(m_s.key ? m_s.key->blob : std::string()), options);
        } catch (...) {
            m_run.clock = clock.reading();
            throw;
        }
        clock.finish();
        m_run.clock = clock.reading();
        if (!r.ok()) {
            throw StepFailure(fmt::format("facts script: {}", r.describe()));
        }
        m_facts = parse_host_facts(out);
        if (m_facts.uid != "0") {
            throw StepFailure(fmt::format("logged in as uid {}: provisioning needs root", m_facts.uid));
        }
        m_detected = detect_virt(m_facts.virt);
        m_run.virt = m_detected;
        m_policy = immutable_policy(m_inventory_virt, m_detected);
        m_packages = m_facts.packages;
        const auto installed = std::count_if(m_packages.begin(), m_packages.end(),
                                             [](const InstalledPackage& p) { return p.installed(); });
        std::string system = m_facts.os_name.empty() ? std::string("unknown system") : m_facts.os_name;
        if (!m_facts.codename.empty() && system.find(m_facts.codename) == std::string::npos) {
            system += fmt::format(" ({})", m_facts.codename);
        }
        return result(false, fmt::format("{}, kernel {}, {}, {} packages installed, hostname {}", system,
                                         m_facts.kernel, m_detected.describe(), installed, m_facts.hostname));
    }

    void refresh_packages() {
        const ExecResult r = must(fmt::format("dpkg-query -W -f={}", shell_quote(k_dpkg_query_format)), "dpkg-query");
        m_packages = parse_dpkg_query(r.out);
        for (const auto& p : m_packages) {
            if (!valid_package_name(p.name)) {
                throw StepFailure(fmt::format("dpkg-query named a package '{}', which is not a package name", p.name));
            }
        }
    }

    // --- key

    StepResult key() {
        if (!m_s.apply) {
            std::vector<std::string> todo;
            if (m_facts.ssh_dir_mode != "700")
                todo.push_back(fmt::format("~/.ssh mode {} -> 700",
                                           m_facts.ssh_dir_mode.empty() ? "missing" : m_facts.ssh_dir_mode));
            if (m_facts.keys_mode != "600")
                todo.push_back(fmt::format("~/.ssh/authorized_keys mode {} -> 600",
                                           m_facts.keys_mode.empty() ? "missing" : m_facts.keys_mode));
            if (!m_facts.key_present) todo.push_back(fmt::format("add {} key {}", m_s.key->type, m_s.key->comment));
            return result(!todo.empty(), todo.empty() ? "our key is in ~/.ssh/authorized_keys" : join(todo, "; "));
        }
        const ExecResult r = must(install_key_command(*m_s.key), "install the key");
        std::vector<std::string> done;
        for (auto l : lines_of(r.out)) {
            if (!l.empty()) done.emplace_back(l);
        }
        return result(!done.empty(), done.empty() ? "our key is in ~/.ssh/authorized_keys" : join(done, "; "));
    }

    // --- packages

    HostPackageFacts package_facts() const { return m_facts.package_facts(); }

    bool is_kept(const std::string& plain) const {
        const auto it = std::find_if(m_packages.begin(), m_packages.end(),
                                     [&](const InstalledPackage& p) { return plain_package_name(p.name) == plain; });
        if (it == m_packages.end()) {
            return false;
        }
        return decide_package(*it, m_s.lists, package_facts(), std::nullopt).action == Action::keep;
    }

    // Simulates purging names: fails when it would remove a package the rules
    // keep, install anything, or (unless extras_allowed) remove a package
    // outside names.
    RemovalSimulation check_purge(const std::vector<std::string>& names, bool extras_allowed, std::string_view what) {
        std::set<std::string> allowed;
        for (const auto& n : names)
            allowed.insert(plain_package_name(n));
        const ExecResult r = m_host.run("LC_ALL=C apt-get -s -qq purge" + quoted_words(names));
        RemovalSimulation sim = parse_apt_simulation(r.out + r.err, r.exit_status);
        if (sim.exit_status != 0) {
            throw StepFailure(fmt::format("apt-get -s purge {} refused: {}", join(names, " "), r.describe()));
        }
        std::vector<std::string> kept;
        std::vector<std::string> extra;
        for (const auto& rem : sim.removed) {
            if (is_kept(rem))
                kept.push_back(rem);
            else if (!allowed.contains(rem))
                extra.push_back(rem);
        }
        if (!kept.empty()) {
            throw StepFailure(
                fmt::format("purging {} would also remove {}, which the rules keep: nothing purged", what, join(kept)));
        }
        if (!sim.installed.empty()) {
            throw StepFailure(fmt::format("purging {} would install {}: nothing purged", what, join(sim.installed)));
        }
        if (!extras_allowed && !extra.empty()) {
            throw StepFailure(fmt::format("purging {} would also remove {}, which the plan did not decide: nothing "
                                          "purged",
                                          what, join(extra)));
        }
        return sim;
    }

    void purge(const std::vector<std::string>& names) {
        must(apt_get_command("purge" + quoted_words(names)), "apt-get purge");
    }

    StepResult purge_blacklisted() {
        const auto names = blacklisted_packages(m_packages, m_s.lists, package_facts());
        if (names.empty()) {
            return result(false, "no blacklisted package installed");
        }
        std::set<std::string> plain;
        for (const auto& n : names)
            plain.insert(plain_package_name(n));
        // The blacklist purges whatever depends on its packages too, but
        // never a package the rules keep.
        const RemovalSimulation sim = check_purge(names, true, "the blacklisted packages");
        std::vector<std::string> also;
        for (const auto& r : sim.removed) {
            if (!plain.contains(r)) also.push_back(r);
        }
        std::string detail = fmt::format("{} {}", m_s.apply ? "purged" : "would purge", join(names));
        if (!also.empty()) {
            detail += fmt::format(" (also removes {})", join(also));
        }
        if (m_s.apply) {
            purge(names);
            refresh_packages();
        }
        return result(true, detail);
    }

    std::vector<std::string> upgradable() {
        const ExecResult r = m_host.run("LC_ALL=C apt-get -s -qq --with-new-pkgs upgrade");
        const RemovalSimulation sim = parse_apt_simulation(r.out, r.exit_status);
        if (r.exit_status != 0) {
            throw StepFailure(fmt::format("apt-get -s upgrade: {}", r.describe()));
        }
        return sim.installed;
    }

    StepResult upgrade() {
        if (!m_s.apply) {
            const auto names = upgradable();
            if (names.empty()) {
                return result(false, "nothing to upgrade per the host's current package lists (apply refreshes them)");
            }
            return result(true, fmt::format("would refresh the package lists and upgrade {}", join(names)));
        }
        must(apt_get_command("update"), "apt-get update");
        const auto names = upgradable();
        if (names.empty()) {
            return result(false, "nothing to upgrade");
        }
        must(apt_get_command("--with-new-pkgs upgrade"), "apt-get upgrade");
        refresh_packages();
        return result(true, fmt::format("upgraded {}", join(names)));
    }

    StepResult release() {
        const std::string& to = m_s.to_release;
        if (m_facts.codename == to) {
            return result(false, fmt::format("already {}", to));
        }
        if (m_facts.codename.empty()) {
            throw StepFailure("the host's /etc/os-release names no VERSION_CODENAME");
        }
        if (!m_s.apply) {
            return result(true, fmt::format("would point apt from {} to {}, then upgrade and full-upgrade",
                                            m_facts.codename, to));
        }
        must(release_sources_command(m_facts.codename, to), "rewrite the apt sources");
        must(apt_get_command("update"), "apt-get update");
        must(apt_get_command("--with-new-pkgs upgrade"), "apt-get upgrade");
        must(apt_get_command("full-upgrade"), "apt-get full-upgrade");
        refresh_packages();
        const std::string from = m_facts.codename;
        m_facts.codename = to;
        return result(true, fmt::format("upgraded from {} to {}", from, to));
    }

    PackagePlan plan_round() {
        const Simulator simulate = [this](const std::vector<std::string>& names,
                                          const std::vector<std::string>& extra) {
            const ExecResult r = must(simulation_command(names, extra), "apt-get -s remove");
            return parse_simulations(r.out, names);
        };
        return plan_packages(m_packages, m_s.lists, package_facts(), simulate);
    }

    Reply answer_for(const PackageDecision& d) {
        const auto it = m_s.answers.find(plain_package_name(d.name));
        if (it != m_s.answers.end()) {
            return {it->second, m_s.learn};
        }
        if (m_s.ask) {
            return m_s.ask(d);
        }
        return {};
    }

    StepResult prune() {
        if (!m_s.apply) {
            const PackagePlan plan = plan_round();
            for (const auto& d : plan.decisions) {
                print(d.describe());
            }
            std::vector<std::string> answered;
            for (const auto* d : plan.asked()) {
                const auto it = m_s.answers.find(plain_package_name(d->name));
                if (it != m_s.answers.end()) {
                    answered.push_back(fmt::format("{} {}", d->name, it->second == Answer::keep ? "keep" : "purge"));
                }
            }
            std::string detail = plan.purge.empty()
                                     ? "nothing to purge"
                                     : fmt::format("would purge {}: {}", plan.purge.size(), join(plan.purge));
            detail += fmt::format("; {} to ask about", plan.ask.size());
            if (!answered.empty()) {
                detail += fmt::format(" (answered: {})", join(answered));
            }
            return result(!plan.purge.empty() ||
                              std::any_of(answered.begin(), answered.end(),
                                          [](const std::string& a) { return a.ends_with(" purge"); }),
                          detail);
        }
        std::vector<std::string> purged;
        std::vector<std::string> learned;
        std::set<std::string> replied; // asked once per run
        std::set<std::string> kept;    // answered keep
        PackagePlan plan;
        for (int round = 0; round < 20; ++round) {
            plan = plan_round();
            bool changed = false;
            if (!plan.purge.empty()) {
                check_purge(plan.purge, false, join(plan.purge));
                for (const auto& d : plan.decisions) {
                    if (d.action == Action::purge) print(d.describe());
                }
                purge(plan.purge);
                purged.insert(purged.end(), plan.purge.begin(), plan.purge.end());
                changed = true;
                refresh_packages();
            }
            for (const auto* d : plan.asked()) {
                const std::string plain = plain_package_name(d->name);
                if (changed || replied.contains(plain)) {
                    continue; // decided again on the next round first
                }
                replied.insert(plain);
                const Reply reply = answer_for(*d);
                if (reply.answer == Answer::none) {
                    continue;
                }
                if (reply.answer == Answer::purge) {
                    try {
                        check_purge({d->name}, true, d->name);
                    } catch (const StepFailure& e) {
                        m_warn(fmt::format("prune: not purging {}: {}", d->name, e.what()));
                        continue;
                    }
                    print(fmt::format("PURGING {} (answer)", d->name));
                    purge({d->name});
                    purged.push_back(d->name);
                    changed = true;
                    refresh_packages();
                } else {
                    print(fmt::format("KEEPING {} (answer)", d->name));
                    kept.insert(plain);
                }
                if (reply.remember && m_s.remember) {
                    m_s.remember(plain, reply.answer);
                    learned.push_back(fmt::format("{} {}", plain, reply.answer == Answer::keep ? "keep" : "purge"));
                }
            }
            if (!changed) {
                break;
            }
        }
        std::vector<std::string> left;
        for (const auto* d : plan.asked()) {
            if (kept.contains(plain_package_name(d->name))) {
                continue;
            }
            print(d->describe());
            left.push_back(d->name);
        }
        std::vector<std::string> parts;
        if (!purged.empty()) parts.push_back(fmt::format("purged {}", join(purged)));
        if (!left.empty()) parts.push_back(fmt::format("{} asked packages left installed (listed above)", left.size()));
        if (!learned.empty()) parts.push_back(fmt::format("learned {}", join(learned)));
        if (parts.empty()) parts.emplace_back("nothing to purge");
        return result(!purged.empty(), join(parts, "; "));
    }

    // --- files

    void write_pending(const std::vector<std::string>& commands) {
        if (commands.empty()) {
            must(fmt::format("rm -f -- {}", shell_quote(k_pending_restarts_path)), "clear the pending restarts");
            return;
        }
        std::string content;
        for (const auto& c : commands)
            content += c + "\n";
        const std::string path(k_pending_restarts_path);
        must(fmt::format("mkdir -p -- {d} && cat >{t} && mv -f -- {t} {p}",
                         fmt::arg("d", shell_quote(parent_directory(path))),
                         fmt::arg("t", shell_quote(path + ".wp-tmp")), fmt::arg("p", shell_quote(path))),
             "record the pending restarts", content);
    }

    StepResult files() {
        std::vector<const TreeFile*> changed;
        std::vector<const TreeFile*> mode_only;
        if (!m_s.tree.empty()) {
            const ExecResult r = must(tree_digest_command(m_s.tree), "read the remote files");
            const auto lines = lines_of(r.out);
            if (lines.size() < m_s.tree.size()) {
                throw StepFailure("the remote digests are incomplete");
            }
            for (std::size_t i = 0; i < m_s.tree.size(); ++i) {
                const TreeFile& f = m_s.tree[i];
                const std::string want = fmt::format("{} {}", octal(f.mode), f.sha256);
                if (lines[i] == want) continue;
                const auto space = lines[i].find(' ');
                if (space != std::string_view::npos && lines[i].substr(space + 1) == f.sha256) {
                    mode_only.push_back(&f);
                } else {
                    changed.push_back(&f);
                }
            }
        }
        std::vector<std::string> paths;
        for (const auto* f : changed)
            paths.push_back(f->remote);
        for (const auto* f : mode_only)
            paths.push_back(f->remote);
        std::vector<std::string> commands = m_facts.pending_restarts;
        for (auto& c : restart_commands_for(m_s.restarts, paths)) {
            if (std::find(commands.begin(), commands.end(), c) == commands.end()) commands.push_back(std::move(c));
        }
        if (paths.empty() && commands.empty()) {
            return result(false, fmt::format("{} files up to date", m_s.tree.size()));
        }
        std::vector<std::string> parts;
        if (!paths.empty()) parts.push_back(fmt::format("{} {}", m_s.apply ? "wrote" : "would write", join(paths)));
        if (!commands.empty())
            parts.push_back(fmt::format("{} {}", m_s.apply ? "ran" : "then would run", join(commands, "; ")));
        if (!m_facts.pending_restarts.empty())
            parts.push_back(fmt::format("{} pending from an earlier run", m_facts.pending_restarts.size()));
        if (!m_s.apply) {
            return result(true, join(parts, "; "));
        }
        // Recorded first: a run that dies after writing still restarts next time.
        write_pending(commands);
        std::set<std::string> dirs;
        for (const auto* f : changed)
            dirs.insert(parent_directory(f->remote));
        if (!dirs.empty()) {
            must("mkdir -p --" + quoted_words({dirs.begin(), dirs.end()}), "create directories");
        }
        for (const auto* f : changed) {
            try {
                m_host.upload(f->local, f->remote, f->mode);
            } catch (const SshError& e) {
                throw StepFailure(fmt::format("write {}: {}", f->remote, e.what()));
            }
        }
        for (const auto* f : mode_only) {
            must(fmt::format("chmod {} -- {}", octal(f->mode), shell_quote(f->remote)), "chmod " + f->remote);
        }
        for (std::size_t i = 0; i < commands.size(); ++i) {
            const ExecResult r = m_host.run(commands[i]);
            if (!r.ok()) {
                write_pending({commands.begin() + static_cast<std::ptrdiff_t>(i), commands.end()});
                throw StepFailure(fmt::format("restart command '{}' failed: {} (run again once it is fixed)",
                                              commands[i], r.describe()));
            }
        }
        write_pending({});
        return result(true, join(parts, "; "));
    }

    // --- hostname, resolv.conf

    std::string immutable_note() const {
        return m_policy.allowed ? std::string() : fmt::format(" (no chattr +i: {})", m_policy.reason);
    }

    void warn_policy_once() {
        if (!m_policy.allowed && m_inventory_virt != "virtuozzo" && !m_policy_warned) {
            m_policy_warned = true;
            m_warn(fmt::format("immutable bit skipped: {}", m_policy.reason));
        }
    }

    // Plans and (in apply mode) carries out one managed file; describes it.
    std::string managed_file(std::string_view path, const std::string& content, bool& changes) {
        const RemoteFileState& state = m_facts.files[std::string(path)];
        const ManagedFilePlan plan = plan_managed_file(path, state, content, m_policy.allowed);
        if (!plan.changes()) {
            return "";
        }
        changes = true;
        if (m_s.apply) {
            const ExecResult r = must(managed_file_command(path, plan), std::string(path), content);
            for (auto l : lines_of(r.out)) {
                if (l.starts_with("@@chattr-failed ")) {
                    m_warn(fmt::format("chattr +i {} failed, the file is written but not immutable: {}", path,
                                       l.substr(16)));
                }
            }
        }
        return fmt::format("{}: {}", path, plan.describe());
    }

    StepResult hostname() {
        warn_policy_once();
        const std::string& name = m_s.hostname;
        bool changes = false;
        std::vector<std::string> parts;
        if (auto d = managed_file(k_hostname_path, name + "\n", changes); !d.empty()) parts.push_back(d);
        if (m_facts.hostname != name) {
            changes = true;
            parts.push_back(fmt::format("running hostname {} -> {}", m_facts.hostname, name));
            if (m_s.apply) {
                const ExecResult r = m_host.run(fmt::format("hostname {}", shell_quote(name)));
                if (!r.ok()) {
                    m_warn(fmt::format("hostname {}: {} (it takes effect at the next boot)", name, r.describe()));
                }
            }
        }
        if (m_facts.hosts_entry != name) {
            changes = true;
            parts.push_back(fmt::format("/etc/hosts: 127.0.1.1 {}", name));
            if (m_s.apply) {
                must(hosts_entry_command(name), "/etc/hosts");
            }
        }
        if (!changes) {
            parts.push_back(fmt::format("{}{}", name, m_policy.allowed ? " (immutable)" : ""));
        }
        return result(changes, join(parts, "; ") + immutable_note());
    }

    StepResult resolver() {
        warn_policy_once();
        bool changes = false;
        std::string d = managed_file(k_resolv_conf_path, resolv_conf_content(m_s.resolvers), changes);
        if (!changes) {
            d = fmt::format("nameserver {}{}", join(m_s.resolvers, ", "), m_policy.allowed ? " (immutable)" : "");
        }
        return result(changes, d + immutable_note());
    }

    RemoteHost& m_host;
    const ProvisionSettings& m_s;
    std::string m_inventory_virt;
    const std::function<void(const std::string&)>& m_line;
    const std::function<void(const std::string&)>& m_warn;
    HostRun m_run;
    HostFacts m_facts;
    VirtDetection m_detected;
    ImmutablePolicy m_policy;
    bool m_policy_warned = false;
    std::vector<InstalledPackage> m_packages;
};

} // namespace

HostRun provision_host(RemoteHost& host, const ProvisionSettings& settings, const std::string& inventory_virt,
                       const std::function<void(const std::string&)>& line,
                       const std::function<void(const std::string&)>& warn) {
    return Provisioner(host, settings, inventory_virt, line, warn).run();
}

} // namespace wp
