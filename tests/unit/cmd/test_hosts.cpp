#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/fs.h"
#include "cmd/hosts.h"
#include "support/in_process.h"
#include "support/tmpdir.h"

// wp-hosts' commands run in-process on a temporary database, the way
// tools/wp-hosts.cpp wires them; what they write to the database is read back
// with the sqlite3 shell, and what they print is compared whole.

namespace {

class HostsCommand : public ::testing::Test {
protected:
    // Parses argv as wp-hosts' command line and runs it; returns its status
    // and leaves what it printed on stdout in `printed`.
    int run(std::vector<std::string> args) {
        return run_in_process<wp::HostsRequest>("wp-hosts", wp::add_hosts_commands, wp::run_hosts, std::move(args),
                                                db(), printed);
    }

    std::string db() const { return dir.path("state/wp.db"); }

    std::string sql(const std::string& query) const {
        return shell_output("sqlite3 -separator '|' '" + db() + "' \"" + query + "\"");
    }

    TempDir dir;
    std::string printed;
};

TEST_F(HostsCommand, AddCreatesTheDatabaseAndStoresEveryField) {
    ASSERT_EQ(run({"add", "tor1", "--address", "192.0.2.10", "--port", "2222", "--city", "Toronto", "--country", "ca",
                   "--provider", "OVH", "--virt", "kvm", "--notes", "rack 4"}),
              0);
    EXPECT_EQ(printed, "");
    EXPECT_EQ(sql("SELECT name, address, port, city, country, provider, virt, active, retired_at IS NULL, notes "
                  "FROM servers"),
              "tor1|192.0.2.10|2222|Toronto|CA|OVH|kvm|1|1|rack 4\n");
}

TEST_F(HostsCommand, AddTakesDefaultsForWhatIsNotGiven) {
    ASSERT_EQ(run({"add", "lon1", "--inactive"}), 0);
    EXPECT_EQ(sql("SELECT name, port, virt, active, city IS NULL FROM servers"), "lon1|22|unknown|0|1\n");
}

TEST_F(HostsCommand, ListPrintsTsvWithTheSameColumnsAlways) {
    ASSERT_EQ(run({"add", "tor1", "--address", "192.0.2.10", "--city", "Toronto", "--country", "CA"}), 0);
    ASSERT_EQ(run({"add", "ber1", "--address", "192.0.2.20", "--provider", "Hetzner", "--virt", "xen"}), 0);
    ASSERT_EQ(run({"list", "--format", "tsv"}), 0);
    EXPECT_EQ(printed, "name\taddress\tport\tcity\tcountry\tprovider\tvirt\tactive\tretired_at\n"
                       "ber1\t192.0.2.20\t22\t\t\tHetzner\txen\tyes\t\n"
                       "tor1\t192.0.2.10\t22\tToronto\tCA\t\tunknown\tyes\t\n");
    ASSERT_EQ(run({"list", "--format", "tsv", "--where", "country = 'CA'"}), 0);
    EXPECT_EQ(printed, "name\taddress\tport\tcity\tcountry\tprovider\tvirt\tactive\tretired_at\n"
                       "tor1\t192.0.2.10\t22\tToronto\tCA\t\tunknown\tyes\t\n");
}

TEST_F(HostsCommand, RetireHidesServersFromListButNotFromListAll) {
    ASSERT_EQ(run({"add", "tor1", "--address", "192.0.2.10"}), 0);
    ASSERT_EQ(run({"add", "ber1", "--address", "192.0.2.20"}), 0);
    ASSERT_EQ(run({"add", "par1", "--address", "192.0.2.30"}), 0);
    ASSERT_EQ(run({"retire", "ber1", "par1"}), 0);
    EXPECT_EQ(printed, "");
    EXPECT_EQ(sql("SELECT name, active, retired_at IS NOT NULL FROM servers ORDER BY name"),
              "ber1|0|1\npar1|0|1\ntor1|1|0\n");

    ASSERT_EQ(run({"list", "--format", "tsv"}), 0);
    EXPECT_EQ(printed, "name\taddress\tport\tcity\tcountry\tprovider\tvirt\tactive\tretired_at\n"
                       "tor1\t192.0.2.10\t22\t\t\t\tunknown\tyes\t\n");

    ASSERT_EQ(run({"list", "--all", "--format", "csv"}), 0);
    // retired_at as sqlite3 formats the stored epoch: an independent reading.
    const std::string ber1_at = sql("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', retired_at, 'unixepoch') FROM servers "
                                    "WHERE name = 'ber1'");
    const std::string par1_at = sql("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', retired_at, 'unixepoch') FROM servers "
                                    "WHERE name = 'par1'");
    EXPECT_EQ(printed, "name,address,port,city,country,provider,virt,active,retired_at\n"
                       "ber1,192.0.2.20,22,,,,unknown,no," +
                           ber1_at + "par1,192.0.2.30,22,,,,unknown,no," + par1_at +
                           "tor1,192.0.2.10,22,,,,unknown,yes,\n");
}

TEST_F(HostsCommand, RetiringAnUnknownServerRetiresNoneOfTheOthers) {
    ASSERT_EQ(run({"add", "tor1"}), 0);
    EXPECT_EQ(exit_code_of([&] { run({"retire", "tor1", "nosuch"}); }), 66);
    EXPECT_EQ(sql("SELECT name, active, retired_at IS NULL FROM servers"), "tor1|1|1\n");
}

TEST_F(HostsCommand, SetAndRetireDoNotCreateADatabase) {
    EXPECT_NE(exit_code_of([&] { run({"set", "tor1", "--city", "Toronto"}); }), 0);
    EXPECT_NE(exit_code_of([&] { run({"retire", "tor1"}); }), 0);
    EXPECT_FALSE(std::filesystem::exists(db()));
}

TEST_F(HostsCommand, ImportReadsACsvFile) {
    wp::make_directories(dir.path("in"));
    wp::atomic_write_file(dir.path("in/servers.csv"), "name,address,country\nams1,192.0.2.40,nl\nosl1,192.0.2.50,NO\n");
    ASSERT_EQ(run({"import", dir.path("in/servers.csv")}), 0);
    EXPECT_EQ(sql("SELECT name, address, country FROM servers ORDER BY name"),
              "ams1|192.0.2.40|NL\nosl1|192.0.2.50|NO\n");
}

} // namespace
