#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "runall/runall_hosts.h"
#include "support/fixtures.h"
#include "support/tmpdir.h"

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class CollectingSink : public wp::HostSink {
public:
    void out(std::string_view d) override { out_text.append(d); }
    void err(std::string_view d) override { err_text.append(d); }
    std::string out_text;
    std::string err_text;
};

// Running, not a zombie waiting for an init that may never reap it.
bool alive(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(") ");
    return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

} // namespace

TEST(RunallHosts, TimeoutShorterThanTheConnectTimeoutBoundsTheConnectToo) {
    using std::chrono::seconds;
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 5), seconds(5));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 900), seconds(10));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 10), seconds(10));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 0), seconds(10)); // 0: no command limit
    EXPECT_EQ(wp::runall_connect_timeout(seconds(2), 1), seconds(1));
}

TEST(RunallHosts, CommandWordsJoinedAsSshDoes) {
    EXPECT_EQ(wp::join_command_words({"ls", "-l", "/etc/ipsec.conf"}), "ls -l /etc/ipsec.conf");
    EXPECT_EQ(wp::join_command_words({"echo $HOME; uptime"}), "echo $HOME; uptime");
    EXPECT_EQ(wp::script_command({}), "sh -s");
    EXPECT_EQ(wp::script_command({"a", "b c", "it's"}), "sh -s -- 'a' 'b c' 'it'\\''s'");
}

TEST(RunallHosts, PushTargetPath) {
    EXPECT_EQ(wp::push_target_path("/etc/ipsec.conf", "conf/ipsec.conf"), "/etc/ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~/", "/data/ipsec/ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~", "ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("", "ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~/etc/x.conf", "ipsec.conf"), "etc/x.conf");
    EXPECT_EQ(wp::push_target_path("/etc/", "a/ipsec.conf"), "/etc/ipsec.conf");
}

TEST(RunallHosts, LocalEnvironmentReplacesOurVariables) {
    const char* base[] = {"PATH=/bin", "WP_HOST=stale", "WP_PORTX=keep", "WP_USER=old", nullptr};
    auto s = server("tor1");
    s.port = 2201;
    EXPECT_EQ(wp::local_command_environment(base, s, "proxy"),
              (std::vector<std::string>{"PATH=/bin", "WP_PORTX=keep", "WP_HOST=tor1", "WP_ADDRESS=192.0.2.1",
                                        "WP_PORT=2201", "WP_USER=proxy"}));
    EXPECT_EQ(wp::local_command_environment(base, s, "").size(), 5u);
}

TEST(RunallHosts, LocalCommandMustBeRunnable) {
    EXPECT_EQ(wp::resolve_local_command("sh").back(), 'h');
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("/nonexistent/wp-x"); }), 66);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("wp-no-such-command-here"); }), 66);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("/etc/passwd"); }), 77);
}

TEST(RunallHosts, LocalRunnerGivesHostAsFirstArgumentAndEnvironment) {
    TempDir dir;
    const std::string script = dir.path("s.sh");
    {
        std::ofstream f(script);
        f << "#!/bin/sh\necho \"$1|$2|$3|$WP_HOST|$WP_ADDRESS|$WP_PORT\"\necho to-stderr >&2\nexit 5\n";
    }
    ::chmod(script.c_str(), 0755);
    wp::HostAction action;
    action.local_argv = {script, "a", "b c"};
    auto runner = wp::make_local_runner(action, "");
    CollectingSink sink;
    auto s = server("tor1");
    s.port = 2201;
    const auto r = runner->run(s, sink);
    EXPECT_EQ(sink.out_text, "tor1|a|b c|tor1|192.0.2.1|2201\n");
    EXPECT_EQ(sink.err_text, "to-stderr\n");
    EXPECT_EQ(r.host.outcome, wp::HostOutcome::command_failed);
    EXPECT_EQ(r.exit_status, 5);
    EXPECT_TRUE(r.command_ran);
}

TEST(RunallHosts, LocalRunnerTimeoutEndsTheCommandAndItsChildren) {
    TempDir dir;
    const std::string script = dir.path("hang.sh");
    const std::string pid_file = dir.path("child.pid");
    {
        // The child outlives its parent's TERM unless it is signalled too.
        std::ofstream f(script);
        f << "#!/bin/sh\nsleep 30 &\necho $! >" << pid_file << "\nwait\n";
    }
    ::chmod(script.c_str(), 0755);
    wp::HostAction action;
    action.local_argv = {script};
    action.timeout = std::chrono::seconds(1);
    for (const bool interactive : {false, true}) {
        action.local_interactive = interactive;
        auto runner = wp::make_local_runner(action, "");
        CollectingSink sink;
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = runner->run(server("tor1"), sink);
        const auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_EQ(r.host.outcome, wp::HostOutcome::timed_out) << interactive;
        EXPECT_EQ(r.host.cause, "timed out after 1 s");
        EXPECT_LT(took, std::chrono::milliseconds(2500));
        const pid_t child = std::stoi(slurp(pid_file));
        bool gone = false;
        for (int i = 0; i < 100 && !gone; ++i) {
            gone = !alive(child);
            ::usleep(10000);
        }
        EXPECT_TRUE(gone) << "a child of the timed-out command lived on (interactive " << interactive << ")";
        if (!gone) {
            ::kill(child, SIGKILL);
        }
    }
}

TEST(RunallHosts, ResolveLocalCommandAsExecvpWould) {
    TempDir dir;
    const std::string tool = dir.path("wp-test-tool");
    {
        std::ofstream f(tool);
        f << "#!/bin/sh\nexit 0\n";
    }
    ::chmod(tool.c_str(), 0755);
    EXPECT_EQ(wp::resolve_local_command(tool), tool); // a name with a slash: as is
    const char* old = std::getenv("PATH");
    const std::string saved = old != nullptr ? old : "";
    ::setenv("PATH", ("/nonexistent:" + dir.path()).c_str(), 1);
    EXPECT_EQ(wp::resolve_local_command("wp-test-tool"), dir.path("wp-test-tool")); // first runnable on PATH
    ::chmod(tool.c_str(), 0644);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("wp-test-tool"); }), 66); // not executable: not found
    ::setenv("PATH", saved.c_str(), 1);
    EXPECT_EQ(exit_code_of([&] { wp::resolve_local_command(tool); }), 77);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command(""); }), 64);
}

// Runs body, a /bin/sh script, as --local does for server tor1.
wp::RunResult run_local_script(const std::string& body, CollectingSink& sink) {
    TempDir dir;
    const std::string script = dir.path("cmd.sh");
    std::ofstream(script) << "#!/bin/sh\n" << body;
    ::chmod(script.c_str(), 0755);
    wp::HostAction action;
    action.local_argv = {script};
    return wp::make_local_runner(action, "")->run(server("tor1"), sink);
}

TEST(RunallHosts, LocalRunnerCleanExitIsOkWithNoStdinWhenNotInteractive) {
    CollectingSink sink;
    // what the command reads on stdin: /dev/null gives nothing, at once
    const auto r = run_local_script("cat\necho \"read from $1\"\n", sink);
    EXPECT_EQ(sink.out_text, "read from tor1\n");
    EXPECT_EQ(sink.err_text, "");
    EXPECT_EQ(r.host.server, "tor1");
    EXPECT_EQ(r.host.outcome, wp::HostOutcome::ok);
    EXPECT_TRUE(r.command_ran);
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_FALSE(r.host.contacted); // no SSH: nothing for host_status
}

TEST(RunallHosts, LocalRunnerCommandKilledByASignalIsTheCommandsFailure) {
    CollectingSink sink;
    const auto r = run_local_script("kill -KILL $$\n", sink);
    EXPECT_EQ(r.host.outcome, wp::HostOutcome::command_failed);
    EXPECT_EQ(r.exit_signal, "KILL");
    EXPECT_EQ(r.exit_status, -1);
    EXPECT_EQ(r.host.cause, "killed by signal KILL");
}

TEST(RunallHosts, LocalRunnerCommandThatCannotStartIsAFailureNotAnException) {
    wp::HostAction action;
    action.local_argv = {"/nonexistent/wp-x"};
    auto runner = wp::make_local_runner(action, "");
    CollectingSink sink;
    const auto r = runner->run(server("tor1"), sink);
    EXPECT_EQ(r.host.outcome, wp::HostOutcome::failed);
    EXPECT_FALSE(r.command_ran);
    EXPECT_EQ(r.host.message(), "cannot run /nonexistent/wp-x: No such file or directory");
}
