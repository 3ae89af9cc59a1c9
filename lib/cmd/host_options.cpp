#include "cmd/host_options.h"

#include <fmt/format.h>

#include "base/fs.h"
#include "base/host_range.h"
#include "store/host_selection.h"

namespace wp {

void add_host_options(CLI::App& app, HostOptions& o) {
    // No CLI11 delimiter: a comma inside brackets (tor[1-4,7]) is the range's.
    app.add_option("-H,-w,--hosts", o.hosts,
                   "only these servers: names, ranges (tor[1-4,7]) and globs (ams*), comma-separated, inactive ones "
                   "too; - reads stdin")
        ->allow_extra_args(false);
    app.add_option("--hosts-file", o.hosts_file, "only the servers named in this file (- for stdin)");
    app.add_option("-x,--exclude", o.exclude, "never these servers: names, ranges and globs, comma-separated")
        ->allow_extra_args(false);
    app.add_option("--where", o.where, "only servers matching this read-only SQL condition");
}

NamedHosts named_hosts(const HostOptions& o, const std::vector<std::string>& more_words, bool read_stdin) {
    NamedHosts named;
    named.from_stdin = read_stdin || o.hosts_file == "-";
    for (const auto& list : o.hosts) {
        if (list == "-") {
            named.from_stdin = true;
            continue;
        }
        const auto words = parse_host_argument(list, "-H");
        named.from_h.insert(named.from_h.end(), words.begin(), words.end());
    }
    named.words = named.from_h;
    for (const auto& list : more_words) {
        const auto words = parse_host_argument(list, "host");
        named.words.insert(named.words.end(), words.begin(), words.end());
    }
    if (!o.hosts_file.empty() && o.hosts_file != "-") {
        const auto more = parse_host_names(read_file(o.hosts_file), o.hosts_file);
        named.words.insert(named.words.end(), more.begin(), more.end());
    }
    if (named.from_stdin) {
        const auto more = parse_host_names(read_file_or_stdin("-"), "standard input");
        named.words.insert(named.words.end(), more.begin(), more.end());
    }
    named.explicit_list = named.from_stdin || !o.hosts.empty() || !o.hosts_file.empty() || !more_words.empty();
    for (const auto& list : o.exclude) {
        const auto words = parse_host_argument(list, "-x");
        named.excluded.insert(named.excluded.end(), words.begin(), words.end());
    }
    return named;
}

std::vector<Server> select_servers(Inventory& inventory, const HostOptions& o, const NamedHosts& named,
                                   DefaultHosts defaults) {
    SelectionInput input;
    input.matching = inventory.select(o.where, true);
    for (const auto& s : o.where.empty() ? input.matching : inventory.select("", true)) {
        input.known.push_back(s.name);
    }
    input.named = named.words;
    input.excluded = named.excluded;
    input.default_inactive = defaults.inactive;
    input.default_retired = defaults.retired;
    if (named.explicit_list && named.words.empty()) {
        input.named = {}; // still checks -x's names
        select_hosts(input);
        return {}; // an empty list names no host; it does not mean all of them
    }
    return select_hosts(input);
}

void print_folded(const std::vector<std::string>& names) {
    if (!names.empty()) {
        fmt::print("{}\n", fold_host_names(names));
    }
}

std::vector<std::string> names_of(const std::vector<Server>& servers) {
    std::vector<std::string> names;
    names.reserve(servers.size());
    for (const auto& s : servers) {
        names.push_back(s.name);
    }
    return names;
}

} // namespace wp
