#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "billing/billing.h"
#include "billing/ingest.h"
#include "billing/ingest_inputs.h"
#include "billing/squid_log.h"
#include "store/db.h"
#include "store/inventory.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;

namespace {

// ---- which files, which server -------------------------------------------------

class IngestInputs : public ::testing::Test {
protected:
    IngestInputs() { wp::make_directories(spool()); }
    std::string spool() const { return dir.path("spool"); }
    void touch(const std::string& path) {
        wp::make_directories(wp::parent_directory(path));
        wp::atomic_write_file(path, "x\n");
    }
    TempDir dir;
};

TEST_F(IngestInputs, ServerIsTheSpoolFolderElseTheFileNameUpToTheFirstDot) {
    EXPECT_EQ(wp::server_for_path(spool() + "/tor1/access.log", spool()), "tor1");
    // Below a server's folder the folder no longer names the server.
    EXPECT_EQ(wp::server_for_path(spool() + "/deep/tor1/ber1.2026.log", spool()), "ber1");
    EXPECT_EQ(wp::server_for_path(dir.path("elsewhere/par1.access.log"), spool()), "par1");
    EXPECT_EQ(wp::server_for_path("ams1.log.zst", spool()), "ams1");
}

TEST_F(IngestInputs, HostileNamesGiveNoServer) {
    // Neither the folder nor the name is a server name: the caller must ask.
    for (const std::string name :
         {"-rf.log", ".hidden.log", "a b.log", "evil\nname.log", "$(reboot).log", "é.log", "'q'.log", ".log"}) {
        EXPECT_EQ(wp::server_for_path(dir.path("in/" + name), spool()), "") << name;
    }
    // A folder of the spool with such a name does not name a server either.
    EXPECT_EQ(wp::server_for_path(spool() + "/-rf/access.log", spool()), "access");
    EXPECT_EQ(wp::server_for_path(spool() + "/a b/x y.log", spool()), "");
}

TEST_F(IngestInputs, ADirectoryGivesItsLogsSortedAndSkipsOthersHiddenAndLinked) {
    const std::string in = dir.path("in");
    touch(in + "/b1/access.log");
    touch(in + "/a1/access.log.zst");
    touch(in + "/a1/old.log.gz");
    touch(in + "/a1/notes.txt");
    touch(in + "/a1/access.log.1");
    touch(in + "/a1/.hidden.log");
    touch(in + "/a1/-rf.log");
    touch(in + "/a1/with space.log");
    touch(in + "/a1/new\nline.log");
    touch(dir.path("outside/secret.log"));
    fs::create_symlink(dir.path("outside/secret.log"), in + "/a1/link.log");
    fs::create_directory_symlink(dir.path("outside"), in + "/linked");
    EXPECT_EQ(wp::expand_input(in), (std::vector<std::string>{
                                        in + "/a1/-rf.log",
                                        in + "/a1/access.log.zst",
                                        in + "/a1/new\nline.log",
                                        in + "/a1/old.log.gz",
                                        in + "/a1/with space.log",
                                        in + "/b1/access.log",
                                    }));
}

TEST_F(IngestInputs, AFileOrStdinIsItselfAndAMissingInputIsAnError) {
    touch(dir.path("in/x.txt"));
    EXPECT_EQ(wp::expand_input(dir.path("in/x.txt")), (std::vector<std::string>{dir.path("in/x.txt")}));
    EXPECT_EQ(wp::expand_input("-"), (std::vector<std::string>{"-"}));
    EXPECT_EQ(exit_code_of([&] { wp::expand_input(dir.path("nosuch")); }), 66);
}

TEST_F(IngestInputs, InsideMeansBelowTheDirectoryNotBesideIt) {
    EXPECT_TRUE(wp::is_inside_directory(spool() + "/tor1/a.log", spool()));
    EXPECT_FALSE(wp::is_inside_directory(spool() + "2/tor1/a.log", spool()));
    EXPECT_FALSE(wp::is_inside_directory(spool(), spool()));
    EXPECT_FALSE(wp::is_inside_directory(spool() + "/../x.log", spool()));
}

// ---- a real file into a real database -------------------------------------------

// Native Squid lines of 2025-11-25, billed by the default rules: a miss from
// the origin counts twice, a hit once.
constexpr std::int64_t k_t = 1764100000; // 19:46:40Z
const std::string k_log =
    std::to_string(k_t) + ".000 10 192.0.2.1 TCP_MISS/200 1000 GET http://x/ alice HIER_DIRECT/1.2.3.4 -\n" +
    std::to_string(k_t + 100) + ".000 10 192.0.2.1 TCP_HIT/200 500 GET http://x/ alice HIER_DIRECT/1.2.3.4 -\n" +
    "this is not squid\n" + std::to_string(k_t + 3700) +
    ".000 10 192.0.2.9 TCP_MISS/200 300 GET http://y/ bob HIER_DIRECT/1.2.3.4 -\n";

class IngestFiles : public ::testing::Test {
protected:
    IngestFiles() {
        settings.db = dir.path("wp.db");
        settings.archive = dir.path("archive");
        settings.rejects = dir.path("rejects");
        settings.spool = dir.path("spool");
        settings.max_reject_ratio = 0.5;
        wp::Database db(settings.db);
        wp::Server s;
        s.name = "tor1";
        s.address = "192.0.2.1";
        wp::Inventory(db).add(s);
        wp::make_directories(settings.spool + "/tor1");
        wp::atomic_write_file(input(), k_log);
    }

    std::string input() const { return settings.spool + "/tor1/access.log"; }

    wp::IngestTotals ingest() { return wp::ingest_files({{"tor1", {{input(), "tor1"}}}}, 2, settings, grammar, rules); }

    std::string sql(const std::string& query) const {
        return shell_output("sqlite3 -separator '|' '" + settings.db + "' \"" + query + "\"");
    }

    TempDir dir;
    wp::IngestSettings settings;
    const wp::LogGrammar grammar = wp::LogGrammar::native();
    const wp::BillingRules rules = wp::BillingRules::defaults();
};

TEST_F(IngestFiles, BillsUsageLedgerAndDirtyDayAndKeepsTheRejectedLine) {
    const auto totals = ingest();
    EXPECT_EQ(totals.failed_files, 0);
    EXPECT_EQ(totals.lines, 4);
    EXPECT_EQ(totals.understood, 3);
    EXPECT_TRUE(totals.records.empty());

    // 19:00Z is 1764097200, 20:00Z 1764100800.
    EXPECT_EQ(sql("SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g "
                  "JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id ORDER BY u.name, g.hour"),
              "tor1|alice|1764097200|2|1500|2500\n"
              "tor1|bob|1764100800|1|300|600\n");
    EXPECT_EQ(sql("SELECT source_name, lines, rejected, first_ts, last_ts FROM ingested_files"),
              "access.log|4|1|1764100000|1764103700\n");
    EXPECT_EQ(sql("SELECT day FROM dirty_days"), "2025-11-25\n");

    EXPECT_EQ(wp::read_file(dir.path("rejects/tor1/access.log.rejects")), "3\tnot understood\tthis is not squid\n");
    EXPECT_FALSE(fs::exists(input())); // billed, so it leaves the spool
}

TEST_F(IngestFiles, TheLedgerHoldsTheFilesSha256) {
    ingest();
    wp::atomic_write_file(dir.path("copy.log"), k_log);
    const std::string expected = shell_output("sha256sum < '" + dir.path("copy.log") + "'").substr(0, 64);
    EXPECT_EQ(sql("SELECT sha256 FROM ingested_files"), expected + "\n");
}

TEST_F(IngestFiles, TooManyRejectsBillNothingAndLeaveTheFile) {
    settings.max_reject_ratio = 0.01;
    const auto totals = ingest();
    EXPECT_EQ(totals.failed_files, 1);
    EXPECT_EQ(sql("SELECT count(*) FROM usage"), "0\n");
    EXPECT_EQ(sql("SELECT count(*) FROM ingested_files"), "0\n");
    EXPECT_TRUE(fs::exists(input()));
    // The rejects are kept all the same: they say why.
    EXPECT_EQ(wp::read_file(dir.path("rejects/tor1/access.log.rejects")), "3\tnot understood\tthis is not squid\n");
}

TEST_F(IngestFiles, RecordsOnlyMergesAndTouchesNothing) {
    settings.records_only = true;
    settings.db = dir.path("absent.db");
    const auto totals = ingest();
    EXPECT_EQ(totals.failed_files, 0);
    ASSERT_EQ(totals.records.size(), 2u);
    EXPECT_TRUE(fs::exists(input()));
    EXPECT_FALSE(fs::exists(settings.db));
    EXPECT_FALSE(fs::exists(settings.rejects));

    wp::write_usage_records(dir.path("out.tsv"), false, totals.records);
    EXPECT_EQ(wp::read_file(dir.path("out.tsv")), "server\tuser\thour\trequests\tbytes\tbilled_bytes\n"
                                                  "tor1\talice\t2025-11-25T19:00:00Z\t2\t1500\t2500\n"
                                                  "tor1\tbob\t2025-11-25T20:00:00Z\t1\t300\t600\n");
    wp::write_usage_records(dir.path("out.json"), true, totals.records);
    EXPECT_EQ(wp::read_file(dir.path("out.json")),
              "{\"server\":\"tor1\",\"user\":\"alice\",\"hour\":\"2025-11-25T19:00:00Z\",\"requests\":2,\"bytes\":1500,"
              "\"billed_bytes\":2500}\n"
              "{\"server\":\"tor1\",\"user\":\"bob\",\"hour\":\"2025-11-25T20:00:00Z\",\"requests\":1,\"bytes\":300,"
              "\"billed_bytes\":600}\n");
}

TEST_F(IngestFiles, AServerMissingFromTheInventoryFailsThatFileOnly) {
    wp::make_directories(settings.spool + "/ghost");
    wp::atomic_write_file(settings.spool + "/ghost/access.log", k_log);
    const auto totals =
        wp::ingest_files({{"tor1", {{input(), "tor1"}}}, {"ghost", {{settings.spool + "/ghost/access.log", "ghost"}}}},
                         2, settings, grammar, rules);
    EXPECT_EQ(totals.failed_files, 1);
    EXPECT_EQ(sql("SELECT count(*), sum(requests) FROM usage"), "2|3\n");
    EXPECT_TRUE(fs::exists(settings.spool + "/ghost/access.log"));
}

} // namespace
