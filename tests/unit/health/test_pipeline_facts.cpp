#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utime.h>

#include "health/pipeline_facts.h"
#include "store/db.h"
#include "support/tmpdir.h"

// The facts read from a real database and spool made here; the expected
// values are the ones written.

namespace {

constexpr std::int64_t k_now = 1'800'000'000;

class PipelineFactsTest : public ::testing::Test {
protected:
    PipelineFactsTest() : db(dir.path("wp.db")) { wp::migrate(db); }

    void file(const std::string& rel, const std::string& content, std::int64_t mtime = k_now) {
        const std::string path = dir.path(rel);
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        std::ofstream(path) << content;
        const utimbuf times{static_cast<time_t>(mtime), static_cast<time_t>(mtime)};
        ::utime(path.c_str(), &times);
    }

    wp::PipelineFacts gather() { return wp::gather_pipeline_facts(db, dir.path("spool"), dir.path("rejects"), k_now); }

    TempDir dir;
    wp::Database db;
};

TEST_F(PipelineFactsTest, ActiveUnretiredServersWithTheirStatus) {
    db.exec("INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', 'a', 100), (2, 'ams1', 'b', 200)");
    db.exec("INSERT INTO servers(id, name, address, added_at, active) VALUES (3, 'off1', 'c', 300, 0)");
    db.exec("INSERT INTO servers(id, name, address, added_at, active, retired_at) VALUES (4, 'old1', 'd', 1, 0, 2)");
    db.exec("INSERT INTO host_status(server_id, consecutive_failures, last_fetch, clock_offset_ms, "
            "clock_uncertainty_ms, clock_measured_at) VALUES (1, 4, 1000, -250, 7, 900)");
    const auto f = gather();
    ASSERT_EQ(f.servers.size(), 2u);
    EXPECT_EQ(f.servers[0].name, "ams1");
    EXPECT_EQ(f.servers[0].added_at, 200);
    EXPECT_FALSE(f.servers[0].last_fetch);
    EXPECT_FALSE(f.servers[0].clock);
    EXPECT_EQ(f.servers[1].name, "tor1");
    EXPECT_EQ(f.servers[1].last_fetch, 1000);
    EXPECT_EQ(f.servers[1].consecutive_failures, 4);
    ASSERT_TRUE(f.servers[1].clock);
    EXPECT_EQ(f.servers[1].clock->offset_ms, -250);
    EXPECT_EQ(f.servers[1].clock->uncertainty_ms, 7);
    EXPECT_EQ(f.servers[1].clock->measured_at, 900);
}

TEST_F(PipelineFactsTest, SpoolBacklogAndHeldFiles) {
    auto f = gather();
    EXPECT_EQ(f.spool.files, 0);
    EXPECT_FALSE(f.spool.oldest_mtime);
    file("spool/tor1/tor1.20260101T000000Z.log", "12345", k_now - 500);
    file("spool/tor1/tor1.20260101T010000Z.log.zst", "123", k_now - 100);
    file("spool/tor1/tor1.x.log.tmp.123.abcdef01", "1234567"); // a temporary: not a log
    file("spool/tor1/.hidden.log", "1234567");
    file("spool/ams1/ams1.20260101T000000Z.log", "1234567890", k_now - 9000);
    file("rejects/ams1/ams1.20260101T000000Z.log.rejects", "1\tbad\tx\n");
    file("rejects/tor1/tor1.gone.log.rejects", "1\tbad\tx\n"); // its file was billed
    f = gather();
    EXPECT_EQ(f.spool.files, 2);
    EXPECT_EQ(f.spool.bytes, 8);
    EXPECT_EQ(f.spool.oldest_mtime, k_now - 500);
    EXPECT_EQ(f.spool.held_files, 1);
    EXPECT_EQ(f.spool.held_bytes, 10);
}

TEST_F(PipelineFactsTest, SummaryBehindTheIngest) {
    auto f = gather();
    EXPECT_FALSE(f.summary.refreshed_at);
    EXPECT_FALSE(f.summary.pending_since);
    db.exec("INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', 'a', 100)");
    db.exec("INSERT INTO ingested_files(sha256, server_id, source_name, lines, rejected, ingested_at) VALUES "
            "('" +
            std::string(64, 'a') + "', 1, 'a', 1, 0, 1000), ('" + std::string(64, 'b') + "', 1, 'b', 1, 0, 2000), ('" +
            std::string(64, 'c') + "', 1, 'c', 1, 0, 3000)");
    f = gather();
    EXPECT_EQ(f.summary.last_ingest, 3000);
    EXPECT_EQ(f.summary.pending_since, 1000); // never refreshed: since the first
    db.exec("INSERT INTO rollup_state(id, zone, refreshed_at) VALUES (1, 'UTC', 1500)");
    f = gather();
    EXPECT_EQ(f.summary.refreshed_at, 1500);
    EXPECT_EQ(f.summary.pending_since, 2000);
    db.exec("UPDATE rollup_state SET refreshed_at = 3000");
    f = gather();
    EXPECT_FALSE(f.summary.pending_since);
    db.exec("INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-01-01')"); // an ingest in the refresh's second
    f = gather();
    EXPECT_EQ(f.summary.pending_since, 3000);
}

TEST_F(PipelineFactsTest, ASpoolThatCannotBeReadIsAnErrorNamingIt) {
    file("spool", "not a directory");
    try {
        gather();
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot read directory " + dir.path("spool") + ": Not a directory");
    }
}

} // namespace
