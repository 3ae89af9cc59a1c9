#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/calendar.h"
#include "cmd/users.h"
#include "store/db.h"
#include "support/in_process.h"
#include "support/tmpdir.h"

// wp-users' commands run in-process on a temporary database, the way
// tools/wp-users.cpp wires them; what they write is read back with the
// sqlite3 shell, and what they print is compared whole with values worked
// out by hand from the rows below.

namespace {

class UsersCommand : public ::testing::Test {
protected:
    // Parses argv as wp-users' command line and runs it; returns its status
    // and leaves what it printed on stdout in `printed`.
    int run(std::vector<std::string> args) {
        return run_in_process<wp::UsersRequest>("wp-users", wp::add_users_commands, wp::run_users, std::move(args),
                                                db(), printed);
    }

    std::string db() const { return dir.path("state/wp.db"); }

    std::string sql(const std::string& query) const {
        return shell_output("sqlite3 -separator '|' '" + db() + "' \"" + query + "\"");
    }

    // Two users with usage in October and November 2026 (closed months by
    // the time this runs), a third with none; alice is acme's from the start.
    void prepare() {
        std::filesystem::create_directories(dir.path("state"));
        wp::Database d(db());
        d.exec(R"SQL(
INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', 'a', 0);
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol');
INSERT INTO accounts(id, name, quota_bytes, added_at) VALUES (1, 'acme', 500000000000, 0), (2, 'zeta', NULL, 0);
INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) VALUES (1, 0, 1, 10), (2, 0, 2, 10);
INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) VALUES
  (1, 1, 1792483200, 2, 100, 200),
  (1, 1, 1795176000, 3, 300, 300),
  (1, 2, 1795176000, 1, 10, 20);
)SQL");
    }

    TempDir dir;
    std::string printed;
};

TEST_F(UsersCommand, ListInTsvAndJson) {
    prepare();
    ASSERT_EQ(run({"list", "--format", "tsv"}), 0);
    EXPECT_EQ(printed, "user\taccount\tfirst_seen\tlast_seen\trequests\tbytes\tbilled_bytes\n"
                       "alice\tacme\t2026-10-20T08:00:00Z\t2026-11-20T12:00:00Z\t5\t400\t500\n"
                       "bob\tzeta\t2026-11-20T12:00:00Z\t2026-11-20T12:00:00Z\t1\t10\t20\n"
                       "carol\t\t\t\t0\t0\t0\n");
    ASSERT_EQ(run({"list", "--format", "json"}), 0);
    EXPECT_EQ(printed, "{\"user\":\"alice\",\"account\":\"acme\",\"first_seen\":\"2026-10-20T08:00:00Z\","
                       "\"last_seen\":\"2026-11-20T12:00:00Z\",\"requests\":5,\"bytes\":400,\"billed_bytes\":500}\n"
                       "{\"user\":\"bob\",\"account\":\"zeta\",\"first_seen\":\"2026-11-20T12:00:00Z\","
                       "\"last_seen\":\"2026-11-20T12:00:00Z\",\"requests\":1,\"bytes\":10,\"billed_bytes\":20}\n"
                       "{\"user\":\"carol\",\"account\":null,\"first_seen\":null,\"last_seen\":null,\"requests\":0,"
                       "\"bytes\":0,\"billed_bytes\":0}\n");
    ASSERT_EQ(run({"list", "--format", "table"}), 0);
    EXPECT_EQ(printed, "user   account  first_seen            last_seen             requests  bytes  billed_bytes\n"
                       "alice  acme     2026-10-20T08:00:00Z  2026-11-20T12:00:00Z         5    400           500\n"
                       "bob    zeta     2026-11-20T12:00:00Z  2026-11-20T12:00:00Z         1     10            20\n"
                       "carol  -                                                           0      0             0\n");
}

TEST_F(UsersCommand, SetMovesAUserAndShowTellsTheHistory) {
    prepare();
    ::testing::internal::CaptureStderr();
    ASSERT_EQ(run({"set", "alice", "--account", "beta", "--from", "2026-11-01T00:00-05:00", "--amend-closed"}), 0);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(),
              "wp: warning: alice: the invoices of closed month 2026-11 change (acme -> beta); issue them again\n");
    EXPECT_EQ(printed, "");
    EXPECT_EQ(sql("SELECT from_hour, (SELECT name FROM accounts WHERE id = account_id) FROM account_assignments "
                  "WHERE user_id = 1 ORDER BY from_hour"),
              "0|acme\n1793509200|beta\n"); // 2026-11-01T05:00:00Z
    ASSERT_EQ(run({"show", "alice", "--format", "tsv"}), 0);
    const std::string set_at = sql("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', set_at, 'unixepoch') FROM "
                                   "account_assignments WHERE user_id = 1 AND from_hour > 0");
    EXPECT_EQ(printed, "user\taccount\tfirst_seen\tlast_seen\trequests\tbytes\tbilled_bytes\n"
                       "alice\tbeta\t2026-10-20T08:00:00Z\t2026-11-20T12:00:00Z\t5\t400\t500\n"
                       "\n"
                       "from\taccount\tset_at\n"
                       "1970-01-01T00:00:00Z\tacme\t1970-01-01T00:00:10Z\n"
                       "2026-11-01T05:00:00Z\tbeta\t" +
                           set_at +
                           "\n"
                           "account\trequests\tbytes\tbilled_bytes\n"
                           "acme\t2\t100\t200\n"
                           "beta\t3\t300\t300\n");
}

TEST_F(UsersCommand, ShowInJsonIsOneObject) {
    prepare();
    ASSERT_EQ(run({"show", "bob", "--format", "json"}), 0);
    EXPECT_EQ(printed, "{\"user\":\"bob\",\"account\":\"zeta\",\"first_seen\":\"2026-11-20T12:00:00Z\","
                       "\"last_seen\":\"2026-11-20T12:00:00Z\",\"requests\":1,\"bytes\":10,\"billed_bytes\":20,"
                       "\"history\":[{\"from\":\"1970-01-01T00:00:00Z\",\"account\":\"zeta\",\"set_at\":"
                       "\"1970-01-01T00:00:10Z\"}],"
                       "\"by_account\":[{\"account\":\"zeta\",\"requests\":1,\"bytes\":10,\"billed_bytes\":20}]}\n");
    ASSERT_EQ(run({"show", "carol", "--format", "json"}), 0);
    EXPECT_EQ(printed, "{\"user\":\"carol\",\"account\":null,\"first_seen\":null,\"last_seen\":null,\"requests\":0,"
                       "\"bytes\":0,\"billed_bytes\":0,\"history\":[],\"by_account\":[]}\n");
    EXPECT_EQ(exit_code_of([&] { run({"show", "nobody"}); }), 66);
}

TEST_F(UsersCommand, BadInputIsRefusedBeforeTheDatabaseIsMade) {
    EXPECT_EQ(exit_code_of([&] { run({"set", "alice", "--account", "-x"}); }), 64);
    EXPECT_EQ(exit_code_of([&] { run({"set", "alice", "--account", "acme", "--from", "2026-12-01T10:15"}); }), 64);
    EXPECT_EQ(exit_code_of([&] { run({"import", dir.path("absent.csv")}); }), 66);
    EXPECT_FALSE(std::filesystem::exists(db()));
    EXPECT_THROW(run({"set", "alice"}), CLI::ValidationError);
    EXPECT_THROW(run({"set", "alice", "--account", "a", "--unassign"}), CLI::ExcludesError);
}

TEST_F(UsersCommand, ClosedMonthRefusalChangesNothing) {
    prepare();
    const std::string before = sql("SELECT * FROM account_assignments");
    EXPECT_EQ(exit_code_of([&] { run({"set", "bob", "--unassign", "--from", "2026-11-20"}); }), 65);
    EXPECT_EQ(sql("SELECT * FROM account_assignments"), before);
}

TEST_F(UsersCommand, AccountsAndQuotas) {
    prepare();
    ASSERT_EQ(run({"set", "dave", "--account", "acme"}), 0);
    ASSERT_EQ(run({"quota", "zeta", "1.5TiB"}), 0);
    ASSERT_EQ(run({"quota", "acme", "none"}), 0);
    ASSERT_EQ(run({"accounts", "--format", "tsv"}), 0);
    EXPECT_EQ(printed, "account\tquota_bytes\tusers\n"
                       "acme\t\talice,dave\n"
                       "zeta\t1649267441664\tbob\n");
    ASSERT_EQ(run({"accounts", "--format", "json"}), 0);
    EXPECT_EQ(printed, "{\"account\":\"acme\",\"quota_bytes\":null,\"users\":\"alice,dave\"}\n"
                       "{\"account\":\"zeta\",\"quota_bytes\":1649267441664,\"users\":\"bob\"}\n");
    EXPECT_EQ(exit_code_of([&] { run({"quota", "nobody", "5GB"}); }), 66);
    EXPECT_EQ(exit_code_of([&] { run({"quota", "zeta", "750G"}); }), 64);
    EXPECT_EQ(exit_code_of([&] { run({"quota", "zeta", "0"}); }), 64);
    EXPECT_EQ(sql("SELECT quota_bytes FROM accounts WHERE name = 'zeta'"), "1649267441664\n");
}

} // namespace
