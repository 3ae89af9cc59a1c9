#include "options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <sstream>

#include <sys/stat.h>

#include "error.h"

#ifndef WP_VERSION
#define WP_VERSION "0.0.0"
#endif
#ifndef WP_DATADIR
#define WP_DATADIR "/usr/local/share/wp"
#endif

namespace wp {

namespace {

// Long options of every tool. A key outside this list is a typo; a key in it
// that the running tool lacks belongs to another tool and is ignored.
const std::set<std::string, std::less<>> k_known_keys = {
    // shared by every tool
    "config", "db", "spool", "archive", "rejects", "rules", "lists", "ssh-user", "identity",
    "known-hosts", "connect-timeout", "verbose", "quiet",
    // wp-hosts
    "where", "all", "format",
    // wp-parse
    "server", "output", "json", "jobs", "max-reject-ratio", "zstd-level", "keep",
    // wp-rollup
    "tz", "days", "since", "si", "iec", "top", "rebuild", "verify", "dry-run", "by", "user", "account", "country",
    "from", "to", "month", "day", "totals",
    // wp-fetchlogs / wp-runall / wp-provision
    "transfer", "accept-new", "timeout", "hosts", "ssh-config", "hosts-file", "exclude", "list", "push", "script",
    "local", "gather", "outdir", "name", "city", "provider", "to-release", "files", "hostname", "resolver",
    "password-file", "status-file", "down-after", "include-down", "batch",
    "no-ask", "answers", "learn",
};

std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = s.find_last_not_of(" \t\r");
    return std::string(s.substr(first, last - first + 1));
}

bool valid_key(std::string_view key) {
    if (key.empty()) {
        return false;
    }
    for (char c : key) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

CLI::Option* find_option(CLI::App& app, const std::string& name) {
    if (auto* opt = app.get_option_no_throw(name)) {
        return opt;
    }
    for (CLI::App* sub : app.get_subcommands()) {
        if (auto* opt = find_option(*sub, name)) {
            return opt;
        }
    }
    return nullptr;
}

} // namespace

std::string data_dir() {
    return WP_DATADIR;
}

std::string CommonOptions::rules_path() const {
    return rules.empty() ? data_dir() + "/billing.rules" : rules;
}

std::string CommonOptions::lists_dir() const {
    return lists.empty() ? data_dir() : lists;
}

std::string version_string(std::string_view program) {
    return fmt::format("{} (wp-tools) {}", program, WP_VERSION);
}

void add_common_options(CLI::App& app, CommonOptions& o, std::string_view program) {
    app.set_version_flag("--version", version_string(program));
    app.fallthrough(); // shared options may follow a subcommand too
    auto* g = app.add_option_group("Common options");
    g->add_option("--config", o.config, "configuration file (default /etc/wp/wp.conf, env WP_CONFIG)");
    g->add_option("--db", o.db, "SQLite database")->capture_default_str();
    g->add_option("--spool", o.spool, "spool of fetched, unbilled logs")->capture_default_str();
    g->add_option("--archive", o.archive, "compressed log archive")->capture_default_str();
    g->add_option("--rejects", o.rejects, "where lines not understood are kept")->capture_default_str();
    g->add_option("--rules", o.rules, "billing rules file (default DATADIR/billing.rules)");
    g->add_option("--lists", o.lists, "package lists directory (default DATADIR)");
    g->add_option("--ssh-user", o.ssh_user, "remote user");
    g->add_option("--identity", o.identity, "SSH private key file");
    g->add_option("--known-hosts", o.known_hosts, "known_hosts file");
    g->add_option("--connect-timeout", o.connect_timeout, "seconds to wait for a host")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    g->add_flag("-v,--verbose", o.verbosity, "more detail (repeatable)");
    g->add_flag("-q,--quiet", o.quiet, "only errors");
}

std::vector<ConfigEntry> parse_config_text(std::string_view text, std::string_view file_name) {
    std::vector<ConfigEntry> entries;
    int line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view raw = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#') {
            if (end == text.size()) {
                break;
            }
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) {
            fail(exit_code::k_config, "{}:{}: expected 'key = value'", file_name, line_no);
        }
        std::string key = trim(std::string_view(line).substr(0, eq));
        std::string value = trim(std::string_view(line).substr(eq + 1));
        if (!valid_key(key)) {
            fail(exit_code::k_config, "{}:{}: malformed key '{}'", file_name, line_no, key);
        }
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
        } else if (!value.empty() && value.front() == '"') {
            fail(exit_code::k_config, "{}:{}: unterminated quote", file_name, line_no);
        }
        entries.push_back({key, value, line_no});
        if (end == text.size()) {
            break;
        }
    }
    return entries;
}

bool is_known_config_key(std::string_view key) {
    return k_known_keys.find(key) != k_known_keys.end();
}

void apply_config(CLI::App& app, const std::vector<ConfigEntry>& entries, std::string_view file_name) {
    std::set<std::string> seen;
    for (const auto& e : entries) {
        std::string key = e.key;
        for (char& c : key) {
            if (c == '_') {
                c = '-';
            }
        }
        if (!is_known_config_key(key)) {
            fail(exit_code::k_config, "{}:{}: unknown key '{}'", file_name, e.line, e.key);
        }
        if (key == "config") {
            fail(exit_code::k_config, "{}:{}: 'config' cannot be set in a configuration file", file_name,
                 e.line);
        }
        if (!seen.insert(key).second) {
            fail(exit_code::k_config, "{}:{}: '{}' set twice", file_name, e.line, e.key);
        }
        CLI::Option* opt = find_option(app, "--" + key);
        if (opt == nullptr || opt->count() > 0) {
            continue; // another tool's key, or given on the command line
        }
        try {
            opt->clear();
            opt->add_result(e.value);
            opt->run_callback();
        } catch (const CLI::Error& err) {
            fail(exit_code::k_config, "{}:{}: bad value for '{}': {}", file_name, e.line, e.key, err.what());
        } catch (const std::out_of_range&) {
            // CLI11 counts a flag's value with std::stoll, whose out_of_range is no CLI::Error
            fail(exit_code::k_config, "{}:{}: bad value for '{}': {} is out of range", file_name, e.line, e.key,
                 e.value);
        }
    }
}

void load_config(CLI::App& app, CommonOptions& options) {
    std::string path = options.config;
    bool named = !path.empty();
    if (!named) {
        if (const char* env = std::getenv("WP_CONFIG"); env != nullptr && *env != '\0') {
            path = env;
            named = true;
        } else {
            path = std::string(k_default_config);
        }
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        if (!named && err == ENOENT) {
            return;
        }
        fail(exit_code::k_config, "cannot read configuration {}: {}", path, std::strerror(err));
    }
    // A directory opens and then reads as nothing: never an empty config.
    if (struct stat sb{}; ::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fail(exit_code::k_config, "cannot read configuration {}: {}", path, std::strerror(EISDIR));
    }
    std::ostringstream text;
    text << in.rdbuf();
    apply_config(app, parse_config_text(text.str(), path), path);
    options.config = path;
}

} // namespace wp
