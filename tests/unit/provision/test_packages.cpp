#include <gtest/gtest.h>

#include "base/fs.h"
#include "provision/packages.h"
#include "support/apt_recorded.h"
#include "support/tmpdir.h"

namespace {

using Action = wp::PackageDecision::Action;

wp::InstalledPackage pkg(const std::string& name) {
    wp::InstalledPackage p;
    p.name = name;
    p.status = "ii ";
    p.version = "1.0";
    p.priority = "optional";
    return p;
}

wp::PackageLists lists() {
    wp::PackageLists l;
    l.keep = {"squid", "openssh-server", "unbound"};
    l.purge = {"apache2", "exim4-base", "linux-image-6.1.0-18-amd64"};
    return l;
}

wp::HostPackageFacts host() {
    wp::HostPackageFacts h;
    h.running_kernel = "6.1.0-18-amd64";
    return h;
}

// Recorded with LC_ALL=C in the test root (tests/provision/vps: Debian 12,
// apt 2.6.1) and in a minbase Debian 11 root (apt 2.2.4): what
// Debian 12, remove libapt-pkg6.0: only apt needs it
std::string bookworm_libapt_why() {
    return std::string(k_bookworm_unmet_header) +
           " apt : Depends: libapt-pkg6.0 (>= 2.6.1) but it is not going to be installed\n"
           "       Recommends: ca-certificates but it is not installable\n"
           "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";
}

// Debian 12, remove usr-is-merged: an alternative of an Essential package's dependency
std::string bookworm_usr_is_merged_why() {
    return std::string(k_bookworm_unmet_header) +
           " init-system-helpers : Depends: usrmerge but it is not installable or\n"
           "                                usr-is-merged but it is not going to be installed\n"
           "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";
}

// Debian 12, remove libwrap0 after `apt-mark hold openssh-server`: the same
// error, but for a held package, no Essential one
std::string bookworm_held_why() {
    return std::string(k_bookworm_unmet_header) +
           " openssh-server : Depends: libwrap0 (>= 7.6-4~) but it is not going to be installed\n"
           "                  Recommends: default-logind but it is not installable or\n"
           "                              logind but it is not installable or\n"
           "                              libpam-systemd but it is not installable\n"
           "                  Recommends: ncurses-term but it is not installable\n"
           "                  Recommends: xauth but it is not installable\n"
           "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";
}

// Debian 12, remove jq on a host whose dependencies are broken already
// (libtinfo6 gone under bash's feet): Essential packages are broken, but not
// by this removal
constexpr std::string_view k_bookworm_broken_host =
    "E: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or specify a solution).\n";
constexpr std::string_view k_bookworm_broken_host_why =
    "Reading package lists...\n"
    "Building dependency tree...\n"
    "You might want to run 'apt --fix-broken install' to correct these.\n"
    "The following packages have unmet dependencies:\n"
    " bash : PreDepends: libtinfo6 (>= 6) but it is not installable\n"
    "        Recommends: bash-completion (>= 20060301-0) but it is not installable\n"
    " libedit2 : Depends: libtinfo6 (>= 6) but it is not installable\n"
    " libncursesw6 : Depends: libtinfo6 (= 6.4-4) but it is not installable\n"
    "                Recommends: libgpm2 but it is not installable\n"
    " nano : Depends: libtinfo6 (>= 6) but it is not installable\n"
    " ncurses-bin : PreDepends: libtinfo6 (>= 6.3) but it is not installable\n"
    " procps : Depends: libtinfo6 (>= 6) but it is not installable\n"
    "          Recommends: psmisc but it is not installable\n"
    " util-linux : PreDepends: libtinfo6 (>= 6) but it is not installable\n"
    "E: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or specify a solution).\n";

// Debian 12, an unknown package
constexpr std::string_view k_bookworm_unknown = "E: Unable to locate package wp-no-such\n";
constexpr std::string_view k_bookworm_unknown_why = "Reading package lists...\n"
                                                    "Building dependency tree...\n"
                                                    "E: Unable to locate package wp-no-such\n";

// Debian 11 (apt 2.2.4), remove logsave: apt's solution removes e2fsprogs
// (Important: yes), which -qq (implying -y) refuses; -q shows it
constexpr std::string_view k_bullseye_refusal =
    "E: Essential packages were removed and -y was used without --allow-remove-essential.\n";
constexpr std::string_view k_bullseye_logsave_why =
    "Reading package lists...\n"
    "Building dependency tree...\n"
    "The following packages will be REMOVED:\n"
    "  e2fsprogs logsave\n"
    "WARNING: The following essential packages will be removed.\n"
    "This should NOT be done unless you know exactly what you are doing!\n"
    "  e2fsprogs logsave (due to e2fsprogs)\n"
    "0 upgraded, 0 newly installed, 2 to remove and 0 not upgraded.\n"
    "Remv e2fsprogs [1.46.2-2]\n"
    "Remv logsave [1.46.2-2]\n";
constexpr std::string_view k_bullseye_libapt_why =
    "Reading package lists...\n"
    "Building dependency tree...\n"
    "The following packages will be REMOVED:\n"
    "  apt libapt-pkg6.0\n"
    "WARNING: The following essential packages will be removed.\n"
    "This should NOT be done unless you know exactly what you are doing!\n"
    "  apt libapt-pkg6.0 (due to apt)\n"
    "0 upgraded, 0 newly installed, 2 to remove and 0 not upgraded.\n"
    "Remv apt [2.2.4]\n"
    "Remv libapt-pkg6.0 [2.2.4]\n";

// What the first rule keeps on such a host (always_kept_names)
const std::set<std::string, std::less<>>& essential() {
    static const std::set<std::string, std::less<>> names = {
        "apt",       "bash",        "coreutils", "dpkg", "e2fsprogs", "init-system-helpers",
        "libcrypt1", "ncurses-bin", "sed",       "tar",  "util-linux"};
    return names;
}

wp::HostPackageFacts host_with_essentials() {
    wp::HostPackageFacts h = host();
    h.essential = essential();
    return h;
}

TEST(DpkgQuery, ParsesTheStableFormat) {
    const auto rows = wp::parse_dpkg_query("sed\tii \t4.9-1\tyes\tno\t\trequired\n"
                                           "e2fsprogs\tii \t1.47.0-2\tno\tno\tyes\trequired\n"
                                           "libc6:i386\tii \t2.36-9\tno\tno\t\toptional\n"
                                           "apache2\trc \t2.4.57\tno\tno\t\toptional\n");
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_TRUE(rows[0].essential);
    EXPECT_TRUE(rows[1].important);
    EXPECT_EQ(rows[2].name, "libc6:i386");
    EXPECT_TRUE(rows[2].installed());
    EXPECT_FALSE(rows[3].installed());
    EXPECT_EQ(exit_code_of([] { wp::parse_dpkg_query("ii  apache2 2.4 amd64 web server\n"); }), 65);
}

TEST(AptSimulation, MeasuredOutputsOfDebian12) {
    // NOTES.md: `apt-get -s remove gpgv` installs gpgv1 first.
    auto gpgv = wp::parse_apt_simulation("Inst gpgv1 (1.4.23-1.1 Debian:12.5/stable [amd64])\n"
                                         "Conf gpgv1 (1.4.23-1.1 Debian:12.5/stable [amd64])\n"
                                         "Remv gpgv [2.2.40-1.1]\n",
                                         0);
    EXPECT_FALSE(gpgv.removes_only("gpgv"));
    auto nano = wp::parse_apt_simulation("Remv nano [7.2-1]\n", 0);
    EXPECT_TRUE(nano.removes_only("nano"));
    EXPECT_TRUE(nano.removes_only("nano:amd64"));
    auto chain = wp::parse_apt_simulation("Remv libfoo1 [1]\nRemv foo-utils [1]\n", 0);
    EXPECT_FALSE(chain.removes_only("libfoo1"));
    auto unknown = wp::parse_apt_simulation("E: Unable to locate package nosuch\n", 100);
    EXPECT_FALSE(unknown.removes_only("nosuch"));
    auto purge = wp::parse_apt_simulation("Purg mawk:amd64 [1.3.4]\n", 0);
    EXPECT_TRUE(purge.removes_only("mawk"));
}

TEST(AptSimulation, RefusedForTheSakeOfEssentialPackages) {
    // Debian 12: the resolver will not break coreutils, sed, tar
    const auto acl = wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why());
    EXPECT_TRUE(acl.removed.empty());
    EXPECT_EQ(acl.errors, std::vector<std::string>{std::string(wp::k_apt_resolver_refusal)});
    EXPECT_EQ(acl.broken, (std::vector<std::string>{"coreutils", "sed", "tar"}));
    EXPECT_EQ(acl.refused_for(essential()), (std::vector<std::string>{"coreutils", "sed", "tar"}));
    // nor apt itself, nor an Essential package through an alternative
    EXPECT_EQ(wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libapt_why()).refused_for(essential()),
              std::vector<std::string>{"apt"});
    const auto merged = wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_usr_is_merged_why());
    EXPECT_EQ(merged.broken, std::vector<std::string>{"init-system-helpers"});
    EXPECT_EQ(merged.refused_for(essential()), std::vector<std::string>{"init-system-helpers"});
    // Debian 11: the solution removes e2fsprogs, apt, which -qq refuses
    const auto logsave = wp::parse_apt_simulation(k_bullseye_refusal, 100, k_bullseye_logsave_why);
    EXPECT_TRUE(logsave.removed.empty());
    EXPECT_EQ(logsave.explained_removed, (std::vector<std::string>{"e2fsprogs", "logsave"}));
    EXPECT_EQ(logsave.refused_for(essential()), std::vector<std::string>{"e2fsprogs"});
    EXPECT_EQ(wp::parse_apt_simulation(k_bullseye_refusal, 100, k_bullseye_libapt_why).refused_for(essential()),
              std::vector<std::string>{"apt"});
}

TEST(AptSimulation, OtherRefusalsAreNotForEssentialPackages) {
    // a held package: the same error, no Essential package broken
    const auto held = wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_held_why());
    EXPECT_EQ(held.broken, std::vector<std::string>{"openssh-server"});
    EXPECT_TRUE(held.refused_for(essential()).empty());
    // broken dependencies already: Essential packages broken, another error
    const auto broken = wp::parse_apt_simulation(k_bookworm_broken_host, 100, k_bookworm_broken_host_why);
    EXPECT_EQ(broken.broken.front(), "bash");
    EXPECT_TRUE(broken.refused_for(essential()).empty());
    // an error of apt's own
    EXPECT_TRUE(
        wp::parse_apt_simulation(k_bookworm_unknown, 100, k_bookworm_unknown_why).refused_for(essential()).empty());
    // the refusal, but no explanation (or one from somewhere else)
    EXPECT_TRUE(wp::parse_apt_simulation(k_bookworm_refusal, 100).refused_for(essential()).empty());
    EXPECT_TRUE(
        wp::parse_apt_simulation(k_bookworm_refusal, 100, k_bullseye_logsave_why).refused_for(essential()).empty());
    EXPECT_TRUE(
        wp::parse_apt_simulation(k_bullseye_refusal, 100, bookworm_libacl1_why()).refused_for(essential()).empty());
    // the refusal with another error beside it
    EXPECT_TRUE(wp::parse_apt_simulation(std::string(k_bookworm_refusal) + std::string(k_bookworm_unknown), 100,
                                         bookworm_libacl1_why())
                    .refused_for(essential())
                    .empty());
    // exit status 0, or action lines: not a refusal
    EXPECT_TRUE(
        wp::parse_apt_simulation(k_bookworm_refusal, 0, bookworm_libacl1_why()).refused_for(essential()).empty());
    EXPECT_TRUE(
        wp::parse_apt_simulation(std::string(k_bookworm_refusal) + "Remv libacl1 [1]\n", 100, bookworm_libacl1_why())
            .refused_for(essential())
            .empty());
    // nothing is essential: nothing is refused for it
    EXPECT_TRUE(wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why()).refused_for({}).empty());
}

TEST(Decide, EssentialProtectedImportantAndAptAreAlwaysKept) {
    auto sed = pkg("sed");
    sed.essential = true;
    // apt-get -s remove sed prints one Remv line and exits 0: essential wins.
    auto d = wp::decide_package(sed, lists(), host(), wp::parse_apt_simulation("Remv sed [4.9-1]\n", 0));
    EXPECT_EQ(d.describe(), "KEEPING sed (essential)");
    auto e2 = pkg("e2fsprogs");
    e2.important = true;
    EXPECT_EQ(wp::decide_package(e2, lists(), host(), std::nullopt).action, Action::keep);
    auto prot = pkg("systemd-sysv");
    prot.is_protected = true;
    EXPECT_EQ(wp::decide_package(prot, lists(), host(), std::nullopt).reason, "protected");
    EXPECT_EQ(wp::decide_package(pkg("apt"), lists(), host(), std::nullopt).action, Action::keep);
}

TEST(Decide, WhitelistThenBlacklistThenKernelThenSimulation) {
    EXPECT_EQ(wp::decide_package(pkg("squid"), lists(), host(), std::nullopt).describe(), "KEEPING squid (whitelist)");
    EXPECT_EQ(wp::decide_package(pkg("apache2"), lists(), host(), std::nullopt).describe(),
              "PURGING apache2 (blacklist)");
    EXPECT_EQ(wp::decide_package(pkg("linux-image-5.10.0-9-amd64"), lists(), host(), std::nullopt).describe(),
              "ASKING linux-image-5.10.0-9-amd64 (kernel package)");
    // the running kernel is never touched, even when blacklisted
    EXPECT_EQ(wp::decide_package(pkg("linux-image-6.1.0-18-amd64"), lists(), host(), std::nullopt).describe(),
              "KEEPING linux-image-6.1.0-18-amd64 (running kernel)");
    EXPECT_EQ(wp::decide_package(pkg("linux-headers-6.1.0-17-common"), lists(), host(), std::nullopt).describe(),
              "ASKING linux-headers-6.1.0-17-common (kernel package)");
    EXPECT_EQ(wp::decide_package(pkg("linux-image-6.12.90+deb13-amd64"), lists(), host(), std::nullopt).reason,
              "kernel package");
    // apt's patterns name PATTERN-RELEASE: neither ".*-modules" nor "linux-.*"
    // alone makes a kernel package; these go to the simulation
    for (const char* name : {"libpam-modules", "libsasl2-modules:amd64", "linux-base", "linux-libc-dev:amd64",
                             "linux-image-amd64", "linux-image-cloud-amd64", "perl-modules-5.36", "linux-kbuild-6.1"}) {
        EXPECT_TRUE(wp::needs_simulation(pkg(name), lists(), host())) << name;
    }
    EXPECT_TRUE(wp::needs_simulation(pkg("nano"), lists(), host()));
    EXPECT_FALSE(wp::needs_simulation(pkg("apache2"), lists(), host()));
    EXPECT_EQ(
        wp::decide_package(pkg("nano"), lists(), host(), wp::parse_apt_simulation("Remv nano [7.2-1]\n", 0)).describe(),
        "PURGING nano (removes only itself)");
    EXPECT_EQ(wp::decide_package(pkg("libfoo1"), lists(), host(),
                                 wp::parse_apt_simulation("Remv foo-utils [1]\nRemv libfoo1 [1]\nRemv bar [2]\n", 0))
                  .describe(),
              "ASKING libfoo1 (would also remove: foo-utils, bar)");
    EXPECT_EQ(wp::decide_package(pkg("gpgv"), lists(), host(),
                                 wp::parse_apt_simulation("Inst gpgv1 (1)\nConf gpgv1 (1)\nRemv gpgv [2]\n", 0))
                  .describe(),
              "ASKING gpgv (removing it installs: gpgv1)");
}

TEST(Decide, NeededByEssentialPackagesIsKeptNeverAsked) {
    const auto h = host_with_essentials();
    auto d = wp::decide_package(pkg("libacl1:amd64"), lists(), h,
                                wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why()));
    EXPECT_EQ(d.describe(), "KEEPING libacl1:amd64 (needed by essential packages)");
    EXPECT_EQ(d.action, Action::keep);
    EXPECT_EQ(d.needed_by, (std::vector<std::string>{"coreutils", "sed", "tar"}));
    EXPECT_EQ(wp::decide_package(pkg("libapt-pkg6.0:amd64"), lists(), h,
                                 wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libapt_why()))
                  .describe(),
              "KEEPING libapt-pkg6.0:amd64 (needed by essential packages)");
    EXPECT_EQ(wp::decide_package(pkg("logsave"), lists(), h,
                                 wp::parse_apt_simulation(k_bullseye_refusal, 100, k_bullseye_logsave_why))
                  .describe(),
              "KEEPING logsave (needed by essential packages)");
    // the earlier rules still come first: the blacklist, a kernel package
    auto bl = lists();
    bl.purge.insert("libacl1");
    EXPECT_EQ(wp::decide_package(pkg("libacl1"), bl, h,
                                 wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why()))
                  .reason,
              "blacklist");
    // anything else apt refuses is asked
    EXPECT_EQ(wp::decide_package(pkg("libwrap0:amd64"), lists(), h,
                                 wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_held_why()))
                  .describe(),
              "ASKING libwrap0:amd64 (apt-get -s remove exited 100)");
    EXPECT_EQ(wp::decide_package(pkg("jq"), lists(), h,
                                 wp::parse_apt_simulation(k_bookworm_broken_host, 100, k_bookworm_broken_host_why))
                  .describe(),
              "ASKING jq (apt-get -s remove exited 100)");
    // and without the host's essential packages nothing is kept for them
    EXPECT_EQ(wp::decide_package(pkg("libacl1:amd64"), lists(), host(),
                                 wp::parse_apt_simulation(k_bookworm_refusal, 100, bookworm_libacl1_why()))
                  .action,
              Action::ask);
}

TEST(Decide, AlwaysKeptNamesAreTheFirstRulesPackages) {
    const auto rows = wp::parse_dpkg_query("sed\tii \t4.9-1\tyes\tno\t\trequired\n"
                                           "e2fsprogs\tii \t1.47.0-2\tno\tno\tyes\trequired\n"
                                           "libcrypt1:amd64\tii \t1:4.4.33-2\tno\tyes\tyes\toptional\n"
                                           "apt\tii \t2.6.1\tno\tno\t\trequired\n"
                                           "libacl1:amd64\tii \t2.3.1-3\tno\tno\t\toptional\n"
                                           "bash\trc \t5.2.15\tyes\tno\t\trequired\n");
    EXPECT_EQ(wp::always_kept_names(rows),
              (std::set<std::string, std::less<>>{"apt", "e2fsprogs", "libcrypt1", "sed"}));
}

TEST(Lists, LoadAndLearnKeepCommentsAndOrder) {
    TempDir dir;
    wp::make_directories(dir.path("packages"));
    wp::atomic_write_file(dir.path("packages/base"), "# base role\nopenssh-server\nsudo # admin\n");
    wp::atomic_write_file(dir.path("packages/proxy"), "squid\n");
    wp::atomic_write_file(dir.path("packages-blacklist"), "# why\napache2   # port 80\nexim4\n");
    auto l = wp::PackageLists::load(dir.path());
    EXPECT_EQ(l.keep, (std::set<std::string, std::less<>>{"openssh-server", "squid", "sudo"}));
    EXPECT_EQ(l.purge, (std::set<std::string, std::less<>>{"apache2", "exim4"}));
    EXPECT_EQ(wp::add_to_list("# base role\nopenssh-server\nsudo # admin\n", "rsync"),
              "# base role\nopenssh-server\nrsync\nsudo # admin\n");
    EXPECT_EQ(wp::add_to_list("# h\nb\n", "a"), "# h\na\nb\n");
    EXPECT_EQ(wp::add_to_list("# h\nb\n", "c"), "# h\nb\nc\n");
    EXPECT_EQ(wp::add_to_list("# h\nb\n", "b"), "# h\nb\n");
    EXPECT_EQ(exit_code_of([&] { wp::PackageLists::load(dir.path("absent")); }), 66);
}

TEST(Lists, ShippedListsLoadAndDoNotContradict) {
    const auto l = wp::PackageLists::load(WP_SOURCE_DIR "/share");
    EXPECT_TRUE(l.keep.contains("squid"));
    EXPECT_TRUE(l.keep.contains("openssh-server"));
    EXPECT_TRUE(l.purge.contains("apache2"));
    for (const auto& n : l.purge) {
        EXPECT_FALSE(l.keep.contains(n)) << n << " is on both lists";
    }
}

} // namespace
