#pragma once
// Package pruning rules for wp-provision (DESIGN.md "wp-provision", the seed's
// four rules): what to keep, purge or ask about on a freshly bought VPS.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// The format wp-provision gives to `dpkg-query -W -f=…` on the host.
inline constexpr std::string_view k_dpkg_query_format =
    "${binary:Package}\\t${db:Status-Abbrev}\\t${Version}\\t${Essential}\\t${Protected}\\t${Important}\\t${Priority}\\n";

/// One row of dpkg-query output.
struct InstalledPackage {
    std::string name;      ///< binary:Package, ":arch" kept for foreign architectures
    std::string status;    ///< db:Status-Abbrev, e.g. "ii "
    std::string version;
    bool essential = false;
    bool is_protected = false;
    bool important = false; ///< apt's Important: yes
    std::string priority;
    /// Installed, not merely config files left ("rc").
    bool installed() const { return status.size() >= 2 && status[1] == 'i'; }
};

/// Parses dpkg-query output in k_dpkg_query_format; a malformed line is
/// Error(65) naming its line number.
std::vector<InstalledPackage> parse_dpkg_query(std::string_view text);

/// What `LC_ALL=C apt-get -s -qq remove PKG` said it would do.
struct RemovalSimulation {
    int exit_status = 0;
    std::vector<std::string> removed;   ///< Remv/Purg lines, names without ":arch"
    std::vector<std::string> installed; ///< Inst/Conf lines
    /// Exit 0, exactly one Remv/Purg line naming pkg, no Inst/Conf line.
    bool removes_only(std::string_view pkg) const;
};

/// Parses apt-get -s output (action lines are not translated).
RemovalSimulation parse_apt_simulation(std::string_view output, int exit_status);

/// The whitelist (every file of LISTS/packages/) and the blacklist
/// (LISTS/packages-blacklist): one name a line, '#' comments.
struct PackageLists {
    std::set<std::string, std::less<>> keep;
    std::set<std::string, std::less<>> purge;
    /// Reads the lists under dir; a missing packages-blacklist or packages/
    /// directory is Error(66) naming it.
    static PackageLists load(const std::string& dir);
    /// Parses one list file's text into names (for tests and --learn).
    static std::vector<std::string> parse_list(std::string_view text);
};

/// What happens to a package, and why, in the seed's words.
struct PackageDecision {
    enum class Action { keep, purge, ask };
    std::string name;
    Action action = Action::ask;
    std::string reason; ///< "essential", "whitelist", "blacklist", "removes only itself", …
    std::vector<std::string> also_removed;
    /// `KEEPING pkg (whitelist)`, `PURGING pkg (blacklist)`,
    /// `ASKING pkg (would also remove: a, b)`.
    std::string describe() const;
};

/// Facts of the host the rules need besides the package itself.
struct HostPackageFacts {
    std::string running_kernel; ///< `uname -r`
    /// APT::VersionedKernelPackages: a kernel package is named PATTERN-RELEASE,
    /// RELEASE a kernel release (`uname -r`, X.Y.Z…) such as 6.1.0-18-amd64,
    /// as apt reads them.
    std::vector<std::string> kernel_patterns = {"linux-.*", "kfreebsd-.*", "gnumach-.*", ".*-modules", ".*-kernel"};
};

/// DESIGN.md's rules, in order: Essential, Protected, apt-Important and apt
/// itself kept; whitelist keep; blacklist purge; kernel packages ask, the
/// running kernel kept; a removal that removes only the package purges;
/// everything else asks. simulate runs the apt-get simulation when needed.
PackageDecision decide_package(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host,
                               const std::optional<RemovalSimulation>& simulation);

/// Whether the rules need an apt-get simulation to decide pkg.
bool needs_simulation(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host);

/// Adds name to a list file's text keeping the names sorted and the comments
/// where they are (for --learn).
std::string add_to_list(std::string_view text, const std::string& name);

} // namespace wp
