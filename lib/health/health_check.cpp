#include "health/health_check.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/units.h"

namespace wp {

namespace {

constexpr std::size_t k_names_shown = 5;

CheckStatus level_of(std::int64_t value, const Threshold& t) {
    if (t.crit && value >= *t.crit) {
        return CheckStatus::critical;
    }
    if (t.warn && value >= *t.warn) {
        return CheckStatus::warning;
    }
    return CheckStatus::ok;
}

// Milliseconds as seconds: `30`, `2.5`, `-0.125`.
std::string seconds_text(std::int64_t ms) {
    const std::string sign = ms < 0 ? "-" : "";
    const std::int64_t a = ms < 0 ? -ms : ms;
    if (a % 1000 == 0) {
        return fmt::format("{}{}", sign, a / 1000);
    }
    std::string frac = fmt::format("{:03}", a % 1000);
    while (frac.back() == '0') {
        frac.pop_back();
    }
    return fmt::format("{}{}.{}", sign, a / 1000, frac);
}

// A clock offset for people: `+30.0 s`, `-2.5 s`.
std::string offset_text(std::int64_t ms) {
    const std::int64_t tenths = ((ms < 0 ? -ms : ms) + 50) / 100;
    return fmt::format("{}{}.{} s", ms < 0 ? '-' : '+', tenths / 10, tenths % 10);
}

std::string optional_text(const std::optional<std::int64_t>& v, std::int64_t scale = 1) {
    if (!v) {
        return "";
    }
    return scale == 1000 ? seconds_text(*v) : fmt::format("{}", *v);
}

// 'label'=value[UOM];warn;crit;min[;max], thresholds in the value's unit,
// as ranges of the plugin guidelines: the check alerts when a value reaches
// its threshold, which is `@N:` (inside N to infinity), not `N` (above N).
std::string perf(std::string_view label, std::string_view value, std::string_view unit, const Threshold& t, bool ms,
                 std::string_view max = {}) {
    auto limit = [&](const std::optional<std::int64_t>& v) -> std::string {
        if (!v) {
            return "";
        }
        return fmt::format("@{}:", ms ? optional_text(v, 1000) : optional_text(v));
    };
    std::string out = fmt::format("'{}'={}{};{};{};0", label, value, unit, limit(t.warn), limit(t.crit));
    if (!max.empty()) {
        out += fmt::format(";{}", max);
    }
    return out;
}

// At most k_names_shown items, then how many more.
std::string bounded_list(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < k_names_shown; ++i) {
        out += (i == 0 ? "" : ", ") + items[i];
    }
    if (items.size() > k_names_shown) {
        out += fmt::format(", +{} more", items.size() - k_names_shown);
    }
    return out;
}

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

struct Part {
    CheckStatus level = CheckStatus::ok;
    std::string text;
};

std::int64_t fetch_age(const ServerFacts& s, std::int64_t now) {
    return std::max<std::int64_t>(0, now - s.last_fetch.value_or(s.added_at));
}

// The servers whose value (none: not judged) reaches a threshold, the
// highest first, as one part: head(count, "name value, …") at the level of
// the highest.
template <typename Value, typename Item, typename Head>
void add_server_part(std::vector<Part>& parts, const std::vector<ServerFacts>& servers, const Threshold& t, Value value,
                     Item item, Head head) {
    std::vector<std::pair<std::int64_t, const ServerFacts*>> hit;
    for (const auto& s : servers) {
        if (const auto v = value(s); v && level_of(*v, t) != CheckStatus::ok) {
            hit.emplace_back(*v, &s);
        }
    }
    if (hit.empty()) {
        return;
    }
    std::stable_sort(hit.begin(), hit.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> items;
    for (const auto& [v, s] : hit) {
        items.push_back(item(*s));
    }
    parts.push_back({level_of(hit.front().first, t), head(hit.size(), bounded_list(items))});
}

bool clock_judged(const ServerFacts& s, std::int64_t now) {
    return s.clock && (now - s.clock->measured_at) * 1000 <= k_clock_reading_max_age_ms;
}

std::int64_t abs64(std::int64_t v) {
    return v < 0 ? -v : v;
}

std::optional<std::int64_t> lowest(const Threshold& t) {
    return t.warn ? t.warn : t.crit;
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
    std::size_t i = 0;
    std::int64_t whole = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 12) {
        whole = whole * 10 + (text[i] - '0');
        ++i;
    }
    if (i == 0) {
        return std::nullopt;
    }
    std::int64_t frac = 0;
    int decimals = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9' && decimals < 3) {
            frac = frac * 10 + (text[i] - '0');
            ++decimals;
            ++i;
        }
        if (decimals == 0) {
            return std::nullopt;
        }
    }
    for (int d = decimals; d < 3; ++d) {
        frac *= 10;
    }
    const std::string_view unit = text.substr(i);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1000;
    } else if (unit == "ms") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else if (unit == "d") {
        scale = 86'400'000;
    } else {
        return std::nullopt;
    }
    const std::int64_t ms = whole * 1000 + frac;
    if (scale == 1 && frac != 0) {
        return std::nullopt; // no fraction of a millisecond
    }
    return scale == 1 ? whole : ms * (scale / 1000);
}

} // namespace

std::string_view check_status_word(CheckStatus status) {
    switch (status) {
    case CheckStatus::ok:
        return "OK";
    case CheckStatus::warning:
        return "WARNING";
    case CheckStatus::critical:
        return "CRITICAL";
    case CheckStatus::unknown:
        break;
    }
    return "UNKNOWN";
}

std::string short_age(std::int64_t seconds) {
    if (seconds < 120) {
        return fmt::format("{}s", seconds);
    }
    if (seconds < 120 * 60) {
        return fmt::format("{}m", seconds / 60);
    }
    if (seconds < 48 * 3600) {
        return fmt::format("{}h", seconds / 3600);
    }
    return fmt::format("{}d", seconds / 86400);
}

std::optional<std::int64_t> parse_threshold(ThresholdKind kind, std::string_view option, std::string_view text) {
    if (text == "none") {
        return std::nullopt;
    }
    switch (kind) {
    case ThresholdKind::duration:
        if (auto ms = parse_duration_ms(text)) {
            return ms;
        }
        fail(exit_code::k_usage, "{}: '{}' is not a duration (e.g. 90m, 2h, 1.5s, 500ms) or none", option,
             escape_control(text));
    case ThresholdKind::count: {
        std::int64_t n = 0;
        const bool digits = !text.empty() && text.size() <= 12 &&
                            std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits) {
            for (const char c : text) {
                n = n * 10 + (c - '0');
            }
            return n;
        }
        fail(exit_code::k_usage, "{}: '{}' is not a whole number or none", option, escape_control(text));
    }
    case ThresholdKind::size: {
        std::string why;
        if (auto bytes = parse_size(text, why)) {
            return bytes;
        }
        fail(exit_code::k_usage, "{}: {}", option, why);
    }
    }
    fail(exit_code::k_software, "{}: unknown kind of threshold", option);
}

void check_threshold_order(const Threshold& t, std::string_view name, std::string_view warn_text,
                           std::string_view crit_text) {
    if (t.warn && t.crit && *t.warn > *t.crit) {
        fail(exit_code::k_usage, "--warn-{} {} is above --crit-{} {}", name, escape_control(warn_text), name,
             escape_control(crit_text));
    }
}

CheckVerdict judge_pipeline(const PipelineFacts& f, const CheckThresholds& t) {
    const std::int64_t now = f.now;
    const std::int64_t total = static_cast<std::int64_t>(f.servers.size());
    std::vector<Part> parts;

    // Servers not fetched, the longest first.
    std::int64_t max_fetch_age = 0;
    std::size_t stale = 0;
    for (const auto& s : f.servers) {
        max_fetch_age = std::max(max_fetch_age, fetch_age(s, now));
        stale += level_of(fetch_age(s, now) * 1000, t.fetch_age) != CheckStatus::ok ? 1 : 0;
    }
    add_server_part(
        parts, f.servers, t.fetch_age, [&](const ServerFacts& s) { return std::optional(fetch_age(s, now) * 1000); },
        [&](const ServerFacts& s) { return s.name + " " + (s.last_fetch ? short_age(fetch_age(s, now)) : "never"); },
        [&](std::size_t n, const std::string& list) {
            return fmt::format("{} of {} not fetched for {} ({})", n, plural(total, "server", "servers"),
                               short_age(*lowest(t.fetch_age) / 1000), list);
        });

    // Consecutive failures, the most first.
    std::int64_t max_failures = 0;
    for (const auto& s : f.servers) {
        max_failures = std::max(max_failures, s.consecutive_failures);
    }
    add_server_part(
        parts, f.servers, t.failures, [](const ServerFacts& s) { return std::optional(s.consecutive_failures); },
        [](const ServerFacts& s) { return fmt::format("{} {}", s.name, s.consecutive_failures); },
        [](std::size_t, const std::string& list) { return fmt::format("consecutive failures: {}", list); });

    // Clocks read lately, the furthest off first.
    std::int64_t max_offset = 0;
    const auto offset_of = [&](const ServerFacts& s) -> std::optional<std::int64_t> {
        if (!clock_judged(s, now)) {
            return std::nullopt;
        }
        return abs64(s.clock->offset_ms);
    };
    for (const auto& s : f.servers) {
        max_offset = std::max(max_offset, offset_of(s).value_or(0));
    }
    add_server_part(
        parts, f.servers, t.clock, offset_of,
        [](const ServerFacts& s) { return fmt::format("{} {}", s.name, offset_text(s.clock->offset_ms)); },
        [](std::size_t, const std::string& list) { return fmt::format("clock: {}", list); });

    // The spool's backlog.
    const auto& sp = f.spool;
    const std::int64_t spool_age = sp.oldest_mtime ? std::max<std::int64_t>(0, now - *sp.oldest_mtime) : 0;
    const CheckStatus spool_level =
        std::max({level_of(sp.files, t.spool_files), level_of(sp.bytes, t.spool_bytes),
                  sp.oldest_mtime ? level_of(spool_age * 1000, t.spool_age) : CheckStatus::ok});
    const std::string spool_text = sp.files == 0
                                       ? "spool empty"
                                       : fmt::format("spool: {}, {}, oldest {}", plural(sp.files, "file", "files"),
                                                     human_size(sp.bytes, SizeUnits::iec), short_age(spool_age));
    if (spool_level != CheckStatus::ok) {
        parts.push_back({spool_level, spool_text});
    }

    const CheckStatus held_level = level_of(sp.held_files, t.rejects_held);
    if (held_level != CheckStatus::ok) {
        parts.push_back({held_level, fmt::format("{} held for rejects ({})", plural(sp.held_files, "file", "files"),
                                                 human_size(sp.held_bytes, SizeUnits::iec))});
    }

    // The summary behind the ingest.
    const auto& sum = f.summary;
    const std::int64_t lag = sum.pending_since ? std::max<std::int64_t>(0, now - *sum.pending_since) : 0;
    const CheckStatus lag_level = sum.pending_since ? level_of(lag * 1000, t.summary_age) : CheckStatus::ok;
    const std::string summary_text =
        sum.pending_since ? fmt::format("summary {} behind the ingest", short_age(lag)) : "summary current";
    if (lag_level != CheckStatus::ok) {
        parts.push_back({lag_level, summary_text});
    }

    CheckStatus status = CheckStatus::ok;
    std::string text;
    if (parts.empty()) {
        text = fmt::format("{}, longest without a fetch {}; {}; {}", plural(total, "server", "servers"),
                           short_age(max_fetch_age), spool_text, summary_text);
    } else {
        std::stable_sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.level > b.level; });
        status = parts.front().level;
        for (const auto& p : parts) {
            text += (text.empty() ? "" : "; ") + p.text;
        }
    }

    std::vector<std::string> perfs = {
        fmt::format("'servers'={};;;0", total),
        fmt::format("'stale_servers'={};;;0;{}", stale, total),
        perf("fetch_age", fmt::format("{}", max_fetch_age), "s", t.fetch_age, true),
        perf("failures", fmt::format("{}", max_failures), "", t.failures, false),
        perf("clock_offset", seconds_text(max_offset), "s", t.clock, true),
        perf("spool_files", fmt::format("{}", sp.files), "", t.spool_files, false),
        perf("spool_bytes", fmt::format("{}", sp.bytes), "B", t.spool_bytes, false),
        perf("spool_age", fmt::format("{}", spool_age), "s", t.spool_age, true),
        perf("rejects_held", fmt::format("{}", sp.held_files), "", t.rejects_held, false),
        perf("summary_lag", fmt::format("{}", lag), "s", t.summary_age, true),
    };
    std::string perfdata;
    for (const auto& p : perfs) {
        perfdata += (perfdata.empty() ? "" : " ") + p;
    }
    return {status, fmt::format("WP {} - {} | {}", check_status_word(status), text, perfdata)};
}

std::string prometheus_label_value(std::string_view value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string prometheus_metrics(const PipelineFacts& f, CheckStatus status) {
    std::string out;
    auto family = [&](std::string_view name, std::string_view help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    };
    auto single = [&](std::string_view name, std::string_view help, std::string_view value) {
        family(name, help);
        out += fmt::format("{} {}\n", name, value);
    };
    auto optional_single = [&](std::string_view name, std::string_view help, const std::optional<std::int64_t>& v) {
        if (v) {
            single(name, help, fmt::format("{}", *v));
        }
    };
    // One family over the servers that have the value.
    auto per_server = [&](std::string_view name, std::string_view help,
                          const auto& value) { // value(server) -> optional<string>
        bool any = false;
        for (const auto& s : f.servers) {
            if (const std::optional<std::string> v = value(s)) {
                if (!any) {
                    family(name, help);
                    any = true;
                }
                out += fmt::format("{}{{server=\"{}\"}} {}\n", name, prometheus_label_value(s.name), *v);
            }
        }
    };
    using Text = std::optional<std::string>;
    auto number = [](std::int64_t v) { return Text(fmt::format("{}", v)); };

    single("wp_check_status", "The pipeline check's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
           fmt::format("{}", static_cast<int>(status)));
    single("wp_check_timestamp_seconds", "When the check read the facts.", fmt::format("{}", f.now));
    single("wp_servers_active", "Active servers that are not retired.", fmt::format("{}", f.servers.size()));
    per_server("wp_server_added_timestamp_seconds", "When the server was added to the inventory.",
               [&](const ServerFacts& s) { return number(s.added_at); });
    per_server("wp_server_last_fetch_timestamp_seconds",
               "When wp-fetchlogs last fetched from the server (absent: never).",
               [&](const ServerFacts& s) { return s.last_fetch ? number(*s.last_fetch) : Text(); });
    per_server("wp_server_consecutive_failures", "Failed contacts with the server since its last good one.",
               [&](const ServerFacts& s) { return number(s.consecutive_failures); });
    per_server("wp_server_clock_offset_seconds", "The server's clock minus ours, as last read.",
               [&](const ServerFacts& s) { return s.clock ? Text(seconds_text(s.clock->offset_ms)) : Text(); });
    per_server("wp_server_clock_uncertainty_seconds",
               "The uncertainty of the last clock reading (half its round trip).",
               [&](const ServerFacts& s) { return s.clock ? Text(seconds_text(s.clock->uncertainty_ms)) : Text(); });
    per_server("wp_server_clock_measured_timestamp_seconds", "When the server's clock was last read.",
               [&](const ServerFacts& s) { return s.clock ? number(s.clock->measured_at) : Text(); });
    single("wp_spool_files", "Log files in the spool waiting for wp-parse (held files aside).",
           fmt::format("{}", f.spool.files));
    single("wp_spool_bytes", "Bytes of the log files waiting in the spool.", fmt::format("{}", f.spool.bytes));
    optional_single("wp_spool_oldest_file_timestamp_seconds",
                    "Modification time of the oldest log file waiting in the spool.", f.spool.oldest_mtime);
    single("wp_rejects_held_files", "Spool files wp-parse holds for their rejected lines.",
           fmt::format("{}", f.spool.held_files));
    single("wp_rejects_held_bytes", "Bytes of the spool files held for their rejected lines.",
           fmt::format("{}", f.spool.held_bytes));
    optional_single("wp_rollup_refreshed_timestamp_seconds", "When wp-rollup last refreshed the summary.",
                    f.summary.refreshed_at);
    optional_single("wp_ingest_last_timestamp_seconds", "When wp-parse last billed a file.", f.summary.last_ingest);
    optional_single("wp_rollup_pending_ingest_timestamp_seconds",
                    "When the oldest ingest the summary has not taken in was made.", f.summary.pending_since);
    return out;
}

} // namespace wp
