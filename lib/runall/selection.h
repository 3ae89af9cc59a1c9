#pragma once
// Which servers wp-runall runs on: names as given in files or on stdin, the
// inventory's selection, and the hosts known to be down.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/inventory.h"

namespace wp {

/// Host names in a file or on stdin: separated by blanks, commas or
/// newlines; `#` starts a comment. A bad name is Error(65) "source:line: …".
std::vector<std::string> parse_host_names(std::string_view text, std::string_view source);

/// A Nagios-style status file: `host state` per line (more fields may
/// follow); the last line naming a host wins.
struct StatusFile {
    std::map<std::string, int, std::less<>> states;
    std::vector<int> bad_lines; ///< line numbers not in that shape
};
StatusFile parse_status_file(std::string_view text);

/// The status file at path (empty path: none); a file that cannot be read
/// is warned about and taken as naming nobody down (monitoring may not have
/// written it yet); lines not in the shape are warned about once.
StatusFile load_status_file(const std::string& path);

/// Why a host is known to be down, or empty: its status-file state is 2, or
/// host_status counts down_after (> 0) consecutive failures.
std::string down_reason(std::string_view host, const StatusFile& status, std::int64_t consecutive_failures,
                        int down_after);

/// What the selection starts from.
struct SelectionInput {
    std::vector<Server> matching;      ///< servers the --where filter lets through, retired ones included
    std::vector<std::string> known;    ///< every server name in the inventory
    std::vector<std::string> named;    ///< -H, --hosts-file, stdin; empty: every active, non-retired server
    std::vector<std::string> excluded; ///< -x
};

/// The servers to run on, in the order named (else by name), duplicates
/// dropped. Named servers are taken whether active or not; --where narrows
/// them. A name (named or excluded) the inventory does not have is
/// Error(66) listing every such name: nothing runs on a list with a typo.
std::vector<Server> select_hosts(const SelectionInput& input);

} // namespace wp
