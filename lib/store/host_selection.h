#pragma once
// Which servers a tool works on: names, ranges (tor[1-4,7]) and globs
// (ams*) as given on the command line, in files or on stdin, resolved
// against the inventory.

#include <string>
#include <string_view>
#include <vector>

#include "store/inventory.h"

namespace wp {

/// Why a word is neither a server name nor a glob of one (`*`, `?`), or empty.
std::string check_host_word(std::string_view word);

/// The words of one -H or -x argument: a comma-separated list, ranges
/// expanded. A malformed range or name is Error(64) "what: …".
std::vector<std::string> parse_host_argument(std::string_view list, std::string_view what);

/// Host words in a file or on stdin: separated by blanks, commas (outside
/// brackets) or newlines, ranges expanded; `#` starts a comment. A bad word
/// is Error(65) "source:line: …".
std::vector<std::string> parse_host_names(std::string_view text, std::string_view source);

/// What the selection starts from.
struct SelectionInput {
    std::vector<Server> matching;      ///< servers the --where filter lets through, retired ones included
    std::vector<std::string> known;    ///< every server name in the inventory, by name
    std::vector<std::string> named;    ///< names and globs given; empty: the default set
    std::vector<std::string> excluded; ///< names and globs never taken
    bool default_inactive = false;     ///< the default set holds inactive servers too
    bool default_retired = false;      ///< the default set holds retired servers too
};

/// The servers to work on, in the order named (a glob's matches by name;
/// else by name), duplicates dropped. Servers named (or in a range) are
/// taken whether active or not; by default, and for a glob, only those of
/// the default set (active, non-retired, unless the flags widen it). --where
/// narrows either. A name (named or excluded) the inventory does not have, or a glob
/// that matches none of it, is Error(66) listing every such word: nothing
/// runs on a list with a typo.
std::vector<Server> select_hosts(const SelectionInput& input);

} // namespace wp
