#pragma once
// The steps of wp-provision on one host (DESIGN.md "wp-provision"): each
// finds what is there, says what it would change, and in apply mode changes
// it, so that a second run finds nothing to do.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "provision/packages.h"
#include "provision/provision_facts.h"
#include "provision/virt.h"
#include "remote/remote_host.h"
#include "remote/ssh.h"
#include "store/host_clock.h"

namespace wp {

/// How a step ended.
enum class StepStatus { ok, would_change, changed, failed };

/// "ok", "would change", "changed", "failed".
std::string_view status_word(StepStatus status);

/// One step's outcome.
struct StepResult {
    std::string step;
    StepStatus status = StepStatus::ok;
    std::string detail;
};

/// `STEP: STATUS`, and `: DETAIL` when there is one (a host's report
/// prefixes every line with `HOST: `).
std::string describe_step(const StepResult& result);

/// A host's closing line (after `HOST: `): `done: 2 changed, 7 ok` (apply),
/// `plan: 2 would change, 7 ok`, or `failed at STEP: DETAIL`.
std::string summarize_host(const std::vector<StepResult>& steps, bool apply);

/// What to do to a managed file (hostname, resolv.conf) to give it content
/// and, where allowed, the immutable bit.
struct ManagedFilePlan {
    bool remove_immutable = false; ///< chattr -i first (to rewrite it, or because +i is not allowed)
    bool replace_symlink = false;  ///< remove the link, write a file
    bool write = false;
    bool set_immutable = false;
    bool changes() const { return remove_immutable || replace_symlink || write || set_immutable; }
    /// "chattr -i, replace the symbolic link, write, chattr +i", or "".
    std::string describe() const;
};

/// Plans a managed file. A directory or device in its place is Error(65).
ManagedFilePlan plan_managed_file(std::string_view path, const RemoteFileState& state, std::string_view content,
                                  bool immutable_allowed);

/// The shell command carrying out plan on path, with the content on its
/// standard input: written to a temporary name beside it and renamed. A
/// failing chattr +i is reported on stdout as `@@chattr-failed MESSAGE` and
/// is no failure of the command.
std::string managed_file_command(std::string_view path, const ManagedFilePlan& plan);

/// The shell command that makes the 127.0.1.1 line of hosts_path (/etc/hosts)
/// name hostname, replacing the first such line or appending one.
std::string hosts_entry_command(std::string_view hostname, std::string_view hosts_path = k_hosts_path);

/// Why hostname is not an acceptable host name, or "".
std::string check_hostname(std::string_view hostname);

/// Why address is not an IPv4 or IPv6 address, or "".
std::string check_resolver(std::string_view address);

/// resolv.conf's content for these resolvers.
std::string resolv_conf_content(const std::vector<std::string>& resolvers);

/// A file of the pushed tree.
struct TreeFile {
    std::string local;  ///< path on this machine
    std::string remote; ///< absolute path on the host
    mode_t mode = 0644;
    std::string sha256;
};

/// The name of the restart map at the top of a pushed tree.
inline constexpr std::string_view k_restart_map_name = ".restart";

/// Reads a config tree (`--files DIR`): every regular file, mirrored under
/// `/`, in path order; the restart map itself is not pushed. A symbolic
/// link, device or unreadable file is Error naming it.
std::vector<TreeFile> read_config_tree(const std::string& dir);

/// One line of the restart map: `PATH-GLOB COMMAND…`.
struct RestartRule {
    std::string glob; ///< fnmatch(3) pattern with FNM_PATHNAME, absolute
    std::string command;
};

/// Parses a restart map; Error(65) naming source and line.
std::vector<RestartRule> parse_restart_map(std::string_view text, std::string_view source);

/// The commands to run for these changed paths, each once, in map order.
std::vector<std::string> restart_commands_for(const std::vector<RestartRule>& rules,
                                              const std::vector<std::string>& changed_paths);

/// The shell command printing `MODE SHA256` (or `missing`) per remote path, one line each.
std::string tree_digest_command(const std::vector<TreeFile>& files);

/// A public key as authorized_keys holds it.
struct PublicKey {
    std::string type; ///< e.g. ssh-ed25519
    std::string blob; ///< base64
    std::string comment;
    std::string line() const;
};

/// Parses a `TYPE BASE64 [COMMENT]` line; Error(65) naming source when it is not one.
PublicKey parse_public_key(std::string_view text, std::string_view source);

/// Our public key: identity's `.pub` (or derived from identity), else the
/// first of ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub; nullopt when none.
std::optional<PublicKey> find_public_key(const std::string& identity);

/// The shell command that appends key to ~/.ssh/authorized_keys unless it is
/// there, making ~/.ssh 700 and the file 600, keeping every other key; it
/// prints one line per change it made.
std::string install_key_command(const PublicKey& key);

/// The shell command that points every apt source of release from at release
/// to (sources.list, sources.list.d/*.list and *.sources under apt_dir),
/// including -updates, -security, -backports and the old `from/updates`.
std::string release_sources_command(std::string_view from, std::string_view to, std::string_view apt_dir = "/etc/apt");

/// An apt-get command line with the non-interactive environment and
/// --force-confdef/--force-confold (local configuration files are kept).
std::string apt_get_command(std::string_view arguments);

/// An operator's reply at the terminal: y, n, k (keep and whitelist), p (purge and blacklist).
struct Reply {
    Answer answer = Answer::none;
    bool remember = false; ///< write it to the lists
};

/// Everything a host's run needs besides the host.
struct ProvisionSettings {
    bool apply = false;
    PackageLists lists;
    std::optional<PublicKey> key;
    std::string to_release;
    std::vector<TreeFile> tree;
    std::vector<RestartRule> restarts;
    std::string hostname;
    std::vector<std::string> resolvers;
    std::map<std::string, Answer> answers; ///< by plain package name
    bool learn = false;                    ///< write answers from the file to the lists
    /// Asks the operator (nullptr or Answer::none: nobody to ask).
    std::function<Reply(const PackageDecision&)> ask;
    /// Writes an answer to the lists (keep: whitelist, purge: blacklist).
    std::function<void(const std::string& package, Answer answer)> remember;
};

/// What one host's run found and did.
struct HostRun {
    std::vector<StepResult> steps;
    bool failed() const { return !steps.empty() && steps.back().status == StepStatus::failed; }
    std::optional<VirtDetection> virt; ///< once the facts were read
    std::optional<ClockReading> clock; ///< the host's clock, read with the facts
};

/// Runs the steps on one host in order, reporting each through line (one
/// call per output line, without the host prefix) and warnings through warn.
/// A failed step ends the run; whatever throws (SshError, Error) is that
/// step's failure. inventory_virt is the inventory's word ("unknown" for a
/// server not in it yet).
HostRun provision_host(RemoteHost& host, const ProvisionSettings& settings, const std::string& inventory_virt,
                       const std::function<void(const std::string&)>& line,
                       const std::function<void(const std::string&)>& warn);

} // namespace wp
