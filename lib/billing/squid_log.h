#pragma once
// Squid access-log grammar: the native format, "common", "combined" and any
// `logformat` string, each compiled once into one JIT-compiled PCRE2 pattern.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wp {

/// The fields of one access-log line that billing needs. The views point into
/// the line given to LogMatcher::parse() and live as long as it does.
struct LogRecord {
    int64_t time = 0;           ///< UTC epoch seconds
    int32_t millis = 0;         ///< 0..999, 0 when the format has no sub-second part
    std::string_view tag;       ///< Squid result tag as logged, e.g. "TCP_MISS_ABORTED", "NONE_NONE"
    int status = 0;             ///< HTTP status sent to the client, 0 for "000" or absent
    int64_t bytes = 0;          ///< reply bytes sent to the client (%<st), headers included; a
                                ///< logformat with %st but no %<st gives %st (both directions)
    int64_t request_bytes = -1; ///< request bytes from the client (%>st) when the format has them, else -1
    std::string_view user;      ///< user as logged (still escaped, see decode_user), "-" for none
    std::string_view hierarchy; ///< hierarchy code as logged, e.g. "HIER_DIRECT", "TIMEOUT_DIRECT"; "" when absent
};

/// One access-log format, compiled. Immutable and cheap to copy; one grammar
/// is shared by every thread, each of which parses through its own LogMatcher.
class LogGrammar {
public:
    /// Squid's native format (`logformat squid`), also the lines of Squid 2,
    /// lines without the client field, and lines with log_mime_hdrs blobs.
    static LogGrammar native();
    /// Squid's built-in "common": `%>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st %Ss:%Sh`.
    static LogGrammar common();
    /// Squid's built-in "combined": common with `"%{Referer}>h" "%{User-Agent}>h"`
    /// between the size and `%Ss:%Sh`, where Squid puts them.
    static LogGrammar combined();
    /// Any Squid logformat string. It must carry a time (%ts, %tl, %tg or %tS),
    /// a reply size (%<st or %st) and the result tag (%Ss). Error(64) names an
    /// unknown code ("unknown logformat code %xx in '...'") or what is missing.
    static LogGrammar from_logformat(std::string_view format);
    /// "native" (or "squid"), "common", "combined", else a logformat string.
    static LogGrammar by_name_or_format(std::string_view spec);

    /// True when lines carry the request size (%>st), filling request_bytes.
    bool carries_request_bytes() const;
    /// The name given ("native", "common", "combined") or the logformat string.
    const std::string& description() const;
    /// The PCRE2 pattern lines are matched against (for diagnostics).
    const std::string& pattern() const;

    /// The compiled pattern and where each field is captured (squid_log.cpp).
    struct Impl;

private:
    explicit LogGrammar(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}
    std::shared_ptr<const Impl> m_impl;
    friend class LogMatcher;
};

/// Parses lines with one grammar. Owns the PCRE2 match data, so a parse does
/// not allocate; use one matcher per thread.
class LogMatcher {
public:
    explicit LogMatcher(const LogGrammar& grammar);
    ~LogMatcher();
    LogMatcher(LogMatcher&&) noexcept;
    LogMatcher& operator=(LogMatcher&&) noexcept;
    LogMatcher(const LogMatcher&) = delete;
    LogMatcher& operator=(const LogMatcher&) = delete;

    /// Parses one line given without its "\n" (a trailing "\r" is ignored).
    /// False when the line is not understood; out is then unspecified.
    bool parse(std::string_view line, LogRecord& out);

private:
    bool parse_native(std::string_view line, LogRecord& out);
    struct State;
    std::unique_ptr<State> m_state;
};

/// A user name as Squid logs it, decoded: `%XX` bytes and the backslash escapes
/// `\\`, `\"`, `\n`, `\r`, `\t`. "-" (no user) stays "-".
std::string decode_user(std::string_view logged);

} // namespace wp
