#pragma once
// What wp-provision learns about a host before it changes anything, and the
// package plan it derives from that (DESIGN.md "wp-provision").

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "provision/packages.h"
#include "provision/virt.h"

namespace wp {

/// Whether name is a Debian binary package name (`[a-z0-9][a-z0-9+.-]+`),
/// optionally with `:arch`; only such names reach a remote command.
bool valid_package_name(std::string_view name);

/// The name without its `:arch` suffix.
std::string plain_package_name(std::string_view name);

/// A file the host has where wp-provision manages one (/etc/hostname,
/// /etc/resolv.conf), as the facts script saw it.
struct RemoteFileState {
    enum class Type { missing, file, symlink, other };
    Type type = Type::missing;
    std::string target;                   ///< a symbolic link's target
    bool immutable = false;               ///< lsattr shows the i flag
    std::string sha256;                   ///< of the content (a regular file)
    std::string first_line;               ///< for the report
    std::vector<std::string> nameservers; ///< `nameserver` lines (resolv.conf)
};

/// Everything the facts script reports.
struct HostFacts {
    std::string uid;                          ///< `id -u` of the login user
    std::string home;                         ///< its $HOME
    std::string kernel;                       ///< `uname -r`
    std::string codename;                     ///< VERSION_CODENAME of /etc/os-release
    std::string os_name;                      ///< PRETTY_NAME
    std::string hostname;                     ///< the running host name
    std::vector<std::string> kernel_patterns; ///< APT::VersionedKernelPackages
    VirtFacts virt;
    std::vector<InstalledPackage> packages;       ///< every row dpkg-query gave
    std::map<std::string, RemoteFileState> files; ///< by path
    std::string hosts_entry;                      ///< names on /etc/hosts's first 127.0.1.1 line
    bool key_present = false;                     ///< our public key is in authorized_keys
    std::string ssh_dir_mode;                     ///< octal mode of ~/.ssh, "" when missing
    std::string keys_mode;                        ///< octal mode of ~/.ssh/authorized_keys, "" when missing
    std::vector<std::string> pending_restarts;    ///< left by a run whose restart failed

    /// The facts the package rules need.
    HostPackageFacts package_facts() const;
};

/// The paths wp-provision manages besides the pushed tree.
inline constexpr std::string_view k_hostname_path = "/etc/hostname";
inline constexpr std::string_view k_resolv_conf_path = "/etc/resolv.conf";
inline constexpr std::string_view k_hosts_path = "/etc/hosts";
/// Restart commands not yet run successfully, one a line (a re-run runs them).
inline constexpr std::string_view k_pending_restarts_path = "/var/lib/wp-provision/pending-restarts";

/// The POSIX sh script that prints the facts, after the host's clock
/// (clock_command's line, first); key_blob is the base64 part of our public
/// key (empty: not checked).
std::string facts_command(std::string_view key_blob);

/// Parses the facts script's output. Error(65) when a section is malformed
/// or dpkg-query named a package that is not a valid package name.
HostFacts parse_host_facts(std::string_view text);

/// The shell command that runs `LC_ALL=C apt-get -s -qq remove PKG EXTRA…`
/// for each package, EXTRA being the packages planned for purging already,
/// and where that fails, the same at -q for apt's explanation.
std::string simulation_command(const std::vector<std::string>& packages, const std::vector<std::string>& extra);

/// Splits simulation_command's output into one simulation per package, in
/// order; Error(65) when it does not match the packages asked for.
std::vector<RemovalSimulation> parse_simulations(std::string_view output, const std::vector<std::string>& packages);

/// Runs simulation_command for packages with extra on the host.
using Simulator = std::function<std::vector<RemovalSimulation>(const std::vector<std::string>& packages,
                                                               const std::vector<std::string>& extra)>;

/// Every installed package's decision, in dpkg-query's order, and what the
/// purges are. A package whose removal would also remove only packages
/// already planned for purging is purged too ("removes only itself once jq
/// is purged"), so that a second run finds nothing more to purge; an asked
/// package's "would also remove" leaves the planned purges out.
struct PackagePlan {
    std::vector<PackageDecision> decisions;
    std::vector<std::string> purge; ///< names as dpkg-query gave them, in order
    std::vector<std::string> ask;   ///< likewise
    /// Only the ASKING decisions, for listing.
    std::vector<const PackageDecision*> asked() const;
};

/// Decides every installed package (rc rows are not installed and skipped).
PackagePlan plan_packages(const std::vector<InstalledPackage>& packages, const PackageLists& lists,
                          const HostPackageFacts& host, const Simulator& simulate);

/// The installed packages the blacklist purges (the first step), by name.
std::vector<std::string> blacklisted_packages(const std::vector<InstalledPackage>& packages, const PackageLists& lists,
                                              const HostPackageFacts& host);

/// An operator's answer to an ASKING package.
enum class Answer { none, keep, purge };

/// `--answers FILE`: lines `pkg keep|purge`, '#' comments. Error(65) naming
/// source and line for anything else.
std::map<std::string, Answer> parse_answers(std::string_view text, std::string_view source);

/// The lines of text, without their "\n" (no empty last line for a final newline).
std::vector<std::string_view> lines_of(std::string_view text);

} // namespace wp
