#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "cmd/runall.h"
#include "runall/runall_hosts.h"
#include "runall/runall_output.h"
#include "support/tmpdir.h"

namespace {

wp::Server server(const std::string& name, bool active = true, bool retired = false) {
    wp::Server s;
    s.name = name;
    s.address = "192.0.2.1";
    s.active = active;
    if (retired) {
        s.retired_at = 1;
    }
    return s;
}

std::vector<std::string> names_of(const std::vector<wp::Server>& servers) {
    std::vector<std::string> out;
    for (const auto& s : servers) {
        out.push_back(s.name);
    }
    return out;
}

wp::HostResult run_of(const std::string& host, wp::RunOutcome outcome, int status = -1, std::string cause = {}) {
    wp::HostResult r;
    r.host = host;
    r.outcome = outcome;
    r.exit_status = status;
    r.command_ran = status >= 0;
    r.cause = std::move(cause);
    return r;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A FILE* whose content can be read back.
class CapturedStream {
public:
    CapturedStream() : m_file(std::tmpfile()) {}
    ~CapturedStream() { std::fclose(m_file); }
    std::FILE* get() const { return m_file; }
    std::string text() const {
        std::fflush(m_file);
        std::rewind(m_file);
        std::string out;
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, m_file)) > 0) {
            out.append(buf, n);
        }
        return out;
    }

private:
    std::FILE* m_file;
};

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

// ---- selection ---------------------------------------------------------------

TEST(RunallSelection, HostNamesSplitOnBlanksCommasAndLinesWithComments) {
    const auto names = wp::parse_host_names("tor1 mtl2,  van3\n# a comment line\n\nnyc1 # the new one\r\n", "f");
    EXPECT_EQ(names, (std::vector<std::string>{"tor1", "mtl2", "van3", "nyc1"}));
}

TEST(RunallSelection, BadHostNameNamesSourceAndLine) {
    try {
        wp::parse_host_names("tor1\n../etc\n", "hosts.txt");
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_TRUE(std::string(e.what()).starts_with("hosts.txt:2: host name '../etc'")) << e.what();
    }
}

TEST(RunallSelection, StatusFileLastLineWinsAndOddLinesAreCounted) {
    const auto st = wp::parse_status_file("tor1 0\nmtl2 2 CRITICAL - no answer\n# comment\n\ntor1 2\n"
                                          "van3\nnyc1 down\nlon1\t1\n");
    EXPECT_EQ(st.states.size(), 3u);
    EXPECT_EQ(st.states.at("tor1"), 2);
    EXPECT_EQ(st.states.at("mtl2"), 2);
    EXPECT_EQ(st.states.at("lon1"), 1);
    EXPECT_EQ(st.bad_lines, (std::vector<int>{6, 7}));
}

TEST(RunallSelection, DownByStatusFileStateTwoOrByConsecutiveFailures) {
    const auto st = wp::parse_status_file("tor1 2\nmtl2 1\nhost11 2\n");
    EXPECT_EQ(wp::down_reason("tor1", st, 0, 3), "state 2 in the status file");
    EXPECT_EQ(wp::down_reason("mtl2", st, 0, 3), "");  // 1 is not down
    EXPECT_EQ(wp::down_reason("host1", st, 0, 3), ""); // "host11 2" is not "host1 2" (the seed's grep was)
    EXPECT_EQ(wp::down_reason("van3", st, 2, 3), "");
    EXPECT_EQ(wp::down_reason("van3", st, 3, 3), "3 consecutive failures");
    EXPECT_EQ(wp::down_reason("van3", st, 7, 3), "7 consecutive failures");
    EXPECT_EQ(wp::down_reason("van3", st, 50, 0), ""); // --down-after 0: never by failures
    EXPECT_EQ(wp::down_reason("van3", {}, 1, 1), "1 consecutive failures");
}

TEST(RunallSelection, DefaultIsActiveNotRetiredInInventoryOrderMinusExcluded) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c", false, true), server("d"), server("e")};
    in.known = {"a", "b", "c", "d", "e"};
    in.excluded = {"d"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"a", "e"}));
}

TEST(RunallSelection, NamedHostsKeepTheirOrderOnceEachInactiveToo) {
    wp::SelectionInput in;
    in.matching = {server("a"), server("b", false), server("c"), server("d")};
    in.known = {"a", "b", "c", "d", "z"}; // z: filtered out by --where
    in.named = {"c", "b", "z", "c", "a", "d"};
    in.excluded = {"a"};
    EXPECT_EQ(names_of(wp::select_hosts(in)), (std::vector<std::string>{"c", "b", "d"}));
}

TEST(RunallSelection, UnknownNamesNamedOrExcludedAreAllListedWith66) {
    wp::SelectionInput in;
    in.matching = {server("a")};
    in.known = {"a"};
    in.named = {"a", "tor9"};
    in.excluded = {"mtl9"};
    try {
        wp::select_hosts(in);
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 66);
        EXPECT_STREQ(e.what(), "no server named tor9, mtl9 in the inventory");
    }
    in.named.clear(); // a typo in -x alone must not run on the host meant
    EXPECT_EQ(exit_code_of([&] { wp::select_hosts(in); }), 66);
}

// ---- output -------------------------------------------------------------------

TEST(RunallOutput, LinePrefixerHoldsPartialLines) {
    wp::LinePrefixer p("tor1: ");
    EXPECT_EQ(p.feed("one\ntw"), "tor1: one\n");
    EXPECT_EQ(p.feed("o"), "");
    EXPECT_EQ(p.feed("\n\nthr"), "tor1: two\ntor1: \n");
    EXPECT_EQ(p.feed("ee\nfour"), "tor1: three\n");
    EXPECT_EQ(p.finish(), "tor1: four\n");
    EXPECT_EQ(p.finish(), "");
    EXPECT_EQ(p.feed(""), "");
}

TEST(RunallOutput, GatherGroupsByOutputAndOutcome) {
    std::vector<wp::HostResult> runs = {
        run_of("h1", wp::RunOutcome::ok, 0),
        run_of("h2", wp::RunOutcome::failed, 1, "exit status 1: boom"),
        run_of("h3", wp::RunOutcome::ok, 0),
        run_of("h4", wp::RunOutcome::unreachable, -1, "connect: Connection refused"),
        run_of("h5", wp::RunOutcome::failed, 1, "exit status 1"),
        run_of("h6", wp::RunOutcome::ok, 0),
        run_of("h7", wp::RunOutcome::timed_out),
    };
    runs[6].command_ran = true;
    const std::vector<std::string> outputs = {"same\n", "same\n", "same\n", "", "same\n", "other", "same\n"};
    const auto groups = wp::gather_outputs(runs, outputs);
    ASSERT_EQ(groups.size(), 4u);
    EXPECT_EQ(groups[0].hosts, (std::vector<std::string>{"h1", "h3"}));
    EXPECT_EQ(groups[1].hosts, (std::vector<std::string>{"h2", "h5"}));
    EXPECT_EQ(groups[1].label, "exit status 1");
    EXPECT_EQ(groups[2].hosts, (std::vector<std::string>{"h6"}));
    EXPECT_EQ(groups[3].hosts, (std::vector<std::string>{"h7"}));
    EXPECT_EQ(wp::format_groups(groups), "== h1,h3 ==\nsame\n== h2,h5 (exit status 1) ==\nsame\n== h6 ==\nother\n"
                                         "== h7 (timed out) ==\nsame\n");
}

TEST(RunallOutput, OutcomeLabels) {
    auto signalled = run_of("h", wp::RunOutcome::failed, -1, "killed by signal TERM");
    signalled.command_ran = true;
    signalled.exit_signal = "TERM";
    EXPECT_EQ(wp::outcome_label(signalled), "killed by signal TERM");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::RunOutcome::failed, 3, "exit status 3: x")), "exit status 3");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::RunOutcome::failed, -1, "host key: changed")), "host key: changed");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::RunOutcome::ok, 0)), "");
}

TEST(RunallOutput, ExitStatus) {
    using O = wp::RunOutcome;
    auto status = [](std::initializer_list<O> outcomes) {
        std::vector<wp::HostResult> runs;
        for (const auto o : outcomes) {
            runs.push_back(run_of("h", o));
        }
        return wp::runall_exit_status(runs);
    };
    EXPECT_EQ(status({}), 0);
    EXPECT_EQ(status({O::ok, O::ok}), 0);
    EXPECT_EQ(status({O::ok, O::down}), 0); // known down: counted, not a failure
    EXPECT_EQ(status({O::ok, O::failed}), 1);
    EXPECT_EQ(status({O::ok, O::timed_out}), 1);
    EXPECT_EQ(status({O::ok, O::unreachable}), 1);
    EXPECT_EQ(status({O::ok, O::interrupted, O::not_run}), 1);
    EXPECT_EQ(status({O::unreachable, O::unreachable}), 69);
    EXPECT_EQ(status({O::unreachable, O::down}), 69);
    EXPECT_EQ(status({O::down}), 69);
    EXPECT_EQ(status({O::unreachable, O::failed}), 1); // a refused host key answered
}

TEST(RunallOutput, SummaryCountsThenOneLinePerHostNotOk) {
    EXPECT_TRUE(wp::summary_lines({run_of("a", wp::RunOutcome::ok, 0)}).empty());
    const std::vector<wp::HostResult> runs = {
        run_of("a", wp::RunOutcome::ok, 0),
        run_of("b", wp::RunOutcome::unreachable, -1, "connect: Connection refused"),
        run_of("c", wp::RunOutcome::failed, 2, "exit status 2"),
        run_of("d", wp::RunOutcome::down, -1, "state 2 in the status file"),
        run_of("e", wp::RunOutcome::timed_out, -1, "timed out after 2 s"),
        run_of("f", wp::RunOutcome::failed, 1, "exit status 1: no such file"),
    };
    EXPECT_EQ(wp::summary_lines(runs), (std::vector<std::string>{
                                           "6 hosts: 1 ok, 2 failed, 1 timed out, 1 unreachable, 1 skipped as down",
                                           "failed: c: exit status 2",
                                           "failed: f: exit status 1: no such file",
                                           "timed out: e: timed out after 2 s",
                                           "unreachable: b: connect: Connection refused",
                                           "skipped as down: d: state 2 in the status file",
                                       }));
}

TEST(RunallOutput, SerialHeadersAndOutputAsIsEachEndingALine) {
    CapturedStream out, err;
    wp::OutputSettings settings;
    settings.out = out.get();
    settings.err = err.get();
    wp::RunOutput output(settings, {"h1", "h2"});
    output.begin(0);
    output.sink(0).out("one\ntw");
    output.sink(0).out("o");
    output.sink(0).err("warn");
    output.end(0, run_of("h1", wp::RunOutcome::ok, 0));
    output.begin(1);
    output.sink(1).out("x\n");
    output.end(1, run_of("h2", wp::RunOutcome::ok, 0));
    output.finish({});
    EXPECT_EQ(out.text(), "== h1 ==\none\ntwo\n== h2 ==\nx\n");
    EXPECT_EQ(err.text(), "warn\n");
}

TEST(RunallOutput, ParallelWholePrefixedLinesFromInterleavedHosts) {
    CapturedStream out, err;
    wp::OutputSettings settings;
    settings.prefixed = true;
    settings.out = out.get();
    settings.err = err.get();
    wp::RunOutput output(settings, {"h1", "h2"});
    output.begin(0);
    output.begin(1);
    output.sink(0).out("a1 ");
    output.sink(1).out("b1 ");
    output.sink(0).out("a1 end\na2");
    output.sink(1).err("e1\n");
    output.sink(1).out("b1 end\n");
    output.end(1, run_of("h2", wp::RunOutcome::ok, 0));
    output.end(0, run_of("h1", wp::RunOutcome::ok, 0));
    EXPECT_EQ(out.text(), "h1: a1 a1 end\nh2: b1 b1 end\nh1: a2\n");
    EXPECT_EQ(err.text(), "h2: e1\n");
}

TEST(RunallOutput, GatherPrintsGroupsAtTheEndStderrPrefixed) {
    CapturedStream out, err;
    wp::OutputSettings settings;
    settings.gather = true;
    settings.out = out.get();
    settings.err = err.get();
    wp::RunOutput output(settings, {"h1", "h2", "h3"});
    std::vector<wp::HostResult> runs = {run_of("h1", wp::RunOutcome::ok, 0), run_of("h2", wp::RunOutcome::failed, 1),
                                        run_of("h3", wp::RunOutcome::ok, 0)};
    for (std::size_t i = 0; i < 3; ++i) {
        output.begin(i);
        output.sink(i).out("same\n");
        output.end(i, runs[i]);
    }
    output.sink(1).err("why\n");
    EXPECT_EQ(out.text(), "");
    output.finish(runs);
    EXPECT_EQ(out.text(), "== h1,h3 ==\nsame\n== h2 (exit status 1) ==\nsame\n");
    EXPECT_EQ(err.text(), "h2: why\n");
}

TEST(RunallOutput, OutdirFilesForEveryHostNothingOnTheTerminal) {
    TempDir dir;
    CapturedStream out, err;
    wp::OutputSettings settings;
    settings.outdir = dir.path();
    settings.out = out.get();
    settings.err = err.get();
    wp::RunOutput output(settings, {"h1", "h2", "h3"});
    output.begin(0);
    output.sink(0).out("hello\n");
    output.sink(0).err("warning\n");
    output.end(0, run_of("h1", wp::RunOutcome::failed, 3, "exit status 3: warning"));
    output.begin(1);
    output.end(1, run_of("h2", wp::RunOutcome::unreachable, -1, "connect: Connection refused"));
    output.end(2, run_of("h3", wp::RunOutcome::down, -1, "3 consecutive failures"));
    output.finish({});
    EXPECT_EQ(out.text(), "");
    EXPECT_EQ(err.text(), "");
    EXPECT_EQ(slurp(dir.path("h1.out")), "hello\n");
    EXPECT_EQ(slurp(dir.path("h1.err")), "warning\n");
    EXPECT_EQ(slurp(dir.path("h1.rc")), "3\n");
    EXPECT_EQ(slurp(dir.path("h2.out")), "");
    EXPECT_EQ(slurp(dir.path("h2.err")), "connect: Connection refused\n");
    EXPECT_EQ(slurp(dir.path("h2.rc")), "unreachable\n");
    EXPECT_EQ(slurp(dir.path("h3.rc")), "down\n");
    struct stat st {};
    ASSERT_EQ(::stat(dir.path("h1.out").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 9); // no temporaries left
}

TEST(RunallCommandLine, OptionsAfterTheStdinDashAreOptionsUpToTheCommand) {
    auto parse = [](std::vector<std::string> args, wp::RunallRequest& r) {
        CLI::App app{"test", "wp-runall"};
        wp::add_runall_options(app, r);
        args.insert(args.begin(), "wp-runall");
        std::vector<const char*> argv;
        for (const auto& a : args) {
            argv.push_back(a.c_str());
        }
        app.parse(static_cast<int>(argv.size()), argv.data());
    };
    wp::RunallRequest r;
    parse({"-", "--list", "-j3", "-x", "a,b", "--where=virt = 'xen'"}, r);
    EXPECT_TRUE(r.list);
    EXPECT_EQ(r.jobs, 3);
    EXPECT_EQ(r.exclude, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.where, "virt = 'xen'");
    EXPECT_EQ(r.words, std::vector<std::string>{"-"});

    wp::RunallRequest cmd;
    parse({"-", "--push", "f", "/tmp/f", "uptime", "--list"}, cmd);
    EXPECT_EQ(cmd.push, (std::vector<std::string>{"f", "/tmp/f"}));
    EXPECT_FALSE(cmd.list); // the command's own word
    EXPECT_EQ(cmd.words, (std::vector<std::string>{"-", "uptime", "--list"}));

    wp::RunallRequest dashes;
    parse({"-", "--", "--list"}, dashes);
    EXPECT_FALSE(dashes.list);
    EXPECT_EQ(dashes.words, (std::vector<std::string>{"-", "--", "--list"}));

    wp::RunallRequest unknown;
    EXPECT_THROW(parse({"-", "--frobnicate"}, unknown), CLI::ExtrasError);
}

TEST(RunallSelection, TimeoutShorterThanTheConnectTimeoutBoundsTheConnectToo) {
    using std::chrono::seconds;
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 5), seconds(5));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 900), seconds(10));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 10), seconds(10));
    EXPECT_EQ(wp::runall_connect_timeout(seconds(10), 0), seconds(10)); // 0: no command limit
    EXPECT_EQ(wp::runall_connect_timeout(seconds(2), 1), seconds(1));
}

// ---- actions -------------------------------------------------------------------

TEST(RunallActions, CommandWordsJoinedAsSshDoes) {
    EXPECT_EQ(wp::join_command_words({"ls", "-l", "/etc/ipsec.conf"}), "ls -l /etc/ipsec.conf");
    EXPECT_EQ(wp::join_command_words({"echo $HOME; uptime"}), "echo $HOME; uptime");
    EXPECT_EQ(wp::script_command({}), "sh -s");
    EXPECT_EQ(wp::script_command({"a", "b c", "it's"}), "sh -s -- 'a' 'b c' 'it'\\''s'");
}

TEST(RunallActions, PushTargetPath) {
    EXPECT_EQ(wp::push_target_path("/etc/ipsec.conf", "conf/ipsec.conf"), "/etc/ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~/", "/data/ipsec/ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~", "ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("", "ipsec.conf"), "ipsec.conf");
    EXPECT_EQ(wp::push_target_path("~/etc/x.conf", "ipsec.conf"), "etc/x.conf");
    EXPECT_EQ(wp::push_target_path("/etc/", "a/ipsec.conf"), "/etc/ipsec.conf");
}

TEST(RunallActions, LocalEnvironmentReplacesOurVariables) {
    const char* base[] = {"PATH=/bin", "WP_HOST=stale", "WP_PORTX=keep", "WP_USER=old", nullptr};
    auto s = server("tor1");
    s.port = 2201;
    EXPECT_EQ(wp::local_command_environment(base, s, "proxy"),
              (std::vector<std::string>{"PATH=/bin", "WP_PORTX=keep", "WP_HOST=tor1", "WP_ADDRESS=192.0.2.1",
                                        "WP_PORT=2201", "WP_USER=proxy"}));
    EXPECT_EQ(wp::local_command_environment(base, s, "").size(), 5u);
}

TEST(RunallActions, LocalCommandMustBeRunnable) {
    EXPECT_EQ(wp::resolve_local_command("sh").back(), 'h');
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("/nonexistent/wp-x"); }), 66);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("wp-no-such-command-here"); }), 66);
    EXPECT_EQ(exit_code_of([] { wp::resolve_local_command("/etc/passwd"); }), 77);
}

TEST(RunallActions, LocalRunnerGivesHostAsFirstArgumentAndEnvironment) {
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
    EXPECT_EQ(r.outcome, wp::RunOutcome::failed);
    EXPECT_EQ(r.exit_status, 5);
    EXPECT_TRUE(r.command_ran);
}

TEST(RunallActions, LocalRunnerTimeoutEndsTheCommandAndItsChildren) {
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
        EXPECT_EQ(r.outcome, wp::RunOutcome::timed_out) << interactive;
        EXPECT_EQ(r.cause, "timed out after 1 s");
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
