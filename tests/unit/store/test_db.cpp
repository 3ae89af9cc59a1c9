#include <gtest/gtest.h>

#include <sqlite3.h>

#include "base/error.h"
#include "store/db.h"
#include "support/tmpdir.h"

namespace {

int count(wp::Database& db, const char* sql) {
    auto st = db.prepare(sql);
    st.step();
    return static_cast<int>(st.column_int64(0));
}

TEST(Database, CreatesWholeSchemaAtTheCurrentVersion) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    auto st = db.prepare("PRAGMA user_version");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_int64(0), wp::k_schema_version);
    for (const char* table : {"servers", "host_status", "users", "usage", "ingested_files", "archive_files",
                              "dirty_days", "sum_usage_daily", "rollup_state"}) {
        auto q = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
        q.bind(1, table);
        q.step();
        EXPECT_EQ(q.column_int64(0), 1) << table;
    }
    auto mode = db.prepare("PRAGMA journal_mode");
    mode.step();
    EXPECT_EQ(mode.column_text(0), "wal");
}

TEST(Database, ReopenKeepsDataAndDoesNotRemigrate) {
    TempDir dir;
    {
        wp::Database db(dir.path("wp.db"));
        db.exec("INSERT INTO users(name) VALUES ('alice')");
    }
    wp::Database db(dir.path("wp.db"), wp::OpenMode::read_write);
    EXPECT_EQ(count(db, "SELECT count(*) FROM users"), 1);
}

TEST(Database, RefusesNewerSchema) {
    TempDir dir;
    {
        wp::Database db(dir.path("wp.db"));
        db.exec("PRAGMA user_version = 99");
    }
    try {
        wp::Database db(dir.path("wp.db"));
        FAIL() << "opened a newer database";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 78);
        EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
    }
}

TEST(Database, MissingFileWithoutCreateIsInputMissing) {
    TempDir dir;
    try {
        wp::Database db(dir.path("absent.db"), wp::OpenMode::read_write);
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 66);
    }
}

TEST(Database, OpenForReadingNeverCreates) {
    TempDir dir;
    EXPECT_EQ(exit_code_of([&] { wp::open_for_reading(dir.path("absent.db")); }), 66);
    EXPECT_FALSE(std::filesystem::exists(dir.path("absent.db")));
    {
        wp::Database db(dir.path("wp.db"));
        db.exec("INSERT INTO users(name) VALUES ('alice')");
    }
    const auto db = wp::open_for_reading(dir.path("wp.db"));
    EXPECT_EQ(count(*db, "SELECT count(*) FROM users"), 1);
    EXPECT_NE(exit_code_of([&] { db->exec("INSERT INTO users(name) VALUES ('bob')"); }), 0); // query_only
}

TEST(Database, ConstraintsKeepBadRowsOut) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    db.exec("INSERT INTO servers(name, address, added_at) VALUES ('ok1', 'a', 0)");
    const char* bad[] = {
        "INSERT INTO servers(name, address, added_at) VALUES ('-bad', 'a', 0)",
        "INSERT INTO servers(name, address, added_at) VALUES ('a b', 'a', 0)",
        "INSERT INTO servers(name, address, port, added_at) VALUES ('p', 'a', 70000, 0)",
        "INSERT INTO servers(name, address, virt, added_at) VALUES ('v', 'a', 'hyperv', 0)",
        "INSERT INTO servers(name, address, added_at) VALUES ('ok1', 'a', 0)",
        "INSERT INTO servers(name, address, added_at, retired_at, active) VALUES ('r', 'a', 0, 5, 1)",
        "INSERT INTO usage VALUES (1, 1, 3601, 1, 1, 1)",
        "INSERT INTO usage VALUES (1, 99, 3600, 1, 1, 1)",
        "INSERT INTO dirty_days VALUES (1, '2026-1-1')",
        "INSERT INTO ingested_files(sha256, server_id, source_name, lines, rejected, ingested_at) "
        "VALUES ('abc', 1, 'f', 1, 0, 0)",
    };
    for (const char* sql : bad) {
        EXPECT_THROW(db.exec(sql), wp::Error) << sql;
    }
    EXPECT_EQ(count(db, "SELECT count(*) FROM servers"), 1);
}

TEST(Transaction, RollsBackUnlessCommitted) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    {
        wp::Transaction tx(db);
        db.exec("INSERT INTO users(name) VALUES ('bob')");
    }
    EXPECT_EQ(count(db, "SELECT count(*) FROM users"), 0);
    {
        wp::Transaction tx(db);
        db.exec("INSERT INTO users(name) VALUES ('bob')");
        tx.commit();
    }
    EXPECT_EQ(count(db, "SELECT count(*) FROM users"), 1);
}

TEST(Transaction, SecondWriterGetsBusyAsTemporaryFailure) {
    TempDir dir;
    wp::Database a(dir.path("wp.db"));
    wp::Database b(dir.path("wp.db"));
    sqlite3_busy_timeout(b.handle(), 50);
    wp::Transaction hold(a);
    try {
        wp::Transaction second(b);
        FAIL() << "two write transactions at once";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 75);
    }
}

TEST(Statement, BindsAndReadsValuesWithoutStringBuilding) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, account TEXT)");
    auto ins = db.prepare("INSERT INTO people(name, account) VALUES (?, ?)");
    ins.bind(1, "o'brien; DROP TABLE users").bind(2, nullptr).run();
    ins.bind(1, "carol smith").bind(2, std::optional<std::string>("acme")).run();
    auto q = db.prepare("SELECT name, account FROM people ORDER BY id");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.column_text(0), "o'brien; DROP TABLE users");
    EXPECT_FALSE(q.column_optional_text(1).has_value());
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.column_optional_text(1).value(), "acme");
    EXPECT_FALSE(q.step());
}

} // namespace
