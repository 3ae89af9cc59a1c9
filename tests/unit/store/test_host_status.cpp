#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "store/db.h"
#include "store/host_status.h"
#include "store/inventory.h"
#include "support/tmpdir.h"

namespace {

TEST(HostOutcome, EachHasItsWord) {
    using wp::HostOutcome;
    EXPECT_EQ(wp::outcome_word(HostOutcome::ok), "ok");
    EXPECT_EQ(wp::outcome_word(HostOutcome::command_failed), "command failed");
    EXPECT_EQ(wp::outcome_word(HostOutcome::timed_out), "timed out");
    EXPECT_EQ(wp::outcome_word(HostOutcome::failed), "failed");
    EXPECT_EQ(wp::outcome_word(HostOutcome::unreachable), "unreachable");
    EXPECT_EQ(wp::outcome_word(HostOutcome::down), "down");
    EXPECT_EQ(wp::outcome_word(HostOutcome::interrupted), "interrupted");
    EXPECT_EQ(wp::outcome_word(HostOutcome::not_run), "not run");
}

TEST(HostResult, MessageIsStepAndCause) {
    wp::HostResult r;
    EXPECT_EQ(r.message(), "");
    r.cause = "connection refused";
    EXPECT_EQ(r.message(), "connection refused");
    r.step = "download /var/log/squid/access.log.wp-20261125T130000Z";
    EXPECT_EQ(r.message(), "download /var/log/squid/access.log.wp-20261125T130000Z: connection refused");
    r.cause.clear();
    EXPECT_EQ(r.message(), "download /var/log/squid/access.log.wp-20261125T130000Z");
}

// The rule, read back by the sqlite3 shell rather than by Inventory.
struct Recording : ::testing::Test {
    TempDir dir;
    std::string db_path = dir.path("wp.db");
    wp::Database db{db_path};
    wp::Inventory inventory{db};
    std::int64_t id = 0;

    void SetUp() override {
        if (std::system("command -v sqlite3 >/dev/null 2>&1") != 0) {
            GTEST_SKIP() << "sqlite3 is not installed";
        }
        wp::Server s;
        s.name = "tor1";
        s.address = "192.0.2.1";
        id = inventory.add(s);
    }

    // "failures|last_error|contact set|error_at set", or "" without a row.
    std::string row() const {
        return shell_output("sqlite3 " + db_path +
                            " \"SELECT consecutive_failures, IFNULL(last_error, '-'), last_contact IS NOT NULL, "
                            "last_error_at IS NOT NULL FROM host_status\"");
    }

    void record(wp::HostOutcome outcome, std::string step = "", std::string cause = "", bool contacted = false) {
        wp::HostResult r;
        r.server = "tor1";
        r.outcome = outcome;
        r.contacted = contacted;
        r.step = std::move(step);
        r.cause = std::move(cause);
        wp::record_host_status(inventory, id, r);
    }
};

TEST_F(Recording, NoContactNoRow) {
    for (const auto outcome : {wp::HostOutcome::down, wp::HostOutcome::interrupted, wp::HostOutcome::not_run}) {
        record(outcome, "connect", "whatever");
    }
    EXPECT_EQ(row(), "");
}

TEST_F(Recording, FailuresCountUpWithTheirMessageAndAContactResetsThem) {
    record(wp::HostOutcome::unreachable, "connect", "Connection refused");
    EXPECT_EQ(row(), "1|connect: Connection refused|0|1\n");
    record(wp::HostOutcome::failed, "rotate", "exit status 1");
    EXPECT_EQ(row(), "2|rotate: exit status 1|0|1\n");
    record(wp::HostOutcome::interrupted, "download /x", "interrupted");
    EXPECT_EQ(row(), "2|rotate: exit status 1|0|1\n");
    record(wp::HostOutcome::ok);
    EXPECT_EQ(row(), "0|rotate: exit status 1|1|1\n"); // the last error stays for the record
}

TEST_F(Recording, CtrlCAfterTheHostAnsweredIsAContact) {
    record(wp::HostOutcome::failed, "rotate", "exit status 1");
    record(wp::HostOutcome::interrupted, "download /x", "interrupted", true);
    EXPECT_EQ(row(), "0|rotate: exit status 1|1|1\n");
}

TEST_F(Recording, TheOperatorsCommandFailingIsStillAContact) {
    record(wp::HostOutcome::failed, "connect", "host key changed");
    record(wp::HostOutcome::command_failed, "", "exit status 2");
    EXPECT_EQ(row(), "0|connect: host key changed|1|1\n");
    record(wp::HostOutcome::failed, "apt", "lock held");
    record(wp::HostOutcome::timed_out, "", "timed out after 5 s");
    EXPECT_EQ(row(), "0|apt: lock held|1|1\n");
}

TEST_F(Recording, AClockReadingIsKeptWhateverTheOutcomeAndAFetchHasItsTime) {
    wp::HostResult r;
    r.server = "tor1";
    r.outcome = wp::HostOutcome::command_failed;
    r.contacted = true;
    r.clock = wp::ClockReading{30012, 4, 1796000000};
    wp::record_host_status(inventory, id, r);
    const std::string query = "sqlite3 " + db_path +
                              " \"SELECT clock_offset_ms, clock_uncertainty_ms, clock_measured_at, "
                              "IFNULL(last_fetch, '-') FROM host_status\"";
    EXPECT_EQ(shell_output(query), "30012|4|1796000000|-\n");
    r.outcome = wp::HostOutcome::failed;
    r.clock = wp::ClockReading{-1500, 250, 1796000100};
    wp::record_host_status(inventory, id, r);
    EXPECT_EQ(shell_output(query), "-1500|250|1796000100|-\n");
    r.clock.reset(); // a turn without a reading leaves the last one
    wp::record_host_status(inventory, id, r);
    EXPECT_EQ(shell_output(query), "-1500|250|1796000100|-\n");
    inventory.record_fetch(id);
    const auto status = inventory.status({"tor1"});
    ASSERT_EQ(status.size(), 1U);
    ASSERT_TRUE(status[0].clock);
    EXPECT_EQ(status[0].clock->offset_ms, -1500);
    EXPECT_EQ(status[0].clock->uncertainty_ms, 250);
    EXPECT_EQ(status[0].clock->measured_at, 1796000100);
    ASSERT_TRUE(status[0].last_fetch);
    EXPECT_GT(*status[0].last_fetch, 1796000100);
}

} // namespace
