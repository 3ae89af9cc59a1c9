#include "runall/runall_output.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/host_range.h"
#include "store/inventory.h"

namespace wp {

namespace {

// The one set of words for the outcomes a run reports, in the summary's
// order: what the summary calls each, and the word host.rc holds when the
// command gave no exit status (single words, for scripts that read it).
// Headers and gathered groups use store's outcome_word.
struct OutcomeWords {
    HostOutcome outcome;
    std::string_view summary;
    std::string_view rc;
};
constexpr OutcomeWords k_outcome_words[] = {
    {HostOutcome::command_failed, "failed", "failed"}, {HostOutcome::failed, "failed", "failed"},
    {HostOutcome::timed_out, "timed out", "timeout"},  {HostOutcome::unreachable, "unreachable", "unreachable"},
    {HostOutcome::down, "skipped as down", "down"},    {HostOutcome::interrupted, "interrupted", "interrupted"},
    {HostOutcome::not_run, "not run", "not-run"},
};

const OutcomeWords* words_of(HostOutcome outcome) {
    for (const auto& w : k_outcome_words) {
        if (w.outcome == outcome) {
            return &w;
        }
    }
    return nullptr; // ok
}

bool is_failure(HostOutcome outcome) {
    return outcome == HostOutcome::command_failed || outcome == HostOutcome::failed;
}

} // namespace

std::string outcome_label(const RunResult& run) {
    if (run.host.outcome == HostOutcome::ok) {
        return {};
    }
    if (!is_failure(run.host.outcome)) {
        return std::string(outcome_word(run.host.outcome));
    }
    if (run.command_ran && !run.exit_signal.empty()) {
        return fmt::format("killed by signal {}", run.exit_signal);
    }
    if (run.command_ran && run.exit_status >= 0) {
        return fmt::format("exit status {}", run.exit_status);
    }
    const std::string why = run.host.message();
    return why.empty() ? std::string("failed") : why;
}

std::string LinePrefixer::feed(std::string_view data) {
    std::string out;
    for (;;) {
        const auto nl = data.find('\n');
        if (nl == std::string_view::npos) {
            m_partial.append(data);
            return out;
        }
        out += m_prefix;
        out += m_partial;
        out.append(data.substr(0, nl + 1));
        m_partial.clear();
        data.remove_prefix(nl + 1);
    }
}

std::string LinePrefixer::finish() {
    if (m_partial.empty()) {
        return {};
    }
    std::string out = m_prefix + m_partial + "\n";
    m_partial.clear();
    return out;
}

std::vector<OutputGroup> gather_outputs(const std::vector<RunResult>& runs, const std::vector<std::string>& outputs) {
    std::vector<OutputGroup> groups;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const RunResult& run = runs[i];
        if (!run.command_ran) {
            continue;
        }
        const std::string label = outcome_label(run);
        const std::string& output = i < outputs.size() ? outputs[i] : std::string();
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const OutputGroup& g) { return g.label == label && g.output == output; });
        if (it == groups.end()) {
            groups.push_back({{run.host.server}, label, output});
        } else {
            it->hosts.push_back(run.host.server);
        }
    }
    return groups;
}

std::string format_groups(const std::vector<OutputGroup>& groups) {
    std::string text;
    for (const auto& g : groups) {
        text += fmt::format("== {} ({}{}) ==\n", fold_host_names(g.hosts), g.hosts.size(),
                            g.label.empty() ? "" : ", " + g.label);
        text += g.output;
        if (!g.output.empty() && g.output.back() != '\n') {
            text += '\n';
        }
    }
    return text;
}

int runall_exit_status(const std::vector<RunResult>& runs) {
    if (runs.empty()) {
        return exit_code::k_ok;
    }
    const bool none_reached = std::all_of(runs.begin(), runs.end(), [](const RunResult& r) {
        return r.host.outcome == HostOutcome::unreachable || r.host.outcome == HostOutcome::down;
    });
    if (none_reached) {
        return exit_code::k_unavailable;
    }
    const bool all_fine = std::all_of(runs.begin(), runs.end(), [](const RunResult& r) {
        return r.host.outcome == HostOutcome::ok || r.host.outcome == HostOutcome::down;
    });
    return all_fine ? exit_code::k_ok : exit_code::k_partial;
}

std::vector<std::string> summary_lines(const std::vector<RunResult>& runs) {
    auto ok = [](const RunResult& r) { return r.host.outcome == HostOutcome::ok; };
    const auto n_ok = std::count_if(runs.begin(), runs.end(), ok);
    if (n_ok == static_cast<std::ptrdiff_t>(runs.size())) {
        return {};
    }
    // The summary's categories in order, each once (two outcomes read "failed").
    std::vector<std::string_view> categories;
    for (const auto& w : k_outcome_words) {
        if (std::find(categories.begin(), categories.end(), w.summary) == categories.end()) {
            categories.push_back(w.summary);
        }
    }
    auto in = [](const RunResult& r, std::string_view category) {
        const OutcomeWords* w = words_of(r.host.outcome);
        return w != nullptr && w->summary == category;
    };
    std::string head = fmt::format("{} host{}: {} ok", runs.size(), runs.size() == 1 ? "" : "s", n_ok);
    for (const auto category : categories) {
        const auto n = std::count_if(runs.begin(), runs.end(), [&](const RunResult& r) { return in(r, category); });
        if (n > 0) {
            head += fmt::format(", {} {}", n, category);
        }
    }
    std::vector<std::string> lines{head};
    for (const auto category : categories) {
        for (const auto& r : runs) {
            if (in(r, category)) {
                const std::string why = r.host.message();
                lines.push_back(why.empty() ? fmt::format("{}: {}", category, r.host.server)
                                            : fmt::format("{}: {}: {}", category, r.host.server, why));
            }
        }
    }
    return lines;
}

namespace {

// host.rc: the exit status when the command exited, else one word saying why not.
std::string rc_text(const RunResult& run) {
    const HostOutcome outcome = run.host.outcome;
    if (run.command_ran && run.exit_status >= 0 && run.exit_signal.empty() &&
        (outcome == HostOutcome::ok || is_failure(outcome))) {
        return std::to_string(run.exit_status);
    }
    if (outcome == HostOutcome::ok) {
        return "0";
    }
    if (is_failure(outcome) && run.command_ran && !run.exit_signal.empty()) {
        return "signal " + run.exit_signal;
    }
    const OutcomeWords* w = words_of(outcome);
    return std::string(w != nullptr ? w->rc : "failed");
}

} // namespace

struct RunOutput::Host : HostSink {
    RunOutput& owner;
    std::size_t index;
    std::string name;
    LinePrefixer out_lines;
    LinePrefixer err_lines;
    std::string gathered;
    std::optional<AtomicFile> out_file;
    std::optional<AtomicFile> err_file;
    char out_last = '\n'; // last byte written as is (serial), so the next header starts a line
    char err_last = '\n';

    Host(RunOutput& o, std::size_t i, std::string n)
        : owner(o), index(i), name(std::move(n)), out_lines(name + ": "), err_lines(name + ": ") {}

    void open_files() {
        if (out_file) {
            return;
        }
        // Inventory names are validated already; a path is built from this
        // one, so it is checked again here.
        if (const auto why = check_server_name(name); !why.empty()) {
            fail(exit_code::k_data, "cannot write output of host {}: {}", name, why);
        }
        const std::string base = owner.m_settings.outdir + "/" + name;
        out_file.emplace(base + ".out", 0600);
        err_file.emplace(base + ".err", 0600);
    }

    void out(std::string_view data) override {
        const auto& s = owner.m_settings;
        if (!s.outdir.empty()) {
            open_files();
            out_file->write(data);
        }
        if (s.gather) {
            gathered.append(data);
        } else if (!s.outdir.empty()) {
            // files only
        } else if (s.prefixed) {
            owner.write(s.out, out_lines.feed(data));
        } else if (!data.empty()) {
            owner.write(s.out, data);
            out_last = data.back();
        }
    }

    void err(std::string_view data) override {
        const auto& s = owner.m_settings;
        if (!s.outdir.empty()) {
            open_files();
            err_file->write(data);
        } else if (s.prefixed || s.gather) {
            owner.write(s.err, err_lines.feed(data));
        } else if (!data.empty()) {
            owner.write(s.err, data);
            err_last = data.back();
        }
    }
};

RunOutput::RunOutput(OutputSettings settings, std::vector<std::string> hosts) : m_settings(std::move(settings)) {
    m_hosts.reserve(hosts.size());
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        m_hosts.push_back(std::make_unique<Host>(*this, i, std::move(hosts[i])));
    }
}

RunOutput::~RunOutput() = default;

void RunOutput::write(std::FILE* stream, std::string_view data) {
    if (data.empty()) {
        return;
    }
    std::lock_guard lock(m_mutex);
    std::fwrite(data.data(), 1, data.size(), stream);
    std::fflush(stream);
}

void RunOutput::begin(std::size_t i) {
    Host& h = *m_hosts.at(i);
    if (!m_settings.outdir.empty()) {
        h.open_files();
    } else if (!m_settings.prefixed && !m_settings.gather) {
        write(m_settings.out, fmt::format("== {} ==\n", h.name));
    }
}

HostSink& RunOutput::sink(std::size_t i) {
    return *m_hosts.at(i);
}

void RunOutput::end(std::size_t i, const RunResult& run) {
    Host& h = *m_hosts.at(i);
    if (!m_settings.outdir.empty()) {
        h.open_files();
        if (const std::string why = run.host.message(); !run.command_ran && !why.empty()) {
            h.err_file->write(why + "\n");
        }
        atomic_write_file(m_settings.outdir + "/" + h.name + ".rc", rc_text(run) + "\n", 0600);
        h.out_file->commit();
        h.err_file->commit();
        return;
    }
    if (m_settings.prefixed || m_settings.gather) {
        write(m_settings.out, h.out_lines.finish());
        write(m_settings.err, h.err_lines.finish());
    } else {
        if (h.out_last != '\n') {
            write(m_settings.out, "\n");
        }
        if (h.err_last != '\n') {
            write(m_settings.err, "\n");
        }
    }
}

void RunOutput::finish(const std::vector<RunResult>& runs) {
    if (!m_settings.gather) {
        return;
    }
    std::vector<std::string> outputs;
    outputs.reserve(m_hosts.size());
    for (const auto& h : m_hosts) {
        outputs.push_back(h->gathered);
    }
    write(m_settings.out, format_groups(gather_outputs(runs, outputs)));
}

} // namespace wp
