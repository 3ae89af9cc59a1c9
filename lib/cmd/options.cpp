#include "cmd/options.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <sys/stat.h>

#include <sys/stat.h>

#include "base/error.h"
#include "store/inventory.h"

#ifndef WP_VERSION
#define WP_VERSION "0.0.0"
#endif
#ifndef WP_DATADIR
#define WP_DATADIR "/usr/local/share/wp"
#endif

namespace wp {

namespace {

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

std::string normalised_key(std::string_view key) {
    std::string out(key);
    for (char& c : out) {
        if (c == '_') {
            c = '-';
        }
    }
    return out;
}

bool is_builtin(const CLI::App& app, const CLI::Option* opt) {
    return opt == app.get_help_ptr() || opt == app.get_help_all_ptr() || opt == app.get_version_ptr();
}

// The options of app with long name `name` that a run may take from the file:
// those of app, of its option groups, and of its subcommands when the command
// line chose them (all of them when app was not parsed: a check, not a run).
void find_long_options(CLI::App& app, const std::string& name, bool parsed, std::vector<CLI::Option*>& out) {
    for (CLI::Option* opt : app.get_options()) {
        if (!is_builtin(app, opt) && opt->check_lname(name)) {
            out.push_back(opt);
        }
    }
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name().empty() || !parsed || sub->parsed()) {
            find_long_options(*sub, name, parsed, out);
        }
    }
}

// The value after '=': a quoted value runs to the last double quote of the
// line, so that any value printed back quoted reads the same; an unquoted one
// ends at a '#' that starts it or follows a blank.
std::string config_value(std::string_view text, std::string_view file_name, int line_no) {
    const std::string value = trim(text);
    if (!value.empty() && value.front() == '"') {
        const auto close = value.rfind('"');
        if (close == 0) {
            fail(exit_code::k_config, "{}:{}: unterminated quote", file_name, line_no);
        }
        const std::string rest = trim(std::string_view(value).substr(close + 1));
        if (!rest.empty() && rest.front() != '#') {
            fail(exit_code::k_config, "{}:{}: text after the closing quote", file_name, line_no);
        }
        return value.substr(1, close - 1);
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '#' && (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
            return trim(std::string_view(value).substr(0, i));
        }
    }
    return value;
}

const ToolKeys* find_tool(const std::vector<ToolKeys>& tools, std::string_view name) {
    for (const ToolKeys& t : tools) {
        if (t.tool == name) {
            return &t;
        }
    }
    return nullptr;
}

// Errors for a key that is no setting where it stands: a choice, or unknown.
void check_key(const ConfigEntry& e, const std::string& key, const std::vector<ToolKeys>& tools,
               std::string_view file_name) {
    if (key == "config") {
        fail(exit_code::k_config, "{}:{}: 'config' cannot be set in a configuration file", file_name, e.line);
    }
    bool setting = false;
    bool choice = false;
    for (const ToolKeys& t : tools) {
        if (e.section.empty() || e.section == t.tool) {
            setting = setting || t.settings.count(key) > 0;
            choice = choice || t.choices.count(key) > 0;
        }
    }
    if (setting) {
        return;
    }
    if (choice) {
        fail(exit_code::k_config, "{}:{}: '{}' is a command-line choice, not a setting", file_name, e.line, e.key);
    }
    if (!e.section.empty()) {
        fail(exit_code::k_config, "{}:{}: unknown key '{}' for {}", file_name, e.line, e.key, e.section);
    }
    fail(exit_code::k_config, "{}:{}: unknown key '{}'", file_name, e.line, e.key);
}

// "0.000000" (CLI11's std::to_string of a double bound) as "0"
std::string plain_number(std::string text) {
    if (text.find('.') != std::string::npos) {
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.') {
            text.pop_back();
        }
    }
    return text;
}

} // namespace

SshSettings ssh_settings_from(const CommonOptions& options, const std::string& ssh_config, bool accept_new) {
    SshSettings ssh;
    ssh.ssh_config = ssh_config;
    ssh.identity = options.identity;
    ssh.known_hosts = options.known_hosts;
    ssh.accept_new = accept_new;
    ssh.connect_timeout = std::chrono::seconds(options.connect_timeout);
    ssh.io_timeout = std::chrono::seconds(3 * options.connect_timeout);
    check_ssh_settings(ssh);
    return ssh;
}

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
    // CLI11's own meaning of configurable (allowed in a config file) marks the
    // settings; subcommands and option groups inherit the default.
    app.option_defaults()->configurable(false);
    auto* g = app.add_option_group("Common options");
    g->add_option("--config", o.config, "configuration file (default /etc/wp/wp.conf, env WP_CONFIG)");
    setting(g->add_option("--db", o.db, "database: an SQLite file, or postgresql://USER@HOST:PORT/NAME")
                ->capture_default_str());
    setting(g->add_option("--collector", o.collector,
                          "this collector's name: wp-fetchlogs fetches the servers set to it (none: those set to none)")
                ->check([](const std::string& name) { return name.empty() ? "" : check_server_name(name); }));
    setting(g->add_option("--spool", o.spool, "spool of fetched, unbilled logs")->capture_default_str());
    setting(g->add_option("--archive", o.archive, "compressed log archive")->capture_default_str());
    setting(g->add_option("--rejects", o.rejects, "where lines not understood are kept")->capture_default_str());
    setting(g->add_option("--rules", o.rules, "billing rules file (default DATADIR/billing.rules)"));
    setting(g->add_option("--lists", o.lists, "package lists directory (default DATADIR)"));
    setting(g->add_option("--ssh-user", o.ssh_user, "remote user"));
    setting(g->add_option("--identity", o.identity, "SSH private key file"));
    setting(g->add_option("--known-hosts", o.known_hosts, "known_hosts file"));
    setting(g->add_option("--connect-timeout", o.connect_timeout, "seconds to wait for a host")
                ->check(CLI::Range(1, 3600))
                ->capture_default_str());
    setting(g->add_flag("-v,--verbose", o.verbosity, "more detail (repeatable)"));
    setting(g->add_flag("-q,--quiet", o.quiet, "only errors"));
}

CLI::Option* setting(CLI::Option* option) {
    return option->configurable(true);
}

CLI::Option* add_jobs_option(CLI::App& app, int& jobs, const std::string& what) {
    return setting(app.add_option("-j,--jobs", jobs, what)->check(CLI::Range(1, 64))->capture_default_str());
}

bool is_setting(const CLI::Option& option) {
    return option.get_configurable();
}

void for_each_long_option(const CLI::App& app,
                          const std::function<void(const CLI::App& owner, const CLI::Option& option)>& visit) {
    for (const CLI::Option* opt : app.get_options()) {
        if (!is_builtin(app, opt) && !opt->get_lnames().empty()) {
            visit(app, *opt);
        }
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        for_each_long_option(*sub, visit);
    }
}

ToolKeys keys_of(const CLI::App& app) {
    ToolKeys keys;
    keys.tool = app.get_name();
    for_each_long_option(app, [&keys](const CLI::App&, const CLI::Option& opt) {
        for (const std::string& name : opt.get_lnames()) {
            (is_setting(opt) ? keys.settings : keys.choices).insert(name);
        }
    });
    // A word that is a setting somewhere in the tool (--ssh-user) and a choice
    // elsewhere (wp-hosts add --ssh-user) is a setting of the tool; the file
    // then sets only the options marked so.
    for (const std::string& name : keys.settings) {
        keys.choices.erase(name);
    }
    return keys;
}

std::vector<ConfigEntry> parse_config_text(std::string_view text, std::string_view file_name) {
    std::vector<ConfigEntry> entries;
    std::string section;
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
        if (line[0] == '[') {
            const auto close = line.find(']');
            const std::string rest = close == std::string::npos ? "" : trim(std::string_view(line).substr(close + 1));
            const std::string name =
                close == std::string::npos ? "" : trim(std::string_view(line).substr(1, close - 1));
            if (close == std::string::npos || !valid_key(name) || (!rest.empty() && rest[0] != '#')) {
                fail(exit_code::k_config, "{}:{}: expected '[tool]'", file_name, line_no);
            }
            section = name;
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
        if (!valid_key(key)) {
            fail(exit_code::k_config, "{}:{}: malformed key '{}'", file_name, line_no, key);
        }
        std::string value = config_value(std::string_view(line).substr(eq + 1), file_name, line_no);
        entries.push_back({section, key, value, line_no});
        if (end == text.size()) {
            break;
        }
    }
    return entries;
}

void apply_config(CLI::App& app, const std::vector<ConfigEntry>& entries, std::string_view file_name,
                  const std::vector<ToolKeys>& tools) {
    const std::string tool = app.get_name();
    std::vector<ToolKeys> known = tools;
    if (find_tool(known, tool) == nullptr) {
        known.push_back(keys_of(app));
    }
    // Check the whole file first, so that every tool refuses the same file.
    std::set<std::pair<std::string, std::string>> seen;
    std::map<std::string, const ConfigEntry*> chosen; // key: the entry this tool takes
    for (const ConfigEntry& e : entries) {
        if (!e.section.empty() && find_tool(known, e.section) == nullptr) {
            fail(exit_code::k_config, "{}:{}: unknown section '[{}]'", file_name, e.line, e.section);
        }
        const std::string key = normalised_key(e.key);
        check_key(e, key, known, file_name);
        if (!seen.insert({e.section, key}).second) {
            fail(exit_code::k_config, "{}:{}: '{}' set twice", file_name, e.line, e.key);
        }
        // Sections follow the global part, so the tool's own section wins.
        if (e.section.empty() || e.section == tool) {
            chosen[key] = &e;
        }
    }
    const bool parsed = app.parsed();
    std::set<const CLI::Option*> applied;   // every option the file set
    std::set<const CLI::Option*> from_file; // those of them set to anything but a false flag
    for (const ConfigEntry& e : entries) {
        const std::string key = normalised_key(e.key);
        if (chosen[key] != &e) {
            continue;
        }
        std::vector<CLI::Option*> found;
        find_long_options(app, key, parsed, found);
        std::vector<CLI::Option*> targets;
        bool given = false; // on the command line, which wins
        for (CLI::Option* opt : found) {
            if (!is_setting(*opt)) {
                continue; // the same word as a choice (wp-hosts add --ssh-user)
            }
            given = given || opt->count() > 0;
            for (const CLI::Option* other : opt->get_excludes()) {
                given = given || (other->count() > 0 && applied.count(other) == 0);
            }
            targets.push_back(opt);
        }
        if (given) {
            continue;
        }
        for (CLI::Option* opt : targets) {
            try {
                opt->clear();
                opt->add_result(e.value);
                opt->run_callback();
            } catch (const CLI::ConversionError&) {
                // CLI11 says "Could not convert: --quiet = maybe"; a flag expects no argument
                const std::string type = opt->get_type_name();
                fail(exit_code::k_config, "{}:{}: bad value for '{}': '{}' is not {}", file_name, e.line, e.key,
                     e.value,
                     opt->get_expected_max() == 0 ? "true, false or a count"
                     : type == "INT"              ? "a whole number"
                     : type == "FLOAT"            ? "a number"
                                                  : "of the right type");
            } catch (const CLI::Error& err) {
                std::string why = cli_error_message(err);
                // CLI11 starts with the option ("--jobs: …"); the key is named already
                for (const std::string& name : opt->get_lnames()) {
                    if (why.rfind("--" + name + ": ", 0) == 0) {
                        why.erase(0, name.size() + 4);
                    }
                }
                fail(exit_code::k_config, "{}:{}: bad value for '{}': {}", file_name, e.line, e.key, why);
            } catch (const std::out_of_range&) {
                // CLI11 counts a flag's value with std::stoll, whose out_of_range is no CLI::Error
                fail(exit_code::k_config, "{}:{}: bad value for '{}': '{}' is out of range", file_name, e.line, e.key,
                     e.value);
            }
            applied.insert(opt);
            // `si = false` beside `iec = true` sets nothing that excludes it,
            // whichever line comes first.
            if (opt->get_expected_max() == 0 && !opt->as<bool>()) {
                continue;
            }
            for (const CLI::Option* other : opt->get_excludes()) {
                if (from_file.count(other) > 0) {
                    fail(exit_code::k_config, "{}:{}: '{}' cannot be set with '{}'", file_name, e.line, e.key,
                         other->get_single_name());
                }
            }
            from_file.insert(opt);
        }
    }
}

std::string config_path(const CommonOptions& options) {
    if (!options.config.empty()) {
        return options.config;
    }
    if (const char* env = std::getenv("WP_CONFIG"); env != nullptr && *env != '\0') {
        return env;
    }
    struct stat st {};
    const std::string path(k_default_config);
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        return {};
    }
    return path;
}

std::vector<ConfigEntry> read_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        fail(exit_code::k_config, "cannot read configuration {}: {}", path, std::strerror(err));
    }
    // A directory opens and then reads as nothing: never an empty config.
    if (struct stat sb{}; ::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fail(exit_code::k_config, "cannot read configuration {}: {}", path, std::strerror(EISDIR));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_config_text(text.str(), path);
}

std::string cli_error_message(const CLI::Error& error) {
    std::string text = error.what();
    std::smatch m;
    // CLI11's Range says "Value abc not in range 1 to 3600", of what is no number too
    static const std::regex k_range("(.*)Value (.*) not in range (\\S+) to (\\S+)");
    if (std::regex_match(text, m, k_range)) {
        text = fmt::format("{}'{}' is not a number from {} to {}", m.str(1), m.str(2), plain_number(m.str(3)),
                           plain_number(m.str(4)));
    }
    static const std::regex k_unexpected("The following argument(s?) (?:was|were) not expected: (.*)");
    if (std::regex_match(text, m, k_unexpected)) {
        text = fmt::format("unexpected argument{} {}", m.str(1), m.str(2));
    }
    // "--push: At least 2 required…": CLI11's sentences in lowercase; the
    // words of the command line (a value, an option) as they were given
    static const std::set<std::string, std::less<>> k_sentence_starts = {
        "A",     "At",      "Could",   "Directory", "Each",     "Expected",   "Exactly", "Failed", "File",
        "Input", "Invalid", "Missing", "Path",      "Requires", "Subcommand", "The",     "Value"};
    std::string out;
    std::size_t start = 0;
    while (true) {
        const auto colon = text.find(": ", start);
        std::string part = text.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (k_sentence_starts.count(std::string_view(part).substr(0, part.find(' '))) > 0) {
            part[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(part[0])));
        }
        out += part;
        if (colon == std::string::npos) {
            break;
        }
        out += ": ";
        start = colon + 2;
    }
    return out;
}

} // namespace wp
