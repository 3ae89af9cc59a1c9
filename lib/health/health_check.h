#pragma once
// The monitoring check of the pipeline: the facts judged against thresholds,
// written as a monitoring plugin's status line with perfdata, and as
// node_exporter textfile metrics.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "health/pipeline_facts.h"

namespace wp {

/// A monitoring plugin's status, its exit status too.
enum class CheckStatus { ok = 0, warning = 1, critical = 2, unknown = 3 };

/// "OK", "WARNING", "CRITICAL", "UNKNOWN".
std::string_view check_status_word(CheckStatus status);

/// A value reaching warn is WARNING, reaching crit CRITICAL; an empty one is
/// not judged.
struct Threshold {
    std::optional<std::int64_t> warn;
    std::optional<std::int64_t> crit;
};

/// The thresholds, durations in milliseconds.
struct CheckThresholds {
    Threshold fetch_age{7'200'000, 21'600'000}; ///< since the last fetch (or the server's adding)
    Threshold failures{1, 3};                   ///< consecutive failures
    Threshold clock{2'000, 10'000};             ///< |clock offset|
    Threshold spool_files{};
    Threshold spool_bytes{};
    Threshold spool_age{7'200'000, 21'600'000};   ///< the oldest spool file's age
    Threshold rejects_held{1, std::nullopt};      ///< files held for their rejects
    Threshold summary_age{7'200'000, 21'600'000}; ///< the oldest ingest not in the summary
};

/// A clock reading older than this (ms) is not judged: the host has not been
/// read since, which the fetch age tells.
inline constexpr std::int64_t k_clock_reading_max_age_ms = 86'400'000;

/// What a threshold option's value is.
enum class ThresholdKind {
    duration, ///< `90m`, `2h`, `1.5s`, `500ms`, `1d`; a bare number is seconds
    count,    ///< a whole number
    size,     ///< `10MiB`, `500 kB`, bytes (base/units parse_size)
};

/// A threshold option's value, or empty for `none`; Error(64) naming the
/// option when it is neither.
std::optional<std::int64_t> parse_threshold(ThresholdKind kind, std::string_view option, std::string_view text);

/// Checks that warn does not exceed crit where both are set: Error(64) naming
/// the options and their values as written, e.g. "--warn-fetch-age 8h is
/// above --crit-fetch-age 6h".
void check_threshold_order(const Threshold& t, std::string_view name, std::string_view warn_text,
                           std::string_view crit_text);

/// The check's verdict: its status and its one line, perfdata after `|`.
struct CheckVerdict {
    CheckStatus status = CheckStatus::unknown;
    std::string line;
};

/// Judges the facts: the worst item first, at most five names per part.
CheckVerdict judge_pipeline(const PipelineFacts& facts, const CheckThresholds& thresholds);

/// The facts as node_exporter textfile metrics (`wp_` prefix, units in the
/// names), with wp_check_status = status.
std::string prometheus_metrics(const PipelineFacts& facts, CheckStatus status);

/// A label value escaped as the exposition format wants (\\, \", \n).
std::string prometheus_label_value(std::string_view value);

/// `45s`, `40m`, `7h`, `3d` (rounded down; up to 119 of a unit before the next).
std::string short_age(std::int64_t seconds);

} // namespace wp
