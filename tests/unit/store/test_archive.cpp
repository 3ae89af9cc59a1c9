#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "base/calendar.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "store/archive.h"
#include "store/db.h"
#include "support/tmpdir.h"

namespace {

constexpr std::int64_t k_day1 = 1764028800; // 2025-11-25T00:00:00Z
constexpr std::int64_t k_day2 = k_day1 + 86400;

TEST(Archive, PathsAndDays) {
    EXPECT_EQ(wp::utc_day_name(k_day1 + 3599), "2025-11-25");
    EXPECT_EQ(wp::archive_relative_path("tor1", k_day1), "tor1/2025-11/tor1.2025-11-25.log.zst");
    EXPECT_EQ(wp::utc_day_start(k_day1 + 86399), k_day1);
}

wp::SourceFacts facts(const std::string& name, std::int64_t lines) {
    wp::SourceFacts f;
    f.sha256 = wp::sha256_hex(name);
    f.name = name;
    f.first_line_sha256 = wp::sha256_hex("first");
    f.lines = lines;
    f.first_ts = k_day1 + 5;
    f.last_ts = k_day2 + 7;
    f.ingested_at = k_day2 + 100;
    return f;
}

TEST(Archive, AppendsBatchesThatZstdcatReadsAsLinesAndScanFinds) {
    TempDir dir;
    std::map<std::string, std::int64_t> committed;
    auto lookup = [&](const std::string& rel) { return committed.count(rel) ? committed[rel] : 0; };
    {
        wp::ArchiveAppender a(dir.path(), "tor1", "native", 3, lookup);
        a.append(k_day1, "line 1");
        a.append(k_day2, "line 2 next day");
        a.append(k_day1, "line 3");
        a.finish(facts("tor1.a log\n%41.log", 3));
        committed = a.sizes();
        ASSERT_EQ(committed.size(), 2u);
    }
    {
        wp::ArchiveAppender a(dir.path(), "tor1", "%ts %Ss %<st", 3, lookup);
        a.append(k_day1, "line 4 second ingest");
        a.finish(facts("tor1.b.log", 1));
        committed = a.sizes();
    }
    const std::string day1 = dir.path("tor1/2025-11/tor1.2025-11-25.log.zst");
    EXPECT_EQ(shell_output("zstdcat " + day1), "line 1\nline 3\nline 4 second ingest\n");
    EXPECT_EQ(shell_output("zstd -t -q " + day1 + " && echo ok"), "ok\n");
    EXPECT_EQ(shell_output("zstdcat " + dir.path("tor1/2025-11/tor1.2025-11-26.log.zst")), "line 2 next day\n");
    EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(day1)),
              committed.at("tor1/2025-11/tor1.2025-11-25.log.zst"));

    const wp::ArchiveScan scan = wp::scan_archive(day1, 0);
    EXPECT_FALSE(scan.torn);
    EXPECT_EQ(scan.damage, "");
    EXPECT_EQ(scan.foreign_bytes, 0);
    EXPECT_EQ(scan.valid_end, scan.size);
    ASSERT_EQ(scan.batches.size(), 2u);
    const wp::BatchRecord& r = *scan.batches[0].record;
    EXPECT_EQ(r.server, "tor1");
    EXPECT_EQ(r.format, "native");
    EXPECT_EQ(r.source_name, "tor1.a log\n%41.log");
    EXPECT_EQ(r.source_sha256, wp::sha256_hex("tor1.a log\n%41.log"));
    EXPECT_EQ(r.part, 1);
    EXPECT_EQ(r.parts, 2);
    EXPECT_EQ(r.lines, 2);
    EXPECT_EQ(r.source_lines, 3);
    EXPECT_EQ(r.first_ts, k_day1 + 5);
    EXPECT_EQ(r.last_ts, k_day2 + 7);
    EXPECT_EQ(r.ingested_at, k_day2 + 100);
    EXPECT_EQ(scan.batches[1].record->format, "%ts %Ss %<st");
    EXPECT_EQ(scan.batches[1].record->part, 1);
    EXPECT_EQ(scan.batches[1].record->parts, 1);
    EXPECT_EQ(scan.batches[0].end, scan.batches[1].begin);
    std::vector<std::string> lines;
    wp::read_archive_lines(day1, scan.batches[0].data_begin, scan.batches[0].data_end, 1000,
                           [&](std::string_view l) { lines.emplace_back(l); });
    EXPECT_EQ(lines, (std::vector<std::string>{"line 1", "line 3"}));
    EXPECT_EQ(wp::scan_archive(day1, scan.batches[1].begin).batches.size(), 1u);
    EXPECT_EQ(wp::list_archive_files(dir.path()), (std::vector<std::string>{"tor1/2025-11/tor1.2025-11-25.log.zst",
                                                                            "tor1/2025-11/tor1.2025-11-26.log.zst"}));
}

TEST(Archive, ScanTellsTornTailsFromDamageAndOlderFrames) {
    TempDir dir;
    std::int64_t committed = 0;
    auto lookup = [&](const std::string&) { return committed; };
    const std::string path = dir.path("s1/2025-11/s1.2025-11-25.log.zst");
    {
        wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
        a.append(k_day1, "kept");
        a.finish(facts("s1.a.log", 1));
        committed = a.sizes().begin()->second;
    }
    const std::string whole = wp::read_file(path);
    // An append whose end frame was cut short: the batch has no record and the tail is torn.
    {
        wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
        a.append(k_day1, "half");
        a.finish(facts("s1.b.log", 1));
    }
    const std::int64_t full = static_cast<std::int64_t>(std::filesystem::file_size(path));
    ASSERT_EQ(::truncate(path.c_str(), full - 3), 0);
    wp::ArchiveScan scan = wp::scan_archive(path, 0);
    EXPECT_TRUE(scan.torn);
    ASSERT_EQ(scan.batches.size(), 2u);
    EXPECT_TRUE(scan.batches[0].record.has_value());
    EXPECT_FALSE(scan.batches[1].record.has_value());
    EXPECT_EQ(scan.batches[1].begin, committed);

    // Bytes that are no frame at all are damage, not a torn tail.
    wp::atomic_write_file(path, whole + "not a frame at all");
    scan = wp::scan_archive(path, 0);
    EXPECT_FALSE(scan.torn);
    EXPECT_EQ(scan.valid_end, committed);
    EXPECT_NE(scan.damage.find("no zstd frame"), std::string::npos) << scan.damage;

    // Plain zstd frames (an archive written before batch records) are kept as foreign.
    const std::string plain = shell_output("printf 'old line\\n' | zstd -q -c | base64 -w0");
    wp::atomic_write_file(path, shell_output("echo " + plain + " | base64 -d") + whole);
    scan = wp::scan_archive(path, 0);
    EXPECT_FALSE(scan.torn);
    EXPECT_EQ(scan.valid_end, scan.size);
    EXPECT_GT(scan.foreign_bytes, 0);
    ASSERT_EQ(scan.batches.size(), 1u);
    EXPECT_EQ(shell_output("zstdcat " + path), "old line\nkept\n");
}

TEST(Archive, AbandonCutsThisRunsBatchesAndOtherSizesAreRefused) {
    TempDir dir;
    std::int64_t committed = 0;
    auto lookup = [&](const std::string& rel) { return rel.ends_with("25.log.zst") ? committed : 0; };
    const std::string path = dir.path("s1/2025-11/s1.2025-11-25.log.zst");
    {
        wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
        a.append(k_day1, "kept");
        a.finish(facts("s1.a.log", 1));
        committed = a.sizes().begin()->second;
    }
    {
        wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
        a.append(k_day1, "abandoned");
        a.append(k_day2, "abandoned in a new file");
        a.finish(facts("s1.b.log", 2));
        a.abandon();
    }
    EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(path)), committed);
    EXPECT_FALSE(std::filesystem::exists(dir.path("s1/2025-11/s1.2025-11-26.log.zst")));
    EXPECT_EQ(shell_output("zstdcat " + path), "kept\n");
    committed -= 1; // the database says otherwise: never written to, never cut
    wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
    EXPECT_THROW(a.append(k_day1, "x"), wp::Error);
    EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(path)), committed + 1);
}

TEST(Archive, LinesCyclingThroughManyDaysStayInTheirDays) {
    TempDir dir;
    auto lookup = [](const std::string&) { return std::int64_t{0}; };
    wp::ArchiveAppender a(dir.path(), "s1", "native", 3, lookup);
    std::map<int, std::string> expected;
    for (int i = 0; i < 2000; ++i) {
        const int day = i % 11; // more days than compressors kept open
        a.append(k_day1 + day * 86400, "line " + std::to_string(i));
        expected[day] += "line " + std::to_string(i) + "\n";
    }
    a.finish(facts("s1.c.log", 2000));
    ASSERT_EQ(a.sizes().size(), 11u);
    for (const auto& [day, text] : expected) {
        const std::string rel = wp::archive_relative_path("s1", k_day1 + day * 86400);
        EXPECT_EQ(shell_output("zstdcat " + dir.path(rel)), text);
        const auto scan = wp::scan_archive(dir.path(rel), 0);
        ASSERT_EQ(scan.batches.size(), 1u);
        EXPECT_EQ(scan.batches[0].record->part, day + 1);
        EXPECT_EQ(scan.batches[0].record->parts, 11);
    }
}

} // namespace
