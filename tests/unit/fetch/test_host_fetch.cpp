#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "fetch/host_fetch.h"
#include "fetch/spool.h"
#include "support/local_host.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;

namespace {

// Standard output of a local shell command, without its last newline.
std::string run_local(const std::string& command) {
    std::string out = shell_output(command);
    if (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

struct FetchFixture : ::testing::Test {
    TempDir dir;
    std::string logdir = dir.path("remote/log");
    std::string log = logdir + "/access.log";
    std::string spool = dir.path("spool");
    LocalHost host;
    wp::Server server;
    wp::HostFetchSettings settings;

    void SetUp() override {
        wp::make_directories(logdir);
        wp::make_directories(spool);
        server.name = "tor1";
        server.log_path = log;
        server.rotate_cmd = "touch " + wp::shell_quote(log); // what Squid's reopen does to the file system
        settings.mode = wp::TransferMode::sftp;
        settings.spool_dir = wp::prepare_spool_dir(spool, "tor1");
        settings.rotate_wait = std::chrono::milliseconds(1000);
        settings.clock = [] { return std::int64_t{1795611600}; }; // 2026-11-25T13:00:00Z
    }

    std::vector<std::string> names_in(const std::string& d) {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(d)) {
            out.push_back(e.path().filename().string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }
};

TEST(TransferMode, ParsesTheThreeNames) {
    EXPECT_EQ(wp::parse_transfer_mode("sftp"), wp::TransferMode::sftp);
    EXPECT_EQ(wp::parse_transfer_mode("zstd"), wp::TransferMode::zstd);
    EXPECT_EQ(wp::parse_transfer_mode("auto"), wp::TransferMode::automatic);
    EXPECT_THROW(wp::parse_transfer_mode("scp"), wp::Error);
}

TEST_F(FetchFixture, ClaimsRotatesAndFetchesLeftoversFirst) {
    wp::atomic_write_file(log, "new line 1\nnew line 2\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "old line\n");
    wp::atomic_write_file(logdir + "/access.log.wp-junk", "not ours\n");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(r.files, 2);
    EXPECT_EQ(r.bytes, 31u);
    EXPECT_EQ(host.downloads, (std::vector<std::string>{logdir + "/access.log.wp-20261124T230000Z",
                                                        logdir + "/access.log.wp-20261125T130000Z"}));
    EXPECT_EQ(names_in(settings.spool_dir),
              (std::vector<std::string>{"tor1.20261124T230000Z.log", "tor1.20261125T130000Z.log"}));
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.log"), "old line\n");
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log"), "new line 1\nnew line 2\n");
    struct stat st {};
    ASSERT_EQ(::stat((settings.spool_dir + "/tor1.20261125T130000Z.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    // the remote side: claimed files gone, the live log reopened (empty), junk left alone
    EXPECT_EQ(names_in(logdir), (std::vector<std::string>{"access.log", "access.log.wp-junk"}));
    EXPECT_EQ(fs::file_size(log), 0u);
}

TEST_F(FetchFixture, TheSurveyReadsTheHostsClockEvenWhenItFails) {
    // the local shell's clock is ours: no offset beyond the bracket
    wp::atomic_write_file(log, "a line\n");
    const auto ok = fetch_host_logs(host, server, settings);
    ASSERT_EQ(ok.result.outcome, wp::HostOutcome::ok) << ok.result.message();
    ASSERT_TRUE(ok.result.clock);
    EXPECT_LE(std::abs(ok.result.clock->offset_ms), ok.result.clock->uncertainty_ms + 1);
    // a dry run reads it too; a directory that is gone fails the listing, after the clock
    settings.dry_run = true;
    EXPECT_TRUE(fetch_host_logs(host, server, settings).result.clock);
    server.log_path = dir.path("gone/access.log");
    const auto failed = fetch_host_logs(host, server, settings);
    EXPECT_EQ(failed.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(failed.result.step, "list " + dir.path("gone"));
    ASSERT_TRUE(failed.result.clock);
    EXPECT_LE(std::abs(failed.result.clock->offset_ms), failed.result.clock->uncertainty_ms + 1);
}

TEST_F(FetchFixture, AClaimInTheSameSecondAsEarlierOnesTakesTheNextName) {
    wp::atomic_write_file(logdir + "/access.log.wp-20261125T130000Z", "first\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261125T130000Z.1", "second\n");
    wp::atomic_write_file(log, "third\n");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(r.files, 3);
    EXPECT_EQ(names_in(settings.spool_dir),
              (std::vector<std::string>{"tor1.20261125T130000Z.1.log", "tor1.20261125T130000Z.2.log",
                                        "tor1.20261125T130000Z.log"}));
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.2.log"), "third\n");
    EXPECT_EQ(names_in(logdir), (std::vector<std::string>{"access.log"}));
}

// The host's checksum comes from `openssl dgst` when it has OpenSSL, else
// from sha256sum: a lying one of either keeps the file out of the spool.
TEST_F(FetchFixture, AHostWhoseChecksumToolLiesGetsNothingIntoTheSpool) {
    if (std::system("command -v zstd >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "zstd and openssl are needed";
    }
    // "openssl": first on the PATH; "sha256sum": the only one on a PATH of
    // just what the commands need (no openssl there).
    const std::string with_openssl = dir.path("bin-openssl");
    const std::string without_openssl = dir.path("bin-sha256sum");
    wp::make_directories(with_openssl);
    wp::make_directories(without_openssl);
    for (const char* tool : {"wc", "mv", "rm", "touch", "sleep", "cat", "zstd"}) {
        const std::string real = run_local(std::string("command -v ") + tool);
        fs::create_symlink(real, without_openssl + "/" + tool);
    }
    const std::string wrong(64, 'f');
    const std::string claimed = logdir + "/access.log.wp-20261124T230000Z";
    for (const std::string tool : {"openssl", "sha256sum"}) {
        const std::string bin = tool == "openssl" ? with_openssl : without_openssl;
        for (const auto mode : {wp::TransferMode::sftp, wp::TransferMode::zstd}) {
            for (const std::string& fake : {"echo " + wrong + "'  -'",
                                            // a crafted line: a sum glued to a path, then a second line
                                            "printf '%s../../outside\\n%s  -\\n' " + wrong + " " + wrong}) {
                SCOPED_TRACE(tool + ": " + fake);
                wp::atomic_write_file(bin + "/" + tool, "#!/bin/sh\ncat >/dev/null\n" + fake + "\n");
                ::chmod((bin + "/" + tool).c_str(), 0755);
                host.path_prefix.clear();
                host.path_only.clear();
                (tool == "openssl" ? host.path_prefix : host.path_only) = bin;
                wp::atomic_write_file(claimed, "line\n");
                settings.mode = mode;
                const auto r = fetch_host_logs(host, server, settings);
                EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
                if (fake.starts_with("echo")) {
                    EXPECT_EQ(r.result.step, "download " + claimed);
                    EXPECT_EQ(r.result.cause.rfind("checksum mismatch (the host has 5 bytes, SHA-256 " + wrong, 0), 0u)
                        << r.result.cause;
                } else {
                    EXPECT_EQ(r.result.step, "verify " + claimed);
                    EXPECT_EQ(r.result.cause.rfind("unexpected checksum from the host: ", 0), 0u) << r.result.cause;
                    EXPECT_NE(r.result.cause.find(wrong + "../../outside"), std::string::npos) << r.result.cause;
                }
                EXPECT_TRUE(names_in(settings.spool_dir).empty());
                EXPECT_EQ(wp::read_file(claimed), "line\n");
            }
        }
        // an honest one of the same tool: fetched
        fs::remove(bin + "/" + tool);
        if (tool == "sha256sum") {
            fs::create_symlink(run_local("command -v sha256sum"), bin + "/sha256sum");
        }
        const auto ok = fetch_host_logs(host, server, settings);
        EXPECT_EQ(ok.result.outcome, wp::HostOutcome::ok) << ok.result.message();
        EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.log"), "line\n");
        fs::remove(settings.spool_dir + "/tor1.20261124T230000Z.log");
    }
    EXPECT_FALSE(fs::exists(dir.path("outside")));
}

TEST_F(FetchFixture, AnEmptyLiveLogIsNotClaimedAndNothingIsNoWork) {
    server.rotate_cmd = "echo rotate must not run >&2; exit 1";
    auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message(); // no log at all
    wp::atomic_write_file(log, "");
    r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(r.files, 0);
    EXPECT_TRUE(names_in(settings.spool_dir).empty());
}

TEST_F(FetchFixture, AnEmptyClaimedFileIsDeletedWithoutASpoolFile) {
    wp::atomic_write_file(log, "x\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(r.files, 2);
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261125T130000Z.log"}));
    EXPECT_EQ(names_in(logdir), (std::vector<std::string>{"access.log"}));
}

TEST_F(FetchFixture, ChecksumMismatchKeepsWhatWasVerifiedAndLeavesTheRest) {
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T220000Z", "first\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "second\n");
    host.after_download = [](const std::string& path) {
        if (path.ends_with("T230000Z")) {
            FILE* f = std::fopen(path.c_str(), "a"); // the file changed under the transfer
            std::fputs("late line\n", f);
            std::fclose(f);
        }
    };
    server.rotate_cmd = "touch " + wp::shell_quote(log);
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "download " + logdir + "/access.log.wp-20261124T230000Z");
    EXPECT_EQ(r.result.cause.rfind("checksum mismatch (the host has 17 bytes", 0), 0u) << r.result.cause;
    EXPECT_EQ(r.files, 1);
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261124T220000Z.log"}));
    EXPECT_TRUE(fs::exists(logdir + "/access.log.wp-20261124T230000Z"));
    EXPECT_FALSE(fs::exists(logdir + "/access.log.wp-20261124T220000Z"));

    // the next run fetches it whole
    host.after_download = nullptr;
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.result.outcome, wp::HostOutcome::ok) << again.result.message();
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.log"), "second\nlate line\n");
}

TEST_F(FetchFixture, ADisconnectMidFileLeavesNoPartialFileAndTheRemoteFileStays) {
    std::string big(200000, 'x');
    wp::atomic_write_file(log, big);
    host.fail_after_bytes = 65536;
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "download " + logdir + "/access.log.wp-20261125T130000Z");
    EXPECT_EQ(r.result.cause, "read: Socket error: disconnected");
    EXPECT_TRUE(names_in(settings.spool_dir).empty()); // not even a temporary
    EXPECT_EQ(fs::file_size(logdir + "/access.log.wp-20261125T130000Z"), big.size());

    host.fail_after_bytes.reset();
    settings.clock = [] { return std::int64_t{1795615200}; };
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.result.outcome, wp::HostOutcome::ok) << again.result.message();
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log"), big);
}

TEST_F(FetchFixture, AFailingRotateStopsBeforeAnyDownload) {
    wp::atomic_write_file(log, "line\n");
    server.rotate_cmd = "echo 'squid: ERROR: No running copy' >&2; exit 1";
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "rotate");
    EXPECT_NE(r.result.cause.find("exit status 1: squid: ERROR: No running copy"), std::string::npos) << r.result.cause;
    EXPECT_TRUE(host.downloads.empty());
    EXPECT_TRUE(fs::exists(logdir + "/access.log.wp-20261125T130000Z"));

    // Next run: the live log is still missing, so Squid is asked again before the leftover is fetched.
    server.rotate_cmd = "touch " + wp::shell_quote(log);
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.result.outcome, wp::HostOutcome::ok) << again.result.message();
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261125T130000Z.log"}));
}

TEST_F(FetchFixture, ALogThatIsNotReopenedIsNotFetched) {
    wp::atomic_write_file(log, "line\n");
    server.rotate_cmd = "true";
    settings.rotate_wait = std::chrono::milliseconds(300);
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "rotate");
    EXPECT_NE(r.result.cause.find("did not reappear"), std::string::npos) << r.result.cause;
    EXPECT_TRUE(host.downloads.empty());
}

// Every command on the host is bounded by io_timeout, a streamed one by its
// silence: a hung host fails at the step where it hung.
TEST_F(FetchFixture, ACommandThatOutlivesTheIoTimeoutIsStopped) {
    wp::atomic_write_file(log, "line\n");
    server.rotate_cmd = "sleep 30";
    settings.io_timeout = std::chrono::seconds(1);
    const auto started = std::chrono::steady_clock::now();
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "list " + logdir);
    EXPECT_EQ(r.result.cause, "timed out after 1 s");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(FetchFixture, AStreamThatFallsSilentIsStopped) {
    const std::string bin = dir.path("bin");
    wp::make_directories(bin);
    wp::atomic_write_file(bin + "/zstd", "#!/bin/sh\nsleep 30\n");
    ::chmod((bin + "/zstd").c_str(), 0755);
    host.path_prefix = bin;
    wp::atomic_write_file(log, "line\n");
    settings.mode = wp::TransferMode::zstd;
    settings.io_timeout = std::chrono::seconds(1);
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "download " + logdir + "/access.log.wp-20261125T130000Z");
    EXPECT_EQ(r.result.cause, "timed out: no output for 1 s");
    EXPECT_EQ(wp::read_file(logdir + "/access.log.wp-20261125T130000Z"), "line\n");
}

TEST_F(FetchFixture, ZstdTransferGivesTheSameBytes) {
    if (std::system("command -v zstd >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "zstd is not installed";
    }
    std::string content;
    for (int i = 0; i < 100000; ++i) {
        content += "1764072000.123      5 127.0.0.1 TCP_MISS/200 " + std::to_string(i) + " GET http://x/ alice -\n";
    }
    wp::atomic_write_file(log, content);
    settings.mode = wp::TransferMode::automatic; // zstd exists here
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_TRUE(host.downloads.empty());
    EXPECT_TRUE(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log") == content);
}

TEST_F(FetchFixture, AFileAlreadyInTheSpoolIsNotDuplicatedButAnotherIsKeptBeside) {
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "same\n");
    wp::atomic_write_file(settings.spool_dir + "/tor1.20261124T230000Z.log", "same\n");
    auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261124T230000Z.log"}));

    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "different\n");
    r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(names_in(settings.spool_dir),
              (std::vector<std::string>{"tor1.20261124T230000Z.dup1.log", "tor1.20261124T230000Z.log"}));
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.dup1.log"), "different\n");
}

TEST_F(FetchFixture, HostileNamesAndPathsNeverReachTheShellUnquoted) {
    const std::string odd = dir.path("odd dir/it's");
    wp::make_directories(odd);
    server.log_path = odd + "/acc ess;log";
    server.rotate_cmd = "touch " + wp::shell_quote(server.log_path);
    wp::atomic_write_file(server.log_path, "line\n");
    wp::atomic_write_file(odd + "/acc ess;log.wp-$(touch pwned)", "x\n");
    wp::atomic_write_file(odd + "/acc ess;log.wp-20261124T230000Z;touch pwned", "x\n");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::ok) << r.result.message();
    EXPECT_EQ(r.files, 1);
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log"), "line\n");
    EXPECT_FALSE(fs::exists(odd + "/pwned"));
    EXPECT_FALSE(fs::exists("pwned"));
    EXPECT_TRUE(fs::exists(odd + "/acc ess;log.wp-$(touch pwned)"));
    EXPECT_TRUE(fs::exists(odd + "/acc ess;log.wp-20261124T230000Z;touch pwned"));
}

TEST_F(FetchFixture, ASymlinkedLiveLogIsRefused) {
    wp::atomic_write_file(dir.path("elsewhere"), "x\n");
    fs::create_symlink(dir.path("elsewhere"), log);
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.result.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.result.step, "claim " + log);
}

} // namespace
