#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "health/health_check.h"
#include "support/tmpdir.h"

// The check's judgement over facts written by hand: the exact line, perfdata
// included, and the exact metrics text.

namespace {

using wp::CheckStatus;
using wp::PipelineFacts;
using wp::ServerFacts;

constexpr std::int64_t k_now = 1'800'000'000;
constexpr std::int64_t k_hour = 3600;

ServerFacts server(const std::string& name, std::optional<std::int64_t> fetched_ago,
                   std::int64_t added_ago = 100 * k_hour) {
    ServerFacts s;
    s.name = name;
    s.added_at = k_now - added_ago;
    if (fetched_ago) {
        s.last_fetch = k_now - *fetched_ago;
    }
    return s;
}

PipelineFacts healthy() {
    PipelineFacts f;
    f.now = k_now;
    f.servers = {server("ams1", 40 * 60), server("tor1", 10 * 60)};
    f.spool.files = 3;
    f.spool.bytes = 1536;
    f.spool.oldest_mtime = k_now - 40 * 60;
    f.summary.refreshed_at = k_now - 30 * 60;
    f.summary.last_ingest = k_now - 35 * 60;
    return f;
}

const std::string k_default_limits_perf =
    "'fetch_age'={}s;@7200:;@21600:;0 'failures'={};@1:;@3:;0 'clock_offset'={}s;@2:;@10:;0 'spool_files'={};;;0 "
    "'spool_bytes'={}B;;;0 'spool_age'={}s;@7200:;@21600:;0 'rejects_held'={};@1:;;0 "
    "'summary_lag'={}s;@7200:;@21600:;0";

TEST(HealthCheck, AllWellIsOkWithTheKeyNumbers) {
    const auto v = wp::judge_pipeline(healthy(), {});
    EXPECT_EQ(v.status, CheckStatus::ok);
    EXPECT_EQ(v.line, "WP OK - 2 servers, longest without a fetch 40m; spool: 3 files, 1.5 KiB, oldest 40m; summary "
                      "current | 'servers'=2;;;0 'stale_servers'=0;;;0;2 'fetch_age'=2400s;@7200:;@21600:;0 "
                      "'failures'=0;@1:;@3:;0 'clock_offset'=0s;@2:;@10:;0 'spool_files'=3;;;0 'spool_bytes'=1536B;;;0 "
                      "'spool_age'=2400s;@7200:;@21600:;0 'rejects_held'=0;@1:;;0 'summary_lag'=0s;@7200:;@21600:;0");
}

TEST(HealthCheck, WorstFirstAndNeverFetchedServersByTheirAdding) {
    auto f = healthy();
    f.servers = {server("ams1", 3 * k_hour), server("lon1", std::nullopt, 8 * k_hour),
                 server("new1", std::nullopt, k_hour), server("tor2", 7 * k_hour + 1800)};
    f.servers[0].clock = wp::ClockReading{-30'000, 5, k_now - 60};
    f.servers[3].consecutive_failures = 2;
    const auto v = wp::judge_pipeline(f, {});
    EXPECT_EQ(v.status, CheckStatus::critical);
    EXPECT_EQ(v.line.substr(0, v.line.find(" | ")),
              "WP CRITICAL - 3 of 4 servers not fetched for 2h (lon1 never, tor2 7h, ams1 3h); clock: ams1 -30.0 s; "
              "consecutive failures: tor2 2");
    EXPECT_EQ(
        v.line.substr(v.line.find(" | ")),
        " | 'servers'=4;;;0 'stale_servers'=3;;;0;4 'fetch_age'=28800s;@7200:;@21600:;0 'failures'=2;@1:;@3:;0 "
        "'clock_offset'=30s;@2:;@10:;0 'spool_files'=3;;;0 'spool_bytes'=1536B;;;0 'spool_age'=2400s;@7200:;@21600:;0 "
        "'rejects_held'=0;@1:;;0 'summary_lag'=0s;@7200:;@21600:;0");
}

TEST(HealthCheck, AtTheThresholdCountsAndAnOldClockReadingIsNotJudged) {
    auto f = healthy();
    f.servers[0].consecutive_failures = 1;
    f.servers[1].clock = wp::ClockReading{60'000, 5, k_now - 25 * k_hour};
    const auto v = wp::judge_pipeline(f, {});
    EXPECT_EQ(v.status, CheckStatus::warning);
    EXPECT_EQ(v.line.substr(0, v.line.find(" | ")), "WP WARNING - consecutive failures: ams1 1");
}

TEST(HealthCheck, LongListsAreBounded) {
    auto f = healthy();
    f.servers.clear();
    for (int i = 0; i < 8; ++i) {
        f.servers.push_back(server(fmt::format("s{}", i), (10 + i) * k_hour));
    }
    const auto v = wp::judge_pipeline(f, {});
    EXPECT_EQ(v.line.substr(0, v.line.find(" | ")),
              "WP CRITICAL - 8 of 8 servers not fetched for 2h (s7 17h, s6 16h, s5 15h, s4 14h, s3 13h, +3 more)");
}

TEST(HealthCheck, SpoolRejectsAndSummary) {
    auto f = healthy();
    f.spool.oldest_mtime = k_now - 3 * k_hour;
    f.spool.held_files = 2;
    f.spool.held_bytes = 2048;
    f.summary.pending_since = k_now - 7 * k_hour;
    wp::CheckThresholds t;
    t.spool_files = {2, 100};
    const auto v = wp::judge_pipeline(f, t);
    EXPECT_EQ(v.status, CheckStatus::critical);
    EXPECT_EQ(v.line.substr(0, v.line.find(" | ")),
              "WP CRITICAL - summary 7h behind the ingest; spool: 3 files, 1.5 KiB, oldest 3h; 2 files held for "
              "rejects (2.0 KiB)");
    EXPECT_NE(v.line.find("'spool_files'=3;@2:;@100:;0 "), std::string::npos);
    EXPECT_NE(v.line.find("'summary_lag'=25200s;@7200:;@21600:;0"), std::string::npos);
}

TEST(HealthCheck, ThresholdValues) {
    using K = wp::ThresholdKind;
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-clock", "2"), 2000);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-clock", "1.5s"), 1500);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-clock", "500ms"), 500);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-fetch-age", "90m"), 5'400'000);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-fetch-age", "2h"), 7'200'000);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-fetch-age", "1d"), 86'400'000);
    EXPECT_EQ(wp::parse_threshold(K::duration, "--warn-fetch-age", "none"), std::nullopt);
    EXPECT_EQ(wp::parse_threshold(K::count, "--warn-failures", "3"), 3);
    EXPECT_EQ(wp::parse_threshold(K::size, "--warn-spool-bytes", "1MiB"), 1 << 20);
    for (const char* bad : {"", "2x", "h", "-1h", "1.h", "1.5ms", "2 h"}) {
        EXPECT_EQ(exit_code_of([&] { wp::parse_threshold(K::duration, "--warn-clock", bad); }), 64) << bad;
    }
    for (const char* bad : {"", "1.5", "-1", "x"}) {
        EXPECT_EQ(exit_code_of([&] { wp::parse_threshold(K::count, "--warn-failures", bad); }), 64) << bad;
    }
    try {
        wp::parse_threshold(K::duration, "--warn-clock", "2x");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_STREQ(e.what(), "--warn-clock: '2x' is not a duration (e.g. 90m, 2h, 1.5s, 500ms) or none");
    }
    try {
        wp::check_threshold_order({7'200'000, 3'600'000}, "fetch-age", "2h", "60m");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 64);
        EXPECT_STREQ(e.what(), "--warn-fetch-age 2h is above --crit-fetch-age 60m");
    }
    EXPECT_EQ(exit_code_of([] { wp::check_threshold_order({3, 3}, "failures", "3", "3"); }), 0);
    EXPECT_EQ(exit_code_of([] { wp::check_threshold_order({5, std::nullopt}, "failures", "5", "none"); }), 0);
}

TEST(HealthCheck, ShortAges) {
    EXPECT_EQ(wp::short_age(0), "0s");
    EXPECT_EQ(wp::short_age(119), "119s");
    EXPECT_EQ(wp::short_age(120), "2m");
    EXPECT_EQ(wp::short_age(7199), "119m");
    EXPECT_EQ(wp::short_age(7200), "2h");
    EXPECT_EQ(wp::short_age(48 * k_hour - 1), "47h");
    EXPECT_EQ(wp::short_age(48 * k_hour), "2d");
}

TEST(HealthCheck, PrometheusMetrics) {
    auto f = healthy();
    f.servers[0].clock = wp::ClockReading{-1'250, 12, k_now - 60};
    f.servers[1].name = "we\"ird\\\n";
    f.summary.pending_since = k_now - 60;
    EXPECT_EQ(wp::prometheus_metrics(f, CheckStatus::warning),
              "# HELP wp_check_status The pipeline check's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
              "# TYPE wp_check_status gauge\nwp_check_status 1\n"
              "# HELP wp_check_timestamp_seconds When the check read the facts.\n"
              "# TYPE wp_check_timestamp_seconds gauge\nwp_check_timestamp_seconds 1800000000\n"
              "# HELP wp_servers_active Active servers that are not retired.\n"
              "# TYPE wp_servers_active gauge\nwp_servers_active 2\n"
              "# HELP wp_server_added_timestamp_seconds When the server was added to the inventory.\n"
              "# TYPE wp_server_added_timestamp_seconds gauge\n"
              "wp_server_added_timestamp_seconds{server=\"ams1\"} 1799640000\n"
              "wp_server_added_timestamp_seconds{server=\"we\\\"ird\\\\\\n\"} 1799640000\n"
              "# HELP wp_server_last_fetch_timestamp_seconds When wp-fetchlogs last fetched from the server (absent: "
              "never).\n"
              "# TYPE wp_server_last_fetch_timestamp_seconds gauge\n"
              "wp_server_last_fetch_timestamp_seconds{server=\"ams1\"} 1799997600\n"
              "wp_server_last_fetch_timestamp_seconds{server=\"we\\\"ird\\\\\\n\"} 1799999400\n"
              "# HELP wp_server_consecutive_failures Failed contacts with the server since its last good one.\n"
              "# TYPE wp_server_consecutive_failures gauge\n"
              "wp_server_consecutive_failures{server=\"ams1\"} 0\n"
              "wp_server_consecutive_failures{server=\"we\\\"ird\\\\\\n\"} 0\n"
              "# HELP wp_server_clock_offset_seconds The server's clock minus ours, as last read.\n"
              "# TYPE wp_server_clock_offset_seconds gauge\n"
              "wp_server_clock_offset_seconds{server=\"ams1\"} -1.25\n"
              "# HELP wp_server_clock_uncertainty_seconds The uncertainty of the last clock reading (half its round "
              "trip).\n"
              "# TYPE wp_server_clock_uncertainty_seconds gauge\n"
              "wp_server_clock_uncertainty_seconds{server=\"ams1\"} 0.012\n"
              "# HELP wp_server_clock_measured_timestamp_seconds When the server's clock was last read.\n"
              "# TYPE wp_server_clock_measured_timestamp_seconds gauge\n"
              "wp_server_clock_measured_timestamp_seconds{server=\"ams1\"} 1799999940\n"
              "# HELP wp_spool_files Log files in the spool waiting for wp-parse (held files aside).\n"
              "# TYPE wp_spool_files gauge\nwp_spool_files 3\n"
              "# HELP wp_spool_bytes Bytes of the log files waiting in the spool.\n"
              "# TYPE wp_spool_bytes gauge\nwp_spool_bytes 1536\n"
              "# HELP wp_spool_oldest_file_timestamp_seconds Modification time of the oldest log file waiting in the "
              "spool.\n"
              "# TYPE wp_spool_oldest_file_timestamp_seconds gauge\nwp_spool_oldest_file_timestamp_seconds "
              "1799997600\n"
              "# HELP wp_rejects_held_files Spool files wp-parse holds for their rejected lines.\n"
              "# TYPE wp_rejects_held_files gauge\nwp_rejects_held_files 0\n"
              "# HELP wp_rejects_held_bytes Bytes of the spool files held for their rejected lines.\n"
              "# TYPE wp_rejects_held_bytes gauge\nwp_rejects_held_bytes 0\n"
              "# HELP wp_rollup_refreshed_timestamp_seconds When wp-rollup last refreshed the summary.\n"
              "# TYPE wp_rollup_refreshed_timestamp_seconds gauge\nwp_rollup_refreshed_timestamp_seconds "
              "1799998200\n"
              "# HELP wp_ingest_last_timestamp_seconds When wp-parse last billed a file.\n"
              "# TYPE wp_ingest_last_timestamp_seconds gauge\nwp_ingest_last_timestamp_seconds 1799997900\n"
              "# HELP wp_rollup_pending_ingest_timestamp_seconds When the oldest ingest the summary has not taken in "
              "was made.\n"
              "# TYPE wp_rollup_pending_ingest_timestamp_seconds gauge\n"
              "wp_rollup_pending_ingest_timestamp_seconds 1799999940\n");
}

} // namespace
