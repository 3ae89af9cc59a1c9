#pragma once
// Which of the servers wp-runall selects are known to be down: the status
// file and the count of consecutive failures. (The selection itself is
// store/host_selection's.)

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

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

} // namespace wp
