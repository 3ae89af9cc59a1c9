#pragma once
// Host ranges as pdsh and clush write them: `tor[1-4,7]`, `ams[01-03]`,
// expanded into names and names folded back (ClusterShell's `nodeset -e`
// and `nodeset -f`).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// The most names one list may expand to.
inline constexpr std::size_t k_max_expanded_hosts = 100000;

/// Splits a list at its top-level commas (a comma inside brackets belongs to
/// the range); empty items are dropped.
std::vector<std::string> split_host_list(std::string_view list);

/// Expands every range of a comma-separated list, in the order written:
/// `tor[1-3]` is tor1 tor2 tor3; `ams[01-03]` keeps the lower bound's zero
/// padding; `[1-9/2]` steps by 2; `r[1-2]n[1-2]` is the product r1n1 r1n2
/// r2n1 r2n2. Brackets hold numbers and ranges only. Text outside brackets
/// (names, glob characters) is kept as is. Returns why the list is not
/// well formed (an unbalanced bracket, a reversed range, `!`, more than
/// k_max_expanded_hosts names), or empty and appends the names to out.
std::string expand_host_list(std::string_view list, std::vector<std::string>& out);

/// Folds names into ranges as `nodeset -f` does: the same set, duplicates
/// dropped, sorted, comma-separated; names that differ only in a number
/// share brackets, each number in turn from the last (r[1-2]n[1-2],
/// web[1-2].dc3), and a zero-padded number only with numbers of its width
/// (ams01 and ams1 never fold together). A lone name stays as is.
std::string fold_host_names(const std::vector<std::string>& names);

/// Whether a word is a glob (it holds `*` or `?`), matched against names
/// rather than taken as one.
bool is_host_glob(std::string_view word);

/// Whether name matches the glob: `*` any run of characters, `?` one.
bool host_glob_matches(std::string_view glob, std::string_view name);

} // namespace wp
