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
inline constexpr std::string_view k_dpkg_query_format = "${binary:Package}\\t${db:Status-Abbrev}\\t${Version}\\t${"
                                                        "Essential}\\t${Protected}\\t${Important}\\t${Priority}\\n";

/// One row of dpkg-query output.
struct InstalledPackage {
    std::string name;   ///< binary:Package, ":arch" kept for foreign architectures
    std::string status; ///< db:Status-Abbrev, e.g. "ii "
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

/// apt's errors (the text after "E: ", LC_ALL=C) when it refuses a removal
/// for the sake of an Essential package. apt 2.6 (Debian 12): its resolver
/// will not break an Essential, Protected or apt-Important package (nor apt
/// itself) that depends on the package (also said for a held package) ...
inline constexpr std::string_view k_apt_resolver_refusal =
    "Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.";
/// ... apt 2.2 (Debian 11): its solution removes them, which -qq (implying
/// -y) refuses.
inline constexpr std::string_view k_apt_essential_refusal =
    "Essential packages were removed and -y was used without --allow-remove-essential.";

/// What `LC_ALL=C apt-get -s -qq remove PKG` said it would do, and, where it
/// refused, why: the same simulation at -q (quiet enough for a log, still
/// explaining itself) is the explanation.
struct RemovalSimulation {
    int exit_status = 0;
    std::vector<std::string> removed;   ///< Remv/Purg lines, names without ":arch"
    std::vector<std::string> installed; ///< Inst/Conf lines
    std::vector<std::string> errors;    ///< "E: " lines, the text after "E: "
    /// The explanation's "unmet dependencies" report: the packages the
    /// removal would break (` PKG : Depends: …` lines), names without ":arch".
    std::vector<std::string> broken;
    /// The explanation's Remv/Purg lines (-q does not imply -y: apt shows
    /// what it would remove even where -qq refuses).
    std::vector<std::string> explained_removed;
    /// Exit 0, exactly one Remv/Purg line naming pkg, no Inst/Conf line.
    bool removes_only(std::string_view pkg) const;
    /// The packages of essential (plain names) for whose sake apt refused the
    /// removal: it did nothing and failed with nothing but
    /// k_apt_resolver_refusal and the explanation names them as broken, or
    /// with nothing but k_apt_essential_refusal and the explanation removes
    /// them. Empty for any other outcome (an error of its own, a held package,
    /// a host with broken dependencies already, no explanation): those are asked.
    std::vector<std::string> refused_for(const std::set<std::string, std::less<>>& essential) const;
};

/// Parses apt-get -s output (action lines are not translated); explanation
/// is the same simulation's output at -q, when there is one.
RemovalSimulation parse_apt_simulation(std::string_view output, int exit_status, std::string_view explanation = {});

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
    /// "needed by essential packages": the ones apt named (not printed).
    std::vector<std::string> needed_by;
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
    /// Plain names of the installed packages the first rule keeps
    /// (always_kept): apt refuses to break or remove them.
    std::set<std::string, std::less<>> essential;
};

/// The first rule: Essential, Protected, apt-Important, and apt and dpkg.
bool always_kept(const InstalledPackage& pkg);

/// The plain names of the installed packages always_kept keeps.
std::set<std::string, std::less<>> always_kept_names(const std::vector<InstalledPackage>& packages);

/// DESIGN.md's rules, in order: Essential, Protected, apt-Important and apt
/// itself kept; whitelist keep; blacklist purge; kernel packages ask, the
/// running kernel kept; a removal that removes only the package purges; a
/// removal apt refuses for the sake of host.essential packages keeps
/// ("needed by essential packages"); everything else asks. simulation is
/// the apt-get simulation, when the rules got that far.
PackageDecision decide_package(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host,
                               const std::optional<RemovalSimulation>& simulation);

/// Whether the rules need an apt-get simulation to decide pkg.
bool needs_simulation(const InstalledPackage& pkg, const PackageLists& lists, const HostPackageFacts& host);

/// Adds name to a list file's text keeping the names sorted and the comments
/// where they are (for --learn).
std::string add_to_list(std::string_view text, const std::string& name);

} // namespace wp
