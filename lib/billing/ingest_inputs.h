#pragma once
// Which files an ingest reads, and which server each belongs to.

#include <string>
#include <vector>

namespace wp {

/// The server a log file belongs to: the directory holding it when that is a
/// server's folder inside the spool, else the file name up to its first '.'.
/// Empty when neither gives a valid server name.
std::string server_for_path(const std::string& path, const std::string& spool);

/// The log files an input names: itself, or every *.log, *.log.zst, *.log.gz
/// below a directory (symlinks are not followed), sorted. A hidden log below
/// a directory is left out with a warning; an unreadable input or walk is
/// an Error.
std::vector<std::string> expand_input(const std::string& input);

/// Whether path lies below dir, both resolved through the symlinks that exist.
bool is_inside_directory(const std::string& path, const std::string& dir);

} // namespace wp
