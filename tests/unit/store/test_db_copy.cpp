#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/db.h"
#include "store/db_copy.h"
#include "store/pg_backend.h"
#include "support/tmpdir.h"

namespace {

std::string copy_field(std::optional<std::string_view> value) {
    std::string out;
    wp::append_copy_text_field(out, value);
    return out;
}

TEST(CopyText, EscapesWhatWouldEndAFieldOrARowAndTheBackslash) {
    EXPECT_EQ(copy_field("plain text, 'quoted' \"too\""), "plain text, 'quoted' \"too\"");
    EXPECT_EQ(copy_field("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
    EXPECT_EQ(copy_field("\\N"), "\\\\N"); // the text \N, not NULL
    EXPECT_EQ(copy_field("\\."), "\\\\."); // not the end-of-data marker
    EXPECT_EQ(copy_field(""), "");
    EXPECT_EQ(copy_field(std::nullopt), "\\N");
    EXPECT_EQ(copy_field("m\xc3\xbcller"), "m\xc3\xbcller");
}

// The copy's list is the schema, table for table and column for column: a
// migration that adds either must teach migrate-db.
TEST(CopiedTables, AreEveryTableAndColumnOfTheSchema) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    std::set<std::string> schema_tables;
    auto tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT GLOB 'sqlite_*'");
    while (tables.step()) {
        schema_tables.insert(tables.column_text(0));
    }
    std::set<std::string> copied;
    auto columns = db.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid");
    for (const auto& t : wp::copied_tables()) {
        copied.emplace(t.name);
        columns.bind(1, t.name);
        std::vector<std::string> schema_columns;
        while (columns.step()) {
            schema_columns.push_back(columns.column_text(0));
        }
        columns.reset();
        EXPECT_EQ(schema_columns, std::vector<std::string>(t.columns.begin(), t.columns.end())) << t.name;
    }
    EXPECT_EQ(copied, schema_tables);
    EXPECT_EQ(wp::copied_tables().front().name, "servers");
}

} // namespace
