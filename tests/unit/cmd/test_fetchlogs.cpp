#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "cmd/fetchlogs.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;

namespace {

// A "remote host" that is this machine: the real shell runs the real
// commands on files in a temporary directory; downloads read the file.
class LocalShellHost : public wp::RemoteHost {
public:
    explicit LocalShellHost(std::string scratch) : m_scratch(std::move(scratch)) {}

    wp::ExecResult run(const std::string& command,
                       const std::function<void(std::string_view)>& on_stdout) override {
        commands.push_back(command);
        const std::string err_file = m_scratch + "/stderr";
        const std::string path = !path_only.empty() ? "PATH=" + wp::shell_quote(path_only) + "; export PATH\n"
                                 : !path_prefix.empty()
                                     ? "PATH=" + wp::shell_quote(path_prefix) + ":\"$PATH\"; export PATH\n"
                                     : "";
        const std::string wrapped = path + "( " + command + "\n) 2>" + wp::shell_quote(err_file);
        FILE* p = ::popen(wrapped.c_str(), "r");
        wp::ExecResult r;
        char buf[65536];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
            if (on_stdout) {
                on_stdout(std::string_view(buf, n));
            } else {
                r.out.append(buf, n);
            }
        }
        const int status = ::pclose(p);
        r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.err = wp::read_file(err_file);
        return r;
    }

    void download(const std::string& path, const std::function<void(std::string_view)>& sink) override {
        downloads.push_back(path);
        const std::string content = wp::read_file(path);
        std::size_t sent = 0;
        while (sent < content.size()) {
            if (fail_after_bytes && sent >= *fail_after_bytes) {
                throw wp::SshError(wp::FailureClass::answered, "", "read: Socket error: disconnected");
            }
            const std::size_t n = std::min<std::size_t>(32768, content.size() - sent);
            sink(std::string_view(content).substr(sent, n));
            sent += n;
        }
        if (after_download) {
            after_download(path);
        }
    }

    // Here the command simply runs after meanwhile: the checksum of a file
    // that changed during the transfer is then always the changed one's.
    wp::ExecResult run_alongside(const std::string& command,
                                 const std::function<std::chrono::seconds()>& meanwhile) override {
        meanwhile();
        return run(command, {});
    }

    std::vector<std::string> commands;
    std::vector<std::string> downloads;
    std::string path_prefix; ///< a directory put first in the commands' PATH
    std::string path_only;   ///< the commands' whole PATH
    std::optional<std::size_t> fail_after_bytes;
    std::function<void(const std::string&)> after_download;

private:
    std::string m_scratch;
};

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
    LocalShellHost host{dir.path()};
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

TEST(ClaimStamp, IsUtcCompactIso8601) {
    EXPECT_EQ(wp::format_claim_stamp(1795611600), "20261125T130000Z");
    EXPECT_EQ(wp::format_claim_stamp(0), "19700101T000000Z");
    EXPECT_EQ(wp::format_claim_stamp(1294011828), "20110102T234348Z");
}

TEST(ClaimedName, OnlyExactlyOurNamesAreAccepted) {
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z"), "20261125T130000Z");
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z.2"), "20261125T130000Z.2");
    EXPECT_EQ(wp::claimed_stamp("access.log", "access.log.wp-20261125T130000Z.999"), "20261125T130000Z.999");
    for (const char* bad : {"access.log", "access.log.wp-", "access.log.wp-20261125T130000", "access.log.wp-20261325T130000Z",
                            "access.log.wp-20261100T130000Z", "access.log.wp-20261125T250000Z",
                            "access.log.wp-20261125T136000Z", "access.log.wp-20261125t130000Z",
                            "access.log.wp-20261125T130000Z.0", "access.log.wp-20261125T130000Z.01",
                            "access.log.wp-20261125T130000Z.1000", "access.log.wp-20261125T130000Z.tmp",
                            "access.log.wp-20261125T130000Z.", "access.log.wp-20261125T130000Z/../x",
                            "access.log.wp-20261125T130000Z\n", "other.log.wp-20261125T130000Z",
                            "xaccess.log.wp-20261125T130000Z", "access.log.wp-$(reboot)",
                            "access.log.wp-2026112 T130000Z"}) {
        EXPECT_EQ(wp::claimed_stamp("access.log", bad), "") << bad;
    }
    EXPECT_EQ(wp::claimed_stamp("", ".wp-20261125T130000Z"), "");
}

TEST(ClaimedName, SpoolNameCarriesTheStamp) {
    EXPECT_EQ(wp::spool_file_name("tor1", "20261125T130000Z.2"), "tor1.20261125T130000Z.2.log");
}

TEST(Listing, ParsesLiveLogAndSortsClaimsOldestFirst) {
    using namespace std::string_literals;
    const std::string out = "L12345\0"s
                            "Caccess.log.wp-20261125T130000Z.10\0"s
                            "Caccess.log.wp-20261125T130000Z\0"s
                            "Caccess.log.wp-20261124T230000Z\0"s
                            "Caccess.log.wp-20261125T130000Z.9\0"s
                            "Caccess.log.wp-bogus\0"s
                            "Caccess.log.wp-20261125T130000Z\nfoo\0"s;
    const auto l = wp::parse_listing(out, "access.log");
    ASSERT_TRUE(l.live_size);
    EXPECT_EQ(*l.live_size, 12345u);
    EXPECT_FALSE(l.live_is_symlink);
    EXPECT_EQ(l.claimed, (std::vector<std::string>{"access.log.wp-20261124T230000Z", "access.log.wp-20261125T130000Z",
                                                   "access.log.wp-20261125T130000Z.9",
                                                   "access.log.wp-20261125T130000Z.10"}));
    EXPECT_EQ(l.rejected.size(), 2u);

    EXPECT_FALSE(l.has_zstd);
    EXPECT_TRUE(wp::parse_listing("Z\0"s, "access.log").has_zstd);

    const auto none = wp::parse_listing("", "access.log");
    EXPECT_FALSE(none.live_size);
    EXPECT_TRUE(none.claimed.empty());
    EXPECT_TRUE(wp::parse_listing("S\0"s, "access.log").live_is_symlink);

    // (a lying `wc -c` printing "1 2" makes two L records)
    for (const std::string& bad : {"L12"s, "L\0"s, "Lx1\0"s, "X\0"s, "\0"s, "L1 2\0"s, "L1\0L2\0"s, "S\0L2\0"s}) {
        EXPECT_THROW(wp::parse_listing(bad, "access.log"), wp::Error) << bad;
    }

    // a claim made by the survey, with its rotate's outcome
    const auto c = wp::parse_listing("L5\0Naccess.log.wp-20261125T130000Z.1\0Rreopened\0"s
                                     "Caccess.log.wp-20261125T130000Z.1\0Caccess.log.wp-20261125T130000Z\0"s,
                                     "access.log");
    EXPECT_EQ(c.claimed_now, "access.log.wp-20261125T130000Z.1");
    EXPECT_EQ(c.rotate_outcome, "reopened");
    EXPECT_EQ(c.claimed,
              (std::vector<std::string>{"access.log.wp-20261125T130000Z", "access.log.wp-20261125T130000Z.1"}));
    for (const std::string& bad : {"L5\0Naccess.log.wp-20261125T130000Z\0"s, // claimed, but not listed
                                   "L5\0Naccess.log.wp-x\0Caccess.log.wp-x\0"s,
                                   "L5\0Naccess.log.wp-20261125T130000Z\0Naccess.log.wp-20261125T130000Z\0"
                                   "Caccess.log.wp-20261125T130000Z\0"s}) {
        EXPECT_THROW(wp::parse_listing(bad, "access.log"), wp::Error) << bad;
    }
}

TEST(StreamDigest, TakesItsTwoLinesOutOfStderr) {
    using namespace std::string_literals;
    const std::string sha(64, 'b');
    wp::ExecResult r;
    r.err = "zstd: a warning\nwp-digest:     7\nwp-digest:" + sha + "  -\nmore\n";
    const auto d = wp::take_stream_digest(r);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 7u);
    EXPECT_EQ(d->sha256, sha);
    EXPECT_EQ(r.err, "zstd: a warning\nmore\n");

    for (const std::string& bad :
         {""s, "wp-digest:7\n"s, "wp-digest:7\nwp-digest:" + sha + "  -\nwp-digest:" + sha + "\n",
          "wp-digest:7\nwp-digest:" + std::string(63, 'b') + "\n", " wp-digest:7\nwp-digest:" + sha + "\n",
          "wp-digest:7 wp-digest:" + sha + "\n"}) {
        wp::ExecResult b;
        b.err = bad;
        EXPECT_FALSE(wp::take_stream_digest(b)) << bad;
    }
}

TEST(RemoteDigest, ParsesWcAndSha256sum) {
    const std::string sha(64, 'a');
    auto d = wp::parse_remote_digest("1234\n" + sha + "  -\n");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 1234u);
    EXPECT_EQ(d->sha256, sha);
    d = wp::parse_remote_digest("     7\n" + sha + "  -\n"); // BSD wc pads
    ASSERT_TRUE(d);
    EXPECT_EQ(d->size, 7u);
    d = wp::parse_remote_digest("7\n" + sha + " *stdin\n"); // openssl dgst -r
    ASSERT_TRUE(d);
    EXPECT_EQ(d->sha256, sha);
    EXPECT_FALSE(wp::parse_remote_digest(""));
    EXPECT_FALSE(wp::parse_remote_digest("12\n"));
    EXPECT_FALSE(wp::parse_remote_digest("x\n" + sha + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + std::string(63, 'a') + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + std::string(64, 'A') + "  -\n"));
    EXPECT_FALSE(wp::parse_remote_digest("12\n" + sha + "0  -\n"));
}

TEST(RotateOutcome, TellsReopenedFromFailedFromNotReopened) {
    wp::ExecResult r;
    r.exit_status = 0;
    r.out = "reopened\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000), "");
    r.out = "rotate-failed 1\n";
    r.err = "squid: ERROR: No running copy\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000),
              "'squid -k rotate': exit status 1: squid: ERROR: No running copy");
    r.out = "not-reopened\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "squid -k rotate", "/l/access.log", 10000).rfind(
                  "/l/access.log did not reappear within 10000 ms of 'squid -k rotate'", 0),
              0u);
    r.out = "garbage";
    EXPECT_NE(wp::parse_rotate_outcome(r, "x", "/l", 1), "");
    r.exit_status = 127;
    r.out.clear();
    r.err = "sh: 1: /bin/sh: not found\n";
    EXPECT_EQ(wp::parse_rotate_outcome(r, "x", "/l", 1), "exit status 127: sh: 1: /bin/sh: not found");
}

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
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
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

TEST_F(FetchFixture, AClaimInTheSameSecondAsEarlierOnesTakesTheNextName) {
    wp::atomic_write_file(logdir + "/access.log.wp-20261125T130000Z", "first\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261125T130000Z.1", "second\n");
    wp::atomic_write_file(log, "third\n");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
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
                EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
                if (fake.starts_with("echo")) {
                    EXPECT_EQ(r.step, "download " + claimed);
                    EXPECT_EQ(r.cause.rfind("checksum mismatch (the host has 5 bytes, SHA-256 " + wrong, 0), 0u)
                        << r.cause;
                } else {
                    EXPECT_EQ(r.step, "verify " + claimed);
                    EXPECT_EQ(r.cause.rfind("unexpected checksum from the host: ", 0), 0u) << r.cause;
                    EXPECT_NE(r.cause.find(wrong + "../../outside"), std::string::npos) << r.cause;
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
        EXPECT_EQ(ok.outcome, wp::HostOutcome::ok) << ok.message();
        EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.log"), "line\n");
        fs::remove(settings.spool_dir + "/tor1.20261124T230000Z.log");
    }
    EXPECT_FALSE(fs::exists(dir.path("outside")));
}

TEST_F(FetchFixture, AnEmptyLiveLogIsNotClaimedAndNothingIsNoWork) {
    server.rotate_cmd = "echo rotate must not run >&2; exit 1";
    auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message(); // no log at all
    wp::atomic_write_file(log, "");
    r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
    EXPECT_EQ(r.files, 0);
    EXPECT_TRUE(names_in(settings.spool_dir).empty());
}

TEST_F(FetchFixture, AnEmptyClaimedFileIsDeletedWithoutASpoolFile) {
    wp::atomic_write_file(log, "x\n");
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "");
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
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
    EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.step, "download " + logdir + "/access.log.wp-20261124T230000Z");
    EXPECT_EQ(r.cause.rfind("checksum mismatch (the host has 17 bytes", 0), 0u) << r.cause;
    EXPECT_EQ(r.files, 1);
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261124T220000Z.log"}));
    EXPECT_TRUE(fs::exists(logdir + "/access.log.wp-20261124T230000Z"));
    EXPECT_FALSE(fs::exists(logdir + "/access.log.wp-20261124T220000Z"));

    // the next run fetches it whole
    host.after_download = nullptr;
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.outcome, wp::HostOutcome::ok) << again.message();
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261124T230000Z.log"), "second\nlate line\n");
}

TEST_F(FetchFixture, ADisconnectMidFileLeavesNoPartialFileAndTheRemoteFileStays) {
    std::string big(200000, 'x');
    wp::atomic_write_file(log, big);
    host.fail_after_bytes = 65536;
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.step, "download " + logdir + "/access.log.wp-20261125T130000Z");
    EXPECT_EQ(r.cause, "read: Socket error: disconnected");
    EXPECT_TRUE(names_in(settings.spool_dir).empty()); // not even a temporary
    EXPECT_EQ(fs::file_size(logdir + "/access.log.wp-20261125T130000Z"), big.size());

    host.fail_after_bytes.reset();
    settings.clock = [] { return std::int64_t{1795615200}; };
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.outcome, wp::HostOutcome::ok) << again.message();
    EXPECT_EQ(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log"), big);
}

TEST_F(FetchFixture, AFailingRotateStopsBeforeAnyDownload) {
    wp::atomic_write_file(log, "line\n");
    server.rotate_cmd = "echo 'squid: ERROR: No running copy' >&2; exit 1";
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.step, "rotate");
    EXPECT_NE(r.cause.find("exit status 1: squid: ERROR: No running copy"), std::string::npos) << r.cause;
    EXPECT_TRUE(host.downloads.empty());
    EXPECT_TRUE(fs::exists(logdir + "/access.log.wp-20261125T130000Z"));

    // Next run: the live log is still missing, so Squid is asked again before the leftover is fetched.
    server.rotate_cmd = "touch " + wp::shell_quote(log);
    const auto again = fetch_host_logs(host, server, settings);
    EXPECT_EQ(again.outcome, wp::HostOutcome::ok) << again.message();
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261125T130000Z.log"}));
}

TEST_F(FetchFixture, ALogThatIsNotReopenedIsNotFetched) {
    wp::atomic_write_file(log, "line\n");
    server.rotate_cmd = "true";
    settings.rotate_wait = std::chrono::milliseconds(300);
    const auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.step, "rotate");
    EXPECT_NE(r.cause.find("did not reappear"), std::string::npos) << r.cause;
    EXPECT_TRUE(host.downloads.empty());
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
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
    EXPECT_TRUE(host.downloads.empty());
    EXPECT_TRUE(wp::read_file(settings.spool_dir + "/tor1.20261125T130000Z.log") == content);
}

TEST_F(FetchFixture, AFileAlreadyInTheSpoolIsNotDuplicatedButAnotherIsKeptBeside) {
    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "same\n");
    wp::atomic_write_file(settings.spool_dir + "/tor1.20261124T230000Z.log", "same\n");
    auto r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
    EXPECT_EQ(names_in(settings.spool_dir), (std::vector<std::string>{"tor1.20261124T230000Z.log"}));

    wp::atomic_write_file(logdir + "/access.log.wp-20261124T230000Z", "different\n");
    r = fetch_host_logs(host, server, settings);
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
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
    EXPECT_EQ(r.outcome, wp::HostOutcome::ok) << r.message();
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
    EXPECT_EQ(r.outcome, wp::HostOutcome::failed);
    EXPECT_EQ(r.step, "claim " + log);
}

TEST(SpoolDir, RefusesSymlinksAndBadNamesAndSweepsStaleTemporaries) {
    TempDir dir;
    const std::string spool = dir.path("spool");
    wp::make_directories(spool);
    wp::make_directories(dir.path("elsewhere"));
    fs::create_symlink(dir.path("elsewhere"), spool + "/evil");
    EXPECT_THROW(wp::prepare_spool_dir(spool, "evil"), wp::Error);
    EXPECT_THROW(wp::prepare_spool_dir(spool, "../x"), wp::Error);
    EXPECT_THROW(wp::prepare_spool_dir(spool, ""), wp::Error);
    wp::atomic_write_file(spool + "/file", "");
    EXPECT_THROW(wp::prepare_spool_dir(spool, "file"), wp::Error);

    const std::string d = wp::prepare_spool_dir(spool, "tor1");
    EXPECT_EQ(d, spool + "/tor1");
    struct stat st {};
    ASSERT_EQ(::lstat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0750u);
    wp::atomic_write_file(d + "/tor1.20261125T130000Z.log.tmp.1234.0badf00d", "partial");
    wp::atomic_write_file(d + "/tor1.20261125T130000Z.log", "kept");
    wp::atomic_write_file(d + "/notes.tmp.1.0badf00d", "kept too");
    wp::prepare_spool_dir(spool, "tor1");
    EXPECT_FALSE(fs::exists(d + "/tor1.20261125T130000Z.log.tmp.1234.0badf00d"));
    EXPECT_TRUE(fs::exists(d + "/tor1.20261125T130000Z.log"));
    EXPECT_TRUE(fs::exists(d + "/notes.tmp.1.0badf00d"));
}

} // namespace
