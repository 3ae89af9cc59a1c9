#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "remote/ssh.h"
#include "support/tmpdir.h"

#ifndef WP_SOURCE_DIR
#define WP_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// What /bin/sh makes of a quoted word.
std::string through_shell(const std::string& word) {
    return shell_output("printf '%s' " + wp::shell_quote(word));
}

TEST(ShellQuote, EveryHostileWordComesBackVerbatim) {
    TempDir dir;
    const std::string canary = dir.path("pwned");
    for (const std::string& word :
         {std::string("plain"), std::string("it's"), std::string("''"), std::string("a b\tc"), std::string("-rf"),
          std::string("$(touch ") + canary + ")", std::string("`touch ") + canary + "`",
          std::string("x;touch ") + canary, std::string("line\nbreak"), std::string("back\\slash"), std::string("*"),
          std::string("")}) {
        EXPECT_EQ(through_shell(word), word);
    }
    EXPECT_FALSE(fs::exists(canary));
    EXPECT_EQ(wp::shell_quote("it's"), "'it'\\''s'");
}

TEST(HostKeyPolicy, OnlyKnownKeysPassAndUnknownOnesOnlyWithAcceptNew) {
    using wp::HostKeyAction;
    using wp::KnownHostsState;
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::ok, false), HostKeyAction::accept);
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::ok, true), HostKeyAction::accept);
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::unknown, false), HostKeyAction::refuse);
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::unknown, true), HostKeyAction::record);
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::no_file, false), HostKeyAction::refuse);
    EXPECT_EQ(wp::decide_host_key(KnownHostsState::no_file, true), HostKeyAction::record);
    for (bool accept_new : {false, true}) {
        EXPECT_EQ(wp::decide_host_key(KnownHostsState::changed, accept_new), HostKeyAction::refuse);
        EXPECT_EQ(wp::decide_host_key(KnownHostsState::other_type, accept_new), HostKeyAction::refuse);
        EXPECT_EQ(wp::decide_host_key(KnownHostsState::error, accept_new), HostKeyAction::refuse);
    }
}

TEST(HostKeyPolicy, ARefusalNamesEndpointKeyTypeFingerprintAndFile) {
    wp::HostKeyFacts f;
    f.endpoint = "203.0.113.5:22";
    f.key_type = "ssh-ed25519";
    f.fingerprint = "SHA256:abcdef";
    f.known_hosts = "/home/wp/.ssh/known_hosts";
    for (auto state : {wp::KnownHostsState::changed, wp::KnownHostsState::other_type, wp::KnownHostsState::unknown,
                       wp::KnownHostsState::no_file}) {
        f.state = state;
        const std::string m = wp::host_key_refusal(f);
        EXPECT_NE(m.find("203.0.113.5:22"), std::string::npos) << m;
        EXPECT_NE(m.find("ssh-ed25519"), std::string::npos) << m;
        EXPECT_NE(m.find("SHA256:abcdef"), std::string::npos) << m;
        EXPECT_NE(m.find("/home/wp/.ssh/known_hosts"), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
    f.state = wp::KnownHostsState::changed;
    EXPECT_NE(wp::host_key_refusal(f).find("CHANGED"), std::string::npos);
    f.state = wp::KnownHostsState::unknown;
    EXPECT_NE(wp::host_key_refusal(f).find("--accept-new"), std::string::npos);
}

TEST(ConnectFailure, OnlyAHostThatNeverSentItsBannerIsUnreachable) {
    EXPECT_EQ(wp::classify_connect_failure(false), wp::FailureClass::unreachable);
    EXPECT_EQ(wp::classify_connect_failure(true), wp::FailureClass::answered);
}

TEST(ExecResult, DescribesStatusSignalAndLastStderrLine) {
    wp::ExecResult r;
    r.exit_status = 0;
    EXPECT_TRUE(r.ok());
    r.exit_status = 2;
    r.err = "first\nmv: cannot move 'a' to 'b': Permission denied\n\n";
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.describe(), "exit status 2: mv: cannot move 'a' to 'b': Permission denied");
    r.exit_status = -1;
    r.exit_signal = "TERM";
    r.err.clear();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.describe(), "killed by signal TERM");
}

// ---- against a real sshd of the loopback fleet (127.0.55.*) ---------------

std::map<std::string, std::string> read_env(const std::string& file) {
    std::map<std::string, std::string> env;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) {
            std::string v = line.substr(eq + 1);
            std::string unq;
            for (char c : v) {
                if (c != '\\') {
                    unq += c;
                }
            }
            env[line.substr(0, eq)] = unq;
        }
    }
    return env;
}

int sh(const std::string& cmd) {
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Whether the process whose pid (a line) is in pidfile is gone within 5 s.
bool process_ends(const std::string& pidfile) {
    const std::string pid = wp::read_file(pidfile);
    for (int i = 0; i < 50; ++i) {
        if (sh("kill -0 " + pid.substr(0, pid.find('\n')) + " 2>/dev/null") != 0) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

class Fleet {
public:
    Fleet() {
        m_script = std::string(WP_SOURCE_DIR) + "/tests/fleet/fleet";
        if (::access("/usr/sbin/sshd", X_OK) != 0 || ::access(m_script.c_str(), X_OK) != 0) {
            return;
        }
        m_started = sh(m_script + " start " + m_dir.path() + " --hosts 1 --base 127.0.55 >" + m_dir.path("start.log") +
                       " 2>&1") == 0;
        if (m_started) {
            env = read_env(m_dir.path("fleet.env"));
        }
    }
    ~Fleet() {
        if (m_started) {
            sh(m_script + " stop " + m_dir.path() + " >/dev/null 2>&1");
        }
    }
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;
    bool started() const { return m_started; }
    std::string path(const std::string& name) const { return m_dir.path(name); }
    std::map<std::string, std::string> env;

private:
    TempDir m_dir;
    std::string m_script;
    bool m_started = false;
};

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) {
        c = static_cast<char>(gen());
    }
    return s;
}

wp::SshError ssh_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const wp::SshError& e) {
        return e;
    }
    ADD_FAILURE() << "no SshError";
    return wp::SshError(wp::FailureClass::answered, "", "none");
}

// One test case, one fleet: ctest runs each case in its own process, and
// parallel processes must not share an address block.
TEST(SshSessionOnFleet, ExecSftpTimeoutsHostKeysAndSshConfig) {
    Fleet fleet;
    if (!fleet.started()) {
        GTEST_SKIP() << "no loopback fleet (sshd missing or cannot start)";
    }
    wp::SshTarget target{"host1", fleet.env["FLEET_ADDR_host1"], std::stoi(fleet.env["FLEET_PORT_host1"]), ""};
    wp::SshSettings settings;
    settings.identity = fleet.env["FLEET_IDENTITY"];
    settings.known_hosts = fleet.env["FLEET_KNOWN_HOSTS"];
    settings.connect_timeout = 5s;
    settings.io_timeout = 5s;
    settings.ssh_config = fleet.path("empty_ssh_config");
    wp::atomic_write_file(settings.ssh_config, "");
    const std::string root = fleet.env["FLEET_ROOT_host1"];

    wp::SshSession s(target, settings);
    EXPECT_EQ(s.server_banner().rfind("SSH-2.0-", 0), 0u);

    {
        SCOPED_TRACE("exit status, stdout and stderr");
        auto r = s.exec("echo out; echo err >&2; exit 3");
        EXPECT_EQ(r.exit_status, 3);
        EXPECT_EQ(r.out, "out\n");
        EXPECT_EQ(r.err, "err\n");
        EXPECT_TRUE(r.exit_signal.empty());
    }
    {
        SCOPED_TRACE("both streams drained together, no stall on a full window");
        auto r = s.exec("i=0; while [ $i -lt 100 ]; do head -c 30000 /dev/zero; echo e$i >&2; i=$((i+1)); done");
        EXPECT_EQ(r.exit_status, 0);
        EXPECT_EQ(r.out.size(), 3000000u);
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 100);
    }
    {
        SCOPED_TRACE("exit signal");
        auto r = s.exec("kill -TERM $$");
        EXPECT_EQ(r.exit_signal, "TERM");
        EXPECT_FALSE(r.ok());
    }
    {
        SCOPED_TRACE("standard input");
        wp::ExecOptions o;
        const std::string input(100000, 'y');
        o.stdin_data = input;
        auto r = s.exec("wc -c", o);
        EXPECT_EQ(std::stoi(r.out), 100000);
    }
    {
        SCOPED_TRACE("streamed stdout");
        std::string got;
        wp::ExecOptions o;
        o.on_stdout = [&](std::string_view d) { got.append(d); };
        auto r = s.exec("seq 1 50000", o);
        EXPECT_EQ(r.exit_status, 0);
        EXPECT_TRUE(r.out.empty());
        EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 50000);
    }
    {
        SCOPED_TRACE("on_send: once, before anything of the command comes back (the clock's bracket)");
        int sends = 0;
        bool data_before_send = false;
        wp::ExecOptions o;
        o.on_send = [&] { ++sends; };
        o.on_stdout = [&](std::string_view) { data_before_send = data_before_send || sends == 0; };
        EXPECT_EQ(s.exec("echo out", o).exit_status, 0);
        EXPECT_EQ(sends, 1);
        EXPECT_FALSE(data_before_send);
    }
    {
        SCOPED_TRACE("a command past its timeout is terminated, not left running");
        const std::string pidfile = root + "/sleeper.pid";
        wp::ExecOptions o;
        o.timeout = 1s;
        const auto t0 = std::chrono::steady_clock::now();
        auto e = ssh_error_of([&] { s.exec("echo $$ > " + wp::shell_quote(pidfile) + "; exec sleep 60", o); });
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
        EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
        EXPECT_TRUE(process_ends(pidfile)) << "remote sleep " << wp::read_file(pidfile) << " still runs";
        // The session is still usable afterwards.
        EXPECT_EQ(s.exec("echo again").out, "again\n");
    }
    {
        SCOPED_TRACE("a command silent past its idle timeout");
        wp::ExecOptions o;
        o.idle_timeout = 1s;
        o.on_stdout = [](std::string_view) {};
        auto e = ssh_error_of([&] { s.exec("echo start; sleep 30", o); });
        EXPECT_NE(std::string(e.what()).find("no output for 1 s"), std::string::npos) << e.what();
    }
    {
        SCOPED_TRACE("a command alongside other work on the same session");
        std::string inner;
        auto r = s.exec_alongside("sleep 0.3; echo done; echo note >&2", [&] {
            inner = s.exec("echo inner").out;
            return 5s;
        });
        EXPECT_EQ(r.exit_status, 0);
        EXPECT_EQ(r.out, "done\n");
        EXPECT_EQ(r.err, "note\n");
        EXPECT_EQ(inner, "inner\n");

        // meanwhile fails: the command is ended, not left running
        const std::string pidfile = root + "/alongside.pid";
        EXPECT_THROW(s.exec_alongside("echo $$ > " + wp::shell_quote(pidfile) + "; exec sleep 60",
                                      [&]() -> std::chrono::seconds {
                                          for (int i = 0; i < 100 && !fs::exists(pidfile); ++i) {
                                              std::this_thread::sleep_for(50ms);
                                          }
                                          throw wp::Error(74, "disk full");
                                      }),
                     wp::Error);
        EXPECT_TRUE(process_ends(pidfile)) << "remote sleep " << wp::read_file(pidfile) << " still runs";
        fs::remove(pidfile);

        // a command that outlasts what meanwhile left it
        auto e = ssh_error_of([&] { s.exec_alongside("sleep 30", [] { return 1s; }); });
        EXPECT_NE(std::string(e.what()).find("timed out after 1 s"), std::string::npos) << e.what();
        EXPECT_EQ(s.exec("echo again").out, "again\n");
    }
    {
        SCOPED_TRACE("SFTP download, whole and from an offset");
        const std::string content = random_bytes(3 * 1024 * 1024 + 12345, 7);
        wp::atomic_write_file(root + "/blob", content);
        std::string got;
        auto n = s.sftp_download(root + "/blob", 0, [&](std::string_view d) { got.append(d); });
        EXPECT_EQ(n, content.size());
        EXPECT_TRUE(got == content);
        got.clear();
        n = s.sftp_download(root + "/blob", 1000001, [&](std::string_view d) { got.append(d); });
        EXPECT_EQ(n, content.size() - 1000001);
        EXPECT_TRUE(got == content.substr(1000001));
        got.clear();
        wp::atomic_write_file(root + "/empty", "");
        EXPECT_EQ(s.sftp_download(root + "/empty", 0, [&](std::string_view d) { got.append(d); }), 0u);
        auto e = ssh_error_of([&] { s.sftp_download(root + "/missing", 0, [](std::string_view) {}); });
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
        // A file that grows during the transfer is read up to its size at open.
        const std::string growing = root + "/growing";
        wp::atomic_write_file(growing, content);
        std::size_t grown = 0;
        n = s.sftp_download(growing, 0, [&](std::string_view d) {
            std::ofstream(growing, std::ios::app) << std::string(d.size(), 'g'); // twice as fast as we read
            grown += d.size();
        });
        EXPECT_EQ(n, content.size());
        EXPECT_EQ(grown, content.size());
        // A sink that throws aborts the download; the session stays usable.
        EXPECT_THROW(s.sftp_download(root + "/blob", 0, [](std::string_view) { throw wp::Error(74, "disk full"); }),
                     wp::Error);
        got.clear();
        s.sftp_download(root + "/blob", 3 * 1024 * 1024, [&](std::string_view d) { got.append(d); });
        EXPECT_EQ(got.size(), 12345u);
        // many windows' worth, from an odd offset: every byte once, in order
        std::string big(23 * 1000 * 1000 + 7, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) {
            big[i] = static_cast<char>((i * 2654435761u) >> 13);
        }
        wp::atomic_write_file(root + "/big", big);
        got.clear();
        n = s.sftp_download(root + "/big", 4095, [&](std::string_view d) { got.append(d); });
        EXPECT_EQ(n, big.size() - 4095);
        EXPECT_TRUE(got == big.substr(4095));
        fs::remove(root + "/big");
    }
    {
        SCOPED_TRACE("SFTP upload keeps the mode and replaces atomically");
        const std::string local = fleet.path("script.sh");
        wp::atomic_write_file(local, "#!/bin/sh\necho hi\n");
        wp::atomic_write_file(root + "/script.sh", "old");
        s.sftp_upload(local, root + "/script.sh", 0750);
        EXPECT_EQ(wp::read_file(root + "/script.sh"), "#!/bin/sh\necho hi\n");
        struct stat st {};
        ASSERT_EQ(::stat((root + "/script.sh").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0750u);
        EXPECT_EQ(s.exec(wp::shell_quote(root + "/script.sh")).out, "hi\n");
        int entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(root)) {
            ++entries;
        }
        EXPECT_EQ(entries, 5); // blob, empty, growing, sleeper.pid, script.sh: no temporary left
    }
    {
        SCOPED_TRACE("ssh_config: Host alias, HostName, Port; and its StrictHostKeyChecking no is overridden");
        const std::string cfg = fleet.path("alias_config");
        wp::atomic_write_file(cfg, "Host wp-alias\n  HostName " + target.address + "\n  Port " +
                                       fleet.env["FLEET_PORT_host1"] + "\n  StrictHostKeyChecking no\n");
        wp::SshSettings via = settings;
        via.ssh_config = cfg;
        wp::SshSession aliased({"alias", "wp-alias", 0, ""}, via);
        EXPECT_EQ(aliased.exec("echo via-alias").out, "via-alias\n");

        // A changed key stays refused although ssh_config says "no".
        const std::string changed = fleet.path("known_hosts.changed");
        ASSERT_EQ(sh("ssh-keygen -q -t ed25519 -N '' -f " + fleet.path("other") + " && awk -v k=\"$(cut -d' ' -f2 " +
                     fleet.path("other.pub") + ")\" '{ $3 = k; print }' " + settings.known_hosts + " > " + changed),
                  0);
        via.known_hosts = changed;
        via.accept_new = true; // never for a changed key
        auto e = ssh_error_of([&] { wp::SshSession bad({"alias", "wp-alias", 0, ""}, via); });
        EXPECT_EQ(e.failure_class(), wp::FailureClass::answered);
        EXPECT_EQ(e.step(), "host key");
        const std::string m = e.what();
        EXPECT_NE(m.find("CHANGED"), std::string::npos) << m;
        EXPECT_NE(m.find("ssh-ed25519"), std::string::npos) << m;
        EXPECT_NE(m.find("SHA256:"), std::string::npos) << m;
        EXPECT_NE(m.find(changed), std::string::npos) << m;
    }
    {
        SCOPED_TRACE("an unknown key: refused, recorded with accept_new, then known");
        wp::SshSettings fresh = settings;
        fresh.known_hosts = fleet.path("known_hosts.new");
        auto e = ssh_error_of([&] { wp::SshSession refused(target, fresh); });
        EXPECT_EQ(e.step(), "host key");
        EXPECT_FALSE(fs::exists(fresh.known_hosts));
        fresh.accept_new = true;
        { wp::SshSession recorded(target, fresh); }
        const std::string line = wp::read_file(fresh.known_hosts);
        EXPECT_EQ(line.rfind("[" + target.address + "]:" + fleet.env["FLEET_PORT_host1"] + " ssh-ed25519 ", 0), 0u)
            << line;
        fresh.accept_new = false;
        wp::SshSession known(target, fresh);
        EXPECT_EQ(known.exec("echo ok").out, "ok\n");
    }
    {
        SCOPED_TRACE("wrong key: authentication fails as 'answered'");
        wp::SshSettings other = settings;
        other.identity = fleet.path("other");
        auto e = ssh_error_of([&] { wp::SshSession denied(target, other); });
        EXPECT_EQ(e.failure_class(), wp::FailureClass::answered);
        EXPECT_EQ(e.step(), "authentication");
    }
    {
        SCOPED_TRACE("nothing listening: unreachable, quickly");
        const auto t0 = std::chrono::steady_clock::now();
        auto e = ssh_error_of([&] { wp::SshSession none({"none", "127.0.55.254", 2299, ""}, settings); });
        EXPECT_EQ(e.failure_class(), wp::FailureClass::unreachable);
        EXPECT_EQ(e.step(), "connect");
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
    }
    {
        SCOPED_TRACE("the host deadline cuts a blocking SFTP transfer");
        wp::SshSession slow(target, settings);
        const std::string big = root + "/big";
        ASSERT_EQ(sh("head -c 50000000 /dev/urandom > " + big), 0);
        slow.set_deadline(std::chrono::steady_clock::now() + 200ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto e = ssh_error_of(
            [&] { slow.sftp_download(big, 0, [](std::string_view) { std::this_thread::sleep_for(1ms); }); });
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
        EXPECT_NE(std::string(e.what()).find("time limit"), std::string::npos) << e.what();
    }
}

} // namespace
