#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>

#include "archive.h"
#include "db.h"
#include "error.h"
#include "fs.h"
#include "tmpdir.h"

namespace {


constexpr std::int64_t k_day1 = 1764028800; // 2025-11-25T00:00:00Z
constexpr std::int64_t k_day2 = k_day1 + 86400;

TEST(Archive, PathsAndDays) {
    EXPECT_EQ(wp::utc_day_name(k_day1 + 3599), "2025-11-25");
    EXPECT_EQ(wp::archive_relative_path("tor1", k_day1), "tor1/2025-11/tor1.2025-11-25.log.zst");
    EXPECT_EQ(wp::utc_day_start(k_day1 + 86399), k_day1);
}

TEST(Archive, AppendsWholeFramesZstdcatReads) {
    TempDir dir;
    std::map<std::string, std::int64_t> committed;
    auto lookup = [&](const std::string& rel) { return committed.count(rel) ? committed[rel] : 0; };
    {
        wp::ArchiveAppender a(dir.path(), "tor1", 3, lookup);
        a.append(k_day1, "line 1");
        a.append(k_day2, "line 2 next day");
        a.append(k_day1, "line 3");
        a.finish();
        committed = a.sizes();
        ASSERT_EQ(committed.size(), 2u);
    }
    {
        wp::ArchiveAppender a(dir.path(), "tor1", 3, lookup);
        a.append(k_day1, "line 4 second ingest");
        a.finish();
        committed = a.sizes();
    }
    const std::string day1 = dir.path("tor1/2025-11/tor1.2025-11-25.log.zst");
    EXPECT_EQ(shell_output("zstdcat " + day1), "line 1\nline 3\nline 4 second ingest\n");
    EXPECT_EQ(shell_output("zstd -t -q " + day1 + " && echo ok"), "ok\n");
    EXPECT_EQ(shell_output("zstdcat " + dir.path("tor1/2025-11/tor1.2025-11-26.log.zst")), "line 2 next day\n");
    EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(day1)), committed.at("tor1/2025-11/tor1.2025-11-25.log.zst"));
}

TEST(Archive, TornAppendIsCutBeforeWritingAndAbandonRestores) {
    TempDir dir;
    std::int64_t committed = 0;
    auto lookup = [&](const std::string&) { return committed; };
    {
        wp::ArchiveAppender a(dir.path(), "s1", 3, lookup);
        a.append(k_day1, "kept");
        a.finish();
        committed = a.sizes().begin()->second;
    }
    const std::string path = dir.path("s1/2025-11/s1.2025-11-25.log.zst");
    // a crashed run left half a frame behind
    ASSERT_EQ(std::system(("printf 'garbage-half-frame' >> " + path).c_str()), 0);
    {
        wp::ArchiveAppender a(dir.path(), "s1", 3, lookup);
        a.append(k_day1, "abandoned");
        a.finish();
        a.abandon();
    }
    EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(path)), committed);
    {
        wp::ArchiveAppender a(dir.path(), "s1", 3, lookup);
        a.append(k_day1, "second");
        a.finish();
    }
    EXPECT_EQ(shell_output("zstdcat " + path), "kept\nsecond\n");
}

TEST(Archive, ShorterThanCommittedIsRefused) {
    TempDir dir;
    auto lookup = [](const std::string&) { return std::int64_t{1000}; };
    wp::ArchiveAppender a(dir.path(), "s1", 3, lookup);
    EXPECT_THROW(a.append(k_day1, "x"), wp::Error);
}

TEST(Archive, RepairCutsEveryCommittedFileBack) {
    TempDir dir;
    wp::Database db(dir.path("wp.db"));
    wp::make_directories(dir.path("arch/s1/2025-11"));
    wp::atomic_write_file(dir.path("arch/s1/2025-11/s1.2025-11-25.log.zst"), "0123456789torn");
    wp::atomic_write_file(dir.path("arch/s1/2025-11/s1.2025-11-26.log.zst"), "0123");
    db.exec("INSERT INTO archive_files VALUES ('s1/2025-11/s1.2025-11-25.log.zst', 10), "
            "('s1/2025-11/s1.2025-11-26.log.zst', 4)");
    EXPECT_EQ(wp::repair_torn_archives(db, dir.path("arch")), 1);
    EXPECT_EQ(wp::read_file(dir.path("arch/s1/2025-11/s1.2025-11-25.log.zst")), "0123456789");
    EXPECT_EQ(wp::read_file(dir.path("arch/s1/2025-11/s1.2025-11-26.log.zst")), "0123");
    db.exec("UPDATE archive_files SET committed_size = 99 WHERE path LIKE '%26.log.zst'");
    std::vector<std::string> damaged;
    EXPECT_EQ(wp::repair_torn_archives(db, dir.path("arch"), &damaged), 0);
    ASSERT_EQ(damaged.size(), 1u);
    EXPECT_NE(damaged[0].find("s1.2025-11-26.log.zst is missing or shorter than the 99 bytes committed"),
              std::string::npos);
}

} // namespace
