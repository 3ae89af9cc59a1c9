#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "runall/runall_output.h"
#include "support/tmpdir.h"

namespace {

wp::RunResult run_of(const std::string& host, wp::HostOutcome outcome, int status = -1, std::string cause = {}) {
    wp::RunResult r;
    r.host.server = host;
    r.host.outcome = outcome;
    r.exit_status = status;
    r.command_ran = status >= 0;
    r.host.cause = std::move(cause);
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

} // namespace

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
    std::vector<wp::RunResult> runs = {
        run_of("h1", wp::HostOutcome::ok, 0),
        run_of("h2", wp::HostOutcome::command_failed, 1, "exit status 1: boom"),
        run_of("h3", wp::HostOutcome::ok, 0),
        run_of("h4", wp::HostOutcome::unreachable, -1, "connect: Connection refused"),
        run_of("h5", wp::HostOutcome::command_failed, 1, "exit status 1"),
        run_of("h6", wp::HostOutcome::ok, 0),
        run_of("h7", wp::HostOutcome::timed_out),
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
    EXPECT_EQ(wp::format_groups(groups), "== h[1,3] (2) ==\nsame\n== h[2,5] (2, exit status 1) ==\nsame\n== h6 (1) ==\n"
                                         "other\n== h7 (1, timed out) ==\nsame\n");
}

TEST(RunallOutput, OutcomeLabels) {
    auto signalled = run_of("h", wp::HostOutcome::command_failed, -1, "killed by signal TERM");
    signalled.command_ran = true;
    signalled.exit_signal = "TERM";
    EXPECT_EQ(wp::outcome_label(signalled), "killed by signal TERM");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::HostOutcome::command_failed, 3, "exit status 3: x")), "exit status 3");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::HostOutcome::failed, -1, "host key: changed")), "host key: changed");
    EXPECT_EQ(wp::outcome_label(run_of("h", wp::HostOutcome::ok, 0)), "");
}

TEST(RunallOutput, ExitStatus) {
    using O = wp::HostOutcome;
    auto status = [](std::initializer_list<O> outcomes) {
        std::vector<wp::RunResult> runs;
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
    EXPECT_TRUE(wp::summary_lines({run_of("a", wp::HostOutcome::ok, 0)}).empty());
    const std::vector<wp::RunResult> runs = {
        run_of("a", wp::HostOutcome::ok, 0),
        run_of("b", wp::HostOutcome::unreachable, -1, "connect: Connection refused"),
        run_of("c", wp::HostOutcome::command_failed, 2, "exit status 2"),
        run_of("d", wp::HostOutcome::down, -1, "state 2 in the status file"),
        run_of("e", wp::HostOutcome::timed_out, -1, "timed out after 2 s"),
        run_of("f", wp::HostOutcome::command_failed, 1, "exit status 1: no such file"),
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
    output.end(0, run_of("h1", wp::HostOutcome::ok, 0));
    output.begin(1);
    output.sink(1).out("x\n");
    output.end(1, run_of("h2", wp::HostOutcome::ok, 0));
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
    output.end(1, run_of("h2", wp::HostOutcome::ok, 0));
    output.end(0, run_of("h1", wp::HostOutcome::ok, 0));
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
    std::vector<wp::RunResult> runs = {run_of("h1", wp::HostOutcome::ok, 0),
                                       run_of("h2", wp::HostOutcome::command_failed, 1),
                                       run_of("h3", wp::HostOutcome::ok, 0)};
    for (std::size_t i = 0; i < 3; ++i) {
        output.begin(i);
        output.sink(i).out("same\n");
        output.end(i, runs[i]);
    }
    output.sink(1).err("why\n");
    EXPECT_EQ(out.text(), "");
    output.finish(runs);
    EXPECT_EQ(out.text(), "== h[1,3] (2) ==\nsame\n== h2 (1, exit status 1) ==\nsame\n");
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
    output.end(0, run_of("h1", wp::HostOutcome::command_failed, 3, "exit status 3: warning"));
    output.begin(1);
    output.end(1, run_of("h2", wp::HostOutcome::unreachable, -1, "connect: Connection refused"));
    output.end(2, run_of("h3", wp::HostOutcome::down, -1, "3 consecutive failures"));
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
