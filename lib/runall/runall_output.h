#pragma once
// wp-runall's view of a run: what happened on each host, how the hosts'
// output reaches the terminal or files, the closing summary and exit status.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/host_status.h"

namespace wp {

/// One host's result: its turn as every fan-out tool reports it (a command
/// that exited non-zero is command_failed, a failed push failed), and what
/// the command itself did.
struct RunResult {
    HostResult host;
    bool command_ran = false; ///< the command started: its output and status mean something
    int exit_status = -1;     ///< -1: none (signal, timeout, never ran)
    std::string exit_signal;  ///< "TERM", empty when none
};

/// Short text of a host's result for headers and host.rc: "exit status 3",
/// "killed by signal TERM", "timed out", … (empty for ok).
std::string outcome_label(const RunResult& run);

/// Splits a host's output into whole lines, each prefixed "host: ". A
/// partial line waits for the rest, so lines of parallel hosts never mix.
class LinePrefixer {
public:
    explicit LinePrefixer(std::string prefix) : m_prefix(std::move(prefix)) {}
    /// The complete lines data finishes, prefixed; the rest is kept.
    std::string feed(std::string_view data);
    /// The kept partial line, prefixed and ended with a newline ("" if none).
    std::string finish();

private:
    std::string m_prefix;
    std::string m_partial;
};

/// Hosts whose command printed the same standard output and ended the same way.
struct OutputGroup {
    std::vector<std::string> hosts; ///< in selection order
    std::string label;              ///< outcome_label: "" for a clean exit
    std::string output;
};

/// Groups hosts by (standard output, outcome label), in order of first host;
/// hosts whose command never ran are left out (the summary names them).
/// outputs[i] belongs to runs[i].
std::vector<OutputGroup> gather_outputs(const std::vector<RunResult>& runs, const std::vector<std::string>& outputs);

/// The gathered view: "== host[1,3] (2) ==", the hosts folded into ranges
/// and counted (", exit status 1" after the count when not clean), then the
/// group's output, newline-terminated.
std::string format_groups(const std::vector<OutputGroup>& groups);

/// The exit status of a run: 0 when every host that was run succeeded
/// (hosts skipped as down do not count against it), 69 when hosts were
/// selected and none could be reached (all unreachable or down), else 1.
int runall_exit_status(const std::vector<RunResult>& runs);

/// The closing summary, one line each: a count line, then one line per host
/// that was not ok ("failed: host2: exit status 3"). Empty when all were ok.
std::vector<std::string> summary_lines(const std::vector<RunResult>& runs);

/// Where a host's output goes as it arrives.
class HostSink {
public:
    virtual ~HostSink() = default;
    virtual void out(std::string_view data) = 0;
    virtual void err(std::string_view data) = 0;
};

/// How RunOutput shows the hosts' output.
struct OutputSettings {
    bool prefixed = false; ///< parallel: "host: line" on both streams; else a header per host, output as is
    bool gather = false;   ///< collect standard output and print groups at the end
    std::string outdir;    ///< write host.out, host.err, host.rc here instead of the terminal
    std::FILE* out = stdout;
    std::FILE* err = stderr;
};

/// Sends each host's output where OutputSettings say, whole lines at a time
/// when hosts run in parallel. Safe to call from one thread per host.
class RunOutput {
public:
    RunOutput(OutputSettings settings, std::vector<std::string> hosts);
    ~RunOutput();
    RunOutput(const RunOutput&) = delete;
    RunOutput& operator=(const RunOutput&) = delete;

    /// Host i starts (the serial header).
    void begin(std::size_t i);
    /// The sink for host i's output; valid while this object lives.
    HostSink& sink(std::size_t i);
    /// Host i is done: partial lines are flushed, --outdir files committed.
    /// Also called for hosts that never began (skipped, not run).
    void end(std::size_t i, const RunResult& run);
    /// After every host: prints the gathered groups, if gathering.
    void finish(const std::vector<RunResult>& runs);

private:
    struct Host;
    void write(std::FILE* stream, std::string_view data);

    OutputSettings m_settings;
    std::vector<std::unique_ptr<Host>> m_hosts;
    std::mutex m_mutex;
};

} // namespace wp
