#include <gtest/gtest.h>

#include "fs.h"
#include "packages.h"
#include "tmpdir.h"

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
    EXPECT_EQ(wp::decide_package(pkg("nano"), lists(), host(), wp::parse_apt_simulation("Remv nano [7.2-1]\n", 0))
                  .describe(),
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
