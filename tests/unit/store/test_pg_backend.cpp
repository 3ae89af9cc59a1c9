#include <gtest/gtest.h>

#include "store/db.h"
#include "store/pg_backend.h"

namespace {

TEST(PgBackend, NumberedAndBareParametersBecomeDollarNumbers) {
    EXPECT_EQ(wp::postgresql_parameters("SELECT ?1, ?2 WHERE a = ?1"), "SELECT $1, $2 WHERE a = $1");
    EXPECT_EQ(wp::postgresql_parameters("INSERT INTO t VALUES (?, ?, ?)"), "INSERT INTO t VALUES ($1, $2, $3)");
    // a bare ? after ?N takes the next number, as SQLite counts
    EXPECT_EQ(wp::postgresql_parameters("a = ?2 AND b = ? AND c = ?1"), "a = $2 AND b = $3 AND c = $1");
    EXPECT_EQ(wp::postgresql_parameters("x >= ?1 AND y < ?12"), "x >= $1 AND y < $12");
}

TEST(PgBackend, QuotedTextNamesAndCommentsKeepTheirQuestionMarks) {
    EXPECT_EQ(wp::postgresql_parameters("SELECT '?', \"a?b\" FROM t WHERE c = ?"),
              "SELECT '?', \"a?b\" FROM t WHERE c = $1");
    EXPECT_EQ(wp::postgresql_parameters("SELECT 1 -- why?\nWHERE c = ?"), "SELECT 1 -- why?\nWHERE c = $1");
    EXPECT_EQ(wp::postgresql_parameters("SELECT 'it''s ?' , ?"), "SELECT 'it''s ?' , $1");
}

TEST(PgBackend, PasswordsAreRedactedWhereverTheyStand) {
    EXPECT_EQ(wp::redacted_conninfo("postgresql://wp:s3cret@db:5432/wp"), "postgresql://wp:***@db:5432/wp");
    EXPECT_EQ(wp::redacted_conninfo("postgresql://wp@db/wp?password=s3cret&sslmode=require"),
              "postgresql://wp@db/wp?password=***&sslmode=require");
    EXPECT_EQ(wp::redacted_conninfo("host=db password=s3cret dbname=wp"), "host=db password=*** dbname=wp");
    EXPECT_EQ(wp::redacted_conninfo("postgresql://wp@[::1]:5432/wp"), "postgresql://wp@[::1]:5432/wp");
    EXPECT_EQ(wp::redacted_conninfo("service=wp"), "service=wp");
}

TEST(PgBackend, ConnectionStringsAreToldFromFiles) {
    EXPECT_TRUE(wp::is_postgresql_uri("postgresql://wp@db/wp"));
    EXPECT_TRUE(wp::is_postgresql_uri("postgres://wp@db/wp"));
    EXPECT_TRUE(wp::is_postgresql_uri("service=wp"));
    EXPECT_FALSE(wp::is_postgresql_uri("/var/lib/wp/wp.db"));
    EXPECT_FALSE(wp::is_postgresql_uri("postgresql.db"));
    EXPECT_FALSE(wp::is_postgresql_uri("./postgresql://x"));
}

} // namespace
