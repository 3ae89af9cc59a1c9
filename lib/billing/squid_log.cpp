#include "billing/squid_log.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace wp {

namespace {

struct CodeFree {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};

// How the sub-second capture turns into milliseconds.
enum class Subsecond : uint8_t {
    k_fraction, // digits after a decimal point: "1" = 100 ms, "123456" = 123 ms
    k_units,    // an integer in units of 10^-digits s (%tu, %.6tu)
};

constexpr int k_max_user_codes = 5;

} // namespace

// One compiled pattern.
struct Compiled {
    std::unique_ptr<pcre2_code, CodeFree> code;
    bool jit = false;
    uint32_t groups = 0;
};

struct LogGrammar::Impl {
    std::string description;
    std::string pattern;
    std::unique_ptr<pcre2_code, CodeFree> code;
    bool jit = false;
    bool native = false; // fixed groups, see k_native_head
    // Native lines are read from both ends (see k_native_head): the fixed
    // fields left of the URL, and the hierarchy and type right of the user.
    Compiled head;
    uint32_t groups = 0;

    // Capture group of each field; 0 when the format does not carry it.
    int g_seconds = 0;
    int g_subsecond = 0;
    Subsecond subsecond = Subsecond::k_fraction;
    int subsecond_digits = 3;
    int g_time_text = 0;   // %tl / %tg text, read with time_spec
    std::string time_spec; // strftime spec of g_time_text
    bool time_zone_optional = false;
    int g_start_time = 0; // %tS "seconds.fraction"
    int g_tag = 0;
    int g_status = 0;
    int g_bytes = 0;         // %<st
    int g_total_bytes = 0;   // %st, used when %<st is absent
    int g_request_bytes = 0; // %>st
    int g_hierarchy = 0;
    std::array<int, k_max_user_codes> g_users{}; // best first
    int user_count = 0;
};

namespace {

// ---------------------------------------------------------------------------
// Small hand parsers: the hot path must not allocate or go through locales.

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Unsigned decimal of at most 18 digits (so it cannot overflow int64).
inline bool parse_digits(std::string_view s, int64_t& out) {
    if (s.empty() || s.size() > 18) return false;
    int64_t v = 0;
    for (char c : s) {
        const unsigned d = static_cast<unsigned char>(c) - '0';
        if (d > 9) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

// A logged integer: digits, optionally negative; "-" (Squid's "no value") is 0.
inline bool parse_logged_int(std::string_view s, int64_t& out) {
    if (s.size() == 1 && s[0] == '-') {
        out = 0;
        return true;
    }
    if (!s.empty() && s[0] == '-') {
        if (!parse_digits(s.substr(1), out)) return false;
        out = -out;
        return true;
    }
    return parse_digits(s, out);
}

inline int64_t pow10(int n) {
    int64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

// Milliseconds from a sub-second field.
inline bool parse_subsecond(std::string_view s, Subsecond mode, int digits, int32_t& millis) {
    int64_t v = 0;
    if (mode == Subsecond::k_fraction) {
        // Only the first three digits matter; the rest are finer than a millisecond.
        if (s.empty() || !parse_digits(s.substr(0, 3), v)) return false;
        for (std::size_t i = 3; i < s.size(); ++i)
            if (!is_digit(s[i])) return false;
        v *= pow10(3 - static_cast<int>(std::min<std::size_t>(s.size(), 3)));
    } else {
        if (!parse_digits(s, v)) return false;
        // A value of at most 18 digits over 10^19 or more is 0 milliseconds
        // (a format may ask for any precision: %06.47tu).
        v = digits <= 3 ? v * pow10(3 - digits) : digits - 3 > 18 ? 0 : v / pow10(digits - 3);
        if (v > 999) return false;
    }
    millis = static_cast<int32_t>(v);
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int month_from_name(std::string_view s) {
    static constexpr std::array<std::string_view, 12> k_months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                                  "jul", "aug", "sep", "oct", "nov", "dec"};
    if (s.size() != 3) return 0;
    char low[3];
    for (int i = 0; i < 3; ++i)
        low[i] = static_cast<char>(s[i] | 0x20);
    for (std::size_t i = 0; i < k_months.size(); ++i)
        if (std::memcmp(low, k_months[i].data(), 3) == 0) return static_cast<int>(i) + 1;
    return 0;
}

// Reads a time written with a strftime spec (the subset time_spec_pattern()
// accepts) and converts it to UTC epoch seconds. A zone is "+hhmm", "-hhmm"
// or Squid's own "+hh-mm" (Time::FormatHttpd prints negative minutes so).
class TimeTextReader {
public:
    TimeTextReader(std::string_view text) : m_text(text) {}

    bool read(std::string_view spec, bool zone_optional, int64_t& out) {
        for (std::size_t i = 0; i < spec.size(); ++i) {
            if (spec[i] != '%' || i + 1 == spec.size()) {
                if (!literal(spec[i])) return false;
                continue;
            }
            if (!conversion(spec[++i])) return false;
        }
        if (zone_optional && !m_zone && m_pos < m_text.size()) {
            if (!literal(' ') || !zone()) return false;
        }
        if (m_pos != m_text.size()) return false;
        if (m_epoch) {
            out = *m_epoch;
            return true;
        }
        if (m_month < 1 || m_month > 12 || m_day < 1 || m_day > 31 || m_hour > 23 || m_minute > 59 || m_second > 60)
            return false;
        out = days_from_civil(m_year, static_cast<unsigned>(m_month), static_cast<unsigned>(m_day)) * 86400 +
              m_hour * 3600 + m_minute * 60 + m_second - m_zone_minutes * 60;
        return true;
    }

private:
    bool literal(char c) {
        if (m_pos >= m_text.size() || m_text[m_pos] != c) return false;
        ++m_pos;
        return true;
    }
    bool number(int width, int& out, bool space_padded = false) {
        if (m_pos + width > m_text.size()) return false;
        int v = 0;
        for (int i = 0; i < width; ++i) {
            const char c = m_text[m_pos + i];
            if (space_padded && i == 0 && c == ' ') continue;
            const unsigned d = static_cast<unsigned char>(c) - '0';
            if (d > 9) return false;
            v = v * 10 + static_cast<int>(d);
        }
        m_pos += width;
        out = v;
        return true;
    }
    bool zone() {
        if (m_pos >= m_text.size() || (m_text[m_pos] != '+' && m_text[m_pos] != '-')) return false;
        const int sign = m_text[m_pos++] == '-' ? -1 : 1;
        int hours = 0;
        int minutes = 0;
        if (!number(2, hours)) return false;
        int minute_sign = sign;
        if (m_pos < m_text.size() && m_text[m_pos] == '-') {
            minute_sign = -1;
            ++m_pos;
        }
        if (!number(2, minutes) || hours > 23 || minutes > 59) return false;
        m_zone_minutes = sign * hours * 60 + minute_sign * minutes;
        m_zone = true;
        return true;
    }
    bool conversion(char c) {
        switch (c) {
        case 'd':
            return number(2, m_day);
        case 'e':
            return number(2, m_day, true);
        case 'm':
            return number(2, m_month);
        case 'b':
        case 'h':
            if (m_pos + 3 > m_text.size()) return false;
            m_month = month_from_name(m_text.substr(m_pos, 3));
            m_pos += 3;
            return m_month != 0;
        case 'Y':
            return number(4, m_year);
        case 'y':
            if (!number(2, m_year)) return false;
            m_year += m_year < 69 ? 2000 : 1900; // POSIX strptime's pivot
            return true;
        case 'H':
            return number(2, m_hour);
        case 'M':
            return number(2, m_minute);
        case 'S':
            return number(2, m_second);
        case 'T':
            return conversion('H') && literal(':') && conversion('M') && literal(':') && conversion('S');
        case 'F':
            return conversion('Y') && literal('-') && conversion('m') && literal('-') && conversion('d');
        case 'z':
            return zone();
        case 's': {
            std::size_t end = m_pos;
            while (end < m_text.size() && is_digit(m_text[end]))
                ++end;
            int64_t v = 0;
            if (!parse_digits(m_text.substr(m_pos, end - m_pos), v)) return false;
            m_pos = end;
            m_epoch = v;
            return true;
        }
        case '%':
            return literal('%');
        default:
            return false;
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
    int m_year = 1970;
    int m_month = 1;
    int m_day = 1;
    int m_hour = 0;
    int m_minute = 0;
    int m_second = 0;
    int m_zone_minutes = 0;
    bool m_zone = false;
    std::optional<int64_t> m_epoch;
};

// ---------------------------------------------------------------------------
// Building patterns.

// One byte matched literally (also inside a character class).
void append_literal_byte(std::string& out, unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ' ') {
        out += static_cast<char>(c);
    } else if (c > ' ' && c < 0x7f) {
        out += '\\'; // PCRE2: a backslash makes any ASCII punctuation literal
        out += static_cast<char>(c);
    } else if (c == '\n') {
        out += "\\n";
    } else if (c == '\t') {
        out += "\\t";
    } else {
        out += fmt::format("\\x{{{:02x}}}", c);
    }
}

// Regex of a strftime spec, for the conversions TimeTextReader reads; nullopt
// when the spec uses another one.
std::optional<std::string> time_spec_pattern(std::string_view spec) {
    std::string out;
    for (std::size_t i = 0; i < spec.size(); ++i) {
        if (spec[i] != '%' || i + 1 == spec.size()) {
            append_literal_byte(out, static_cast<unsigned char>(spec[i]));
            continue;
        }
        switch (spec[++i]) {
        case 'd':
        case 'm':
        case 'y':
        case 'H':
        case 'M':
        case 'S':
            out += "\\d\\d";
            break;
        case 'e':
            out += "[ \\d]\\d";
            break;
        case 'b':
        case 'h':
            out += "[A-Za-z]{3}";
            break;
        case 'Y':
            out += "\\d{4}";
            break;
        case 'T':
            out += "\\d\\d:\\d\\d:\\d\\d";
            break;
        case 'F':
            out += "\\d{4}-\\d\\d-\\d\\d";
            break;
        case 'z':
            out += "[+-]\\d\\d-?\\d\\d";
            break;
        case 's':
            out += "\\d+";
            break;
        case '%':
            out += "%";
            break;
        default:
            return std::nullopt;
        }
    }
    return out;
}

bool spec_has(std::string_view spec, char conversion) {
    for (std::size_t i = 0; i + 1 < spec.size(); ++i) {
        if (spec[i] == '%') {
            if (spec[i + 1] == conversion) return true;
            ++i;
        }
    }
    return false;
}

// What a logformat code prints, as far as matching it goes.
enum class Kind : uint8_t {
    k_integer,        // digits, maybe negative, "-" when unset
    k_decimal,        // integer or "n.nnn" (times in ms, %tS)
    k_code,           // Squid tag or hierarchy code: [A-Z_]
    k_word,           // no blanks (addresses, URLs, methods, MIME types...)
    k_spacey_raw,     // logged as is, blanks included (user names)
    k_spacey_escaped, // URL-escaped unless a quoting says otherwise (headers, notes)
    k_time,           // %tl / %tg: strftime text
    k_percent,        // %%
};

// Which LogRecord field a code feeds.
enum class Role : uint8_t {
    k_none,
    k_seconds,
    k_subsecond,
    k_local_time,
    k_gmt_time,
    k_start_time,
    k_tag,
    k_status,
    k_bytes,
    k_total_bytes,
    k_request_bytes,
    k_hierarchy,
    k_user,
    k_version,
    k_peer,
};

struct CodeInfo {
    std::string_view code;
    Kind kind;
    Role role = Role::k_none;
    int user_rank = 0; // for Role::k_user: 0 best
};

// Squid 5's logformat codes (src/format/Token.cc, cf.data.pre). %us is not in
// Squid's table but is accepted as the SSL user name older documentation gave.
constexpr CodeInfo k_codes[] = {
    {">a", Kind::k_word},
    {">p", Kind::k_integer},
    {">A", Kind::k_word},
    {"<a", Kind::k_word, Role::k_peer},
    {"<p", Kind::k_integer},
    {"<A", Kind::k_word, Role::k_peer},
    {">h", Kind::k_spacey_escaped},
    {"<h", Kind::k_spacey_escaped},
    {">v", Kind::k_word, Role::k_version},
    {">la", Kind::k_word},
    {"la", Kind::k_word},
    {">lp", Kind::k_integer},
    {"lp", Kind::k_integer},
    {"<la", Kind::k_word},
    {"oa", Kind::k_word},
    {"<lp", Kind::k_integer},
    {"ts", Kind::k_integer, Role::k_seconds},
    {"tu", Kind::k_integer, Role::k_subsecond},
    {"tl", Kind::k_time, Role::k_local_time},
    {"tg", Kind::k_time, Role::k_gmt_time},
    {"tS", Kind::k_decimal, Role::k_start_time},
    {"tr", Kind::k_decimal},
    {"<pt", Kind::k_decimal},
    {"<tt", Kind::k_decimal},
    {"dt", Kind::k_decimal},
    {"busy_time", Kind::k_decimal},
    {">ha", Kind::k_spacey_escaped},
    {"<ha", Kind::k_spacey_escaped},
    {"un", Kind::k_spacey_raw, Role::k_user, 0},
    {"ul", Kind::k_spacey_raw, Role::k_user, 1},
    {"ue", Kind::k_spacey_raw, Role::k_user, 2},
    {"us", Kind::k_spacey_raw, Role::k_user, 3},
    {"ui", Kind::k_spacey_raw, Role::k_user, 4},
    {"credentials", Kind::k_spacey_raw},
    {"Hs", Kind::k_integer, Role::k_status},
    {">Hs", Kind::k_integer, Role::k_status},
    {"<Hs", Kind::k_integer},
    {"<bs", Kind::k_integer},
    {"Ss", Kind::k_code, Role::k_tag},
    {"Sh", Kind::k_code, Role::k_hierarchy},
    {"mt", Kind::k_word},
    {">rm", Kind::k_word},
    {">ru", Kind::k_word},
    {">rs", Kind::k_word},
    {">rd", Kind::k_word},
    {">rP", Kind::k_integer},
    {">rp", Kind::k_word},
    {">rv", Kind::k_word, Role::k_version},
    {"rm", Kind::k_word},
    {"ru", Kind::k_word},
    {"rp", Kind::k_word},
    {"rv", Kind::k_word, Role::k_version},
    {"rG", Kind::k_word},
    {"<rm", Kind::k_word},
    {"<ru", Kind::k_word},
    {"<rs", Kind::k_word},
    {"<rd", Kind::k_word},
    {"<rP", Kind::k_integer},
    {"<rp", Kind::k_word},
    {"<rv", Kind::k_word, Role::k_version},
    {">st", Kind::k_integer, Role::k_request_bytes},
    {">sh", Kind::k_integer},
    {"<st", Kind::k_integer, Role::k_bytes},
    {"<sH", Kind::k_integer},
    {"<sS", Kind::k_integer},
    {"<sh", Kind::k_integer},
    {"st", Kind::k_integer, Role::k_total_bytes},
    {"et", Kind::k_spacey_escaped},
    {"ea", Kind::k_spacey_escaped},
    {"sn", Kind::k_integer},
    {"master_xaction", Kind::k_integer},
    {">eui", Kind::k_word},
    {">qos", Kind::k_word},
    {"<qos", Kind::k_word},
    {">nfmark", Kind::k_word},
    {"<nfmark", Kind::k_word},
    {">handshake", Kind::k_word},
    {"err_code", Kind::k_word},
    {"err_detail", Kind::k_spacey_raw},
    {"note", Kind::k_spacey_escaped},
    {"%", Kind::k_percent},
    // external_acl_type's legacy names, which Squid's parser also accepts here
    {"ACL", Kind::k_word},
    {"DATA", Kind::k_spacey_raw},
    {"DST", Kind::k_word},
    {"EXT_LOG", Kind::k_spacey_escaped},
    {"EXT_TAG", Kind::k_spacey_escaped},
    {"EXT_USER", Kind::k_spacey_raw, Role::k_user, 2},
    {"IDENT", Kind::k_spacey_raw, Role::k_user, 4},
    {"LOGIN", Kind::k_spacey_raw, Role::k_user, 1},
    {"METHOD", Kind::k_word},
    {"MYADDR", Kind::k_word},
    {"MYPORT", Kind::k_integer},
    {"PATH", Kind::k_word},
    {"PORT", Kind::k_integer},
    {"PROTO", Kind::k_word},
    {"SRCEUI48", Kind::k_word},
    {"SRCEUI64", Kind::k_word},
    {"SRCPORT", Kind::k_integer},
    {"SRC", Kind::k_word},
    {"TAG", Kind::k_spacey_escaped},
    {"URI", Kind::k_word},
    {"USER_CERTCHAIN", Kind::k_spacey_raw},
    {"USER_CERT", Kind::k_spacey_raw},
    // namespaced codes
    {"adapt::all_trs", Kind::k_spacey_escaped},
    {"adapt::sum_trs", Kind::k_spacey_escaped},
    {"adapt::<last_h", Kind::k_spacey_escaped},
    {"icap::tt", Kind::k_decimal},
    {"icap::<last_h", Kind::k_spacey_escaped},
    {"icap::<A", Kind::k_word},
    {"icap::<service_name", Kind::k_word},
    {"icap::ru", Kind::k_word},
    {"icap::rm", Kind::k_word},
    {"icap::>st", Kind::k_integer},
    {"icap::<st", Kind::k_integer},
    {"icap::<bs", Kind::k_integer},
    {"icap::>h", Kind::k_spacey_escaped},
    {"icap::<h", Kind::k_spacey_escaped},
    {"icap::tr", Kind::k_decimal},
    {"icap::tio", Kind::k_decimal},
    {"icap::to", Kind::k_word},
    {"icap::Hs", Kind::k_integer},
    {"proxy_protocol::>h", Kind::k_spacey_escaped},
    {"transport::>connection_id", Kind::k_integer},
    {"ssl::bump_mode", Kind::k_word},
    {"ssl::>cert_subject", Kind::k_spacey_raw},
    {"ssl::>cert_issuer", Kind::k_spacey_raw},
    {"ssl::>sni", Kind::k_word},
    {"ssl::<cert_subject", Kind::k_spacey_raw},
    {"ssl::<cert_issuer", Kind::k_spacey_raw},
    {"ssl::<cert_errors", Kind::k_word},
    {"ssl::>negotiated_version", Kind::k_word},
    {"ssl::<negotiated_version", Kind::k_word},
    {"ssl::>negotiated_cipher", Kind::k_word},
    {"ssl::<negotiated_cipher", Kind::k_word},
    {"ssl::>received_hello_version", Kind::k_word},
    {"ssl::<received_hello_version", Kind::k_word},
    {"ssl::>received_supported_version", Kind::k_word},
    {"ssl::<received_supported_version", Kind::k_word},
};

// Squid's encodings (the % modifier, or a quoting state opened by a literal).
enum class Quote : uint8_t { k_none, k_quotes, k_mimeblob, k_url, k_raw, k_shell };

struct Element {
    bool literal = false;
    std::string text; // the literal, or the code as written ("%03tu")
    const CodeInfo* info = nullptr;
    Quote quote = Quote::k_none; // explicit modifier, else the context's
    bool left = false;
    bool zero = false;
    int width_min = 0;
    int width_max = -1;
    std::string arg;
};

const CodeInfo* find_code(std::string_view rest, std::size_t& length) {
    const CodeInfo* best = nullptr;
    std::string_view probe = rest;
    // "http::" is the default namespace and may be written out.
    std::size_t skipped = 0;
    if (probe.substr(0, 6) == "http::") {
        probe.remove_prefix(6);
        skipped = 6;
    }
    const auto scan = [&](std::string_view text) {
        for (const CodeInfo& info : k_codes) {
            if (text.substr(0, info.code.size()) == info.code && (!best || info.code.size() > best->code.size()))
                best = &info;
        }
    };
    scan(probe);
    if (best) {
        length = skipped + best->code.size();
        return best;
    }
    // "tls::" is another name of "ssl::"
    if (rest.substr(0, 5) == "tls::") {
        std::string alias = "ssl::" + std::string(rest.substr(5));
        scan(alias);
        if (best) {
            length = best->code.size();
            return best;
        }
    }
    return nullptr;
}

// The code as the operator wrote it, for error messages: up to the next blank.
std::string written_code(std::string_view format, std::size_t percent) {
    std::size_t end = percent + 1;
    while (end < format.size() && format[end] != ' ' && format[end] != '\t' && format[end] != '%' &&
           format[end] != '"' && format[end] != ']' && format[end] != '[')
        ++end;
    return std::string(format.substr(percent, end - percent));
}

// Splits a logformat string the way Squid's Format::Token::parse does,
// including the quoting state that literal '"', '[' and ']' switch.
std::vector<Element> tokenize(std::string_view format) {
    std::vector<Element> out;
    Quote context = Quote::k_none;
    std::size_t i = 0;
    const auto add_literal = [&](std::string_view text) {
        if (!out.empty() && out.back().literal) {
            out.back().text += text;
        } else {
            Element e;
            e.literal = true;
            e.text = std::string(text);
            out.push_back(std::move(e));
        }
    };
    while (i < format.size()) {
        if (format[i] != '%') {
            const std::size_t end = std::min(format.find('%', i), format.size());
            for (std::size_t j = i; j < end; ++j) {
                const char c = format[j];
                if (c == '"')
                    context = context == Quote::k_none     ? Quote::k_quotes
                              : context == Quote::k_quotes ? Quote::k_none
                                                           : context;
                else if (c == '[' && context == Quote::k_none)
                    context = Quote::k_mimeblob;
                else if (c == ']' && context == Quote::k_mimeblob)
                    context = Quote::k_none;
            }
            add_literal(format.substr(i, end - i));
            i = end;
            continue;
        }
        const std::size_t percent = i++;
        Element e;
        e.quote = context;
        if (i < format.size()) {
            switch (format[i]) {
            case '"':
                e.quote = Quote::k_quotes;
                ++i;
                break;
            case '\'':
                e.quote = Quote::k_raw;
                ++i;
                break;
            case '[':
                e.quote = Quote::k_mimeblob;
                ++i;
                break;
            case '#':
                e.quote = Quote::k_url;
                ++i;
                break;
            case '/':
                e.quote = Quote::k_shell;
                ++i;
                break;
            default:
                break;
            }
        }
        if (i < format.size() && format[i] == '-') {
            e.left = true;
            ++i;
        }
        if (i < format.size() && format[i] == '0') {
            e.zero = true;
            ++i;
        }
        while (i < format.size() && format[i] >= '0' && format[i] <= '9' && e.width_min < 10000)
            e.width_min = e.width_min * 10 + (format[i++] - '0');
        if (i + 1 < format.size() && format[i] == '.' && format[i + 1] >= '0' && format[i + 1] <= '9') {
            e.width_max = 0;
            ++i;
            while (i < format.size() && format[i] >= '0' && format[i] <= '9' && e.width_max < 10000)
                e.width_max = e.width_max * 10 + (format[i++] - '0');
        }
        bool has_arg = false;
        if (i < format.size() && format[i] == '{') {
            const std::size_t close = format.find('}', i);
            if (close == std::string_view::npos)
                fail(exit_code::k_usage, "unterminated {{ in logformat code {} in '{}'", written_code(format, percent),
                     format);
            e.arg = std::string(format.substr(i + 1, close - i - 1));
            has_arg = true;
            i = close + 1;
        }
        std::size_t length = 0;
        e.info = find_code(format.substr(i), length);
        if (!e.info) {
            if (i >= format.size()) fail(exit_code::k_usage, "logformat '{}' ends with an incomplete % code", format);
            fail(exit_code::k_usage, "unknown logformat code {} in '{}'", written_code(format, percent), format);
        }
        i += length;
        // the {arg} may also follow the code (external_acl_type's old syntax)
        if (!has_arg && i < format.size() && format[i] == '{') {
            const std::size_t close = format.find('}', i);
            if (close == std::string_view::npos)
                fail(exit_code::k_usage, "unterminated {{ in logformat code {} in '{}'", written_code(format, percent),
                     format);
            e.arg = std::string(format.substr(i + 1, close - i - 1));
            i = close + 1;
        }
        e.text = std::string(format.substr(percent, i - percent));
        if (e.info->kind == Kind::k_percent)
            add_literal("%");
        else
            out.push_back(std::move(e));
    }
    return out;
}

constexpr std::string_view k_blanks = " \t\n\r\f\v";

// A set of bytes a value may contain, written as a negated class: "every byte
// but these". Code-kind values use their own positive class instead.
struct ValueClass {
    std::string excluded;           // bytes the value never contains
    bool backslash_escapes = false; // "\x" pairs are part of the value (quoted strings)
    bool code_chars = false;        // [A-Z_]: Squid's result tags and hierarchy codes

    bool contains(unsigned char c) const {
        if (code_chars) return (c >= 'A' && c <= 'Z') || c == '_';
        if (backslash_escapes && c == '\\') return true;
        return excluded.find(static_cast<char>(c)) == std::string::npos;
    }
    std::string atom() const {
        if (code_chars) return "[A-Z_]";
        std::string cls = "[^";
        std::string_view rest = excluded;
        if (rest.substr(0, k_blanks.size()) == k_blanks) {
            cls += "\\s";
            rest.remove_prefix(k_blanks.size());
        }
        for (char c : rest)
            append_literal_byte(cls, static_cast<unsigned char>(c));
        cls += "]";
        return cls;
    }
};

// What follows a code's value in the format.
enum class Next : uint8_t { k_end, k_code, k_byte };

class PatternBuilder {
public:
    explicit PatternBuilder(std::string_view format) : m_format(format) {}

    std::shared_ptr<LogGrammar::Impl> build() {
        m_elements = tokenize(m_format);
        choose_fields();
        m_pattern = "^";
        for (std::size_t i = 0; i < m_elements.size(); ++i) {
            if (m_elements[i].literal)
                emit_literal(i);
            else
                emit_code(i);
        }
        m_pattern += "\\z";
        m_impl->pattern = m_pattern;
        return m_impl;
    }

private:
    // Decides which occurrence of each code feeds the record, so that only
    // those are captured, and checks that a line can be billed at all.
    void choose_fields() {
        const Element* seconds = nullptr;
        const Element* local_time = nullptr;
        const Element* gmt_time = nullptr;
        const Element* start_time = nullptr;
        bool has_bytes = false;
        bool has_total = false;
        bool has_tag = false;
        for (std::size_t i = 0; i < m_elements.size(); ++i) {
            const Element& e = m_elements[i];
            if (e.literal) continue;
            switch (e.info->role) {
            case Role::k_seconds:
                seconds = seconds ? seconds : &e;
                break;
            case Role::k_local_time:
                local_time = local_time ? local_time : &e;
                break;
            case Role::k_gmt_time:
                gmt_time = gmt_time ? gmt_time : &e;
                break;
            case Role::k_start_time:
                start_time = start_time ? start_time : &e;
                break;
            case Role::k_bytes:
                has_bytes = true;
                break;
            case Role::k_total_bytes:
                has_total = true;
                break;
            case Role::k_tag:
                has_tag = true;
                break;
            default:
                break;
            }
        }
        m_time_source = seconds ? seconds : local_time ? local_time : gmt_time ? gmt_time : start_time;
        if (!m_time_source) fail(exit_code::k_usage, "logformat '{}' has no time (%ts, %tl, %tg or %tS)", m_format);
        if (!has_bytes && !has_total)
            fail(exit_code::k_usage, "logformat '{}' has no reply size (%<st or %st) to bill", m_format);
        if (!has_tag) fail(exit_code::k_usage, "logformat '{}' has no result tag (%Ss) to price lines by", m_format);
        m_use_total_bytes = !has_bytes;
        if (m_time_source->info->kind == Kind::k_time && !m_time_source->arg.empty()) {
            const Element& t = *m_time_source;
            if (!time_spec_pattern(t.arg))
                fail(exit_code::k_usage,
                     "logformat '{}': time {} uses a strftime conversion that cannot be read back "
                     "(supported: %d %e %m %b %h %Y %y %H %M %S %T %F %z %s %%)",
                     m_format, t.text);
            if (t.info->role == Role::k_local_time && !spec_has(t.arg, 'z') && !spec_has(t.arg, 's'))
                fail(exit_code::k_usage, "logformat '{}': local time {} has no %z, so it cannot be converted to UTC",
                     m_format, t.text);
        }
    }

    int next_group() { return ++m_impl->groups; }

    int capture_time(const Element& e) {
        const int g = next_group();
        switch (e.info->role) {
        case Role::k_seconds:
            m_impl->g_seconds = g;
            break;
        case Role::k_start_time:
            m_impl->g_start_time = g;
            break;
        default:
            m_impl->g_time_text = g;
            if (!e.arg.empty()) {
                m_impl->time_spec = e.arg;
            } else if (e.info->role == Role::k_local_time) {
                m_impl->time_spec = "%d/%b/%Y:%H:%M:%S %z";
            } else {
                // Squid's %tg default has no zone; a {spec} copied from %tl may add one
                m_impl->time_spec = "%d/%b/%Y:%H:%M:%S";
                m_impl->time_zone_optional = true;
            }
            break;
        }
        return g;
    }

    // Whether element i's value is captured, and into which field.
    int capture_for(const Element& e) {
        switch (e.info->role) {
        case Role::k_seconds:
        case Role::k_local_time:
        case Role::k_gmt_time:
        case Role::k_start_time:
            return &e == m_time_source ? capture_time(e) : 0;
        case Role::k_subsecond:
            if (m_impl->g_subsecond || m_time_source->info->role != Role::k_seconds) return 0;
            m_impl->g_subsecond = next_group();
            m_impl->subsecond = Subsecond::k_units;
            m_impl->subsecond_digits = e.width_max > 0 ? e.width_max : 3;
            return m_impl->g_subsecond;
        case Role::k_tag:
            return m_impl->g_tag ? 0 : (m_impl->g_tag = next_group());
        case Role::k_status:
            return m_impl->g_status ? 0 : (m_impl->g_status = next_group());
        case Role::k_bytes:
            return m_impl->g_bytes ? 0 : (m_impl->g_bytes = next_group());
        case Role::k_total_bytes:
            if (!m_use_total_bytes || m_impl->g_total_bytes) return 0;
            return m_impl->g_total_bytes = next_group();
        case Role::k_request_bytes:
            return m_impl->g_request_bytes ? 0 : (m_impl->g_request_bytes = next_group());
        case Role::k_hierarchy:
            return m_impl->g_hierarchy ? 0 : (m_impl->g_hierarchy = next_group());
        case Role::k_user: {
            if (m_user_ranks_seen & (1u << e.info->user_rank)) return 0;
            m_user_ranks_seen |= 1u << e.info->user_rank;
            const int g = next_group();
            // keep g_users ordered best first
            int at = m_impl->user_count++;
            m_user_ranks[at] = e.info->user_rank;
            m_impl->g_users[at] = g;
            while (at > 0 && m_user_ranks[at - 1] > m_user_ranks[at]) {
                std::swap(m_user_ranks[at - 1], m_user_ranks[at]);
                std::swap(m_impl->g_users[at - 1], m_impl->g_users[at]);
                --at;
            }
            return g;
        }
        default:
            return 0;
        }
    }

    void emit_literal(std::size_t index) {
        std::string_view text = m_elements[index].text;
        // Squid's built-in common/combined print the request's protocol name
        // where the logformat says "HTTP/" ("NONE/0.0" for a transaction that
        // never got a request), so that literal stands for any protocol name.
        const bool before_version = index + 1 < m_elements.size() && !m_elements[index + 1].literal &&
                                    m_elements[index + 1].info->role == Role::k_version;
        bool protocol = false;
        if (before_version && text.size() >= 5 && text.substr(text.size() - 5) == "HTTP/") {
            text.remove_suffix(5);
            protocol = true;
        }
        for (std::size_t i = 0; i < text.size();) {
            if (text[i] == ' ') {
                // fields padded to a width, and Squid's own padding of %6tr,
                // make any run of spaces stand for one separator
                while (i < text.size() && text[i] == ' ')
                    ++i;
                m_pattern += " ++";
                continue;
            }
            append_literal_byte(m_pattern, static_cast<unsigned char>(text[i]));
            ++i;
        }
        if (protocol) m_pattern += "[A-Za-z]++/";
    }

    void emit_code(std::size_t index) {
        const Element& e = m_elements[index];
        // What follows the value decides how greedily it may be matched.
        Next next = Next::k_end;
        unsigned char stop = 0;
        if (index + 1 < m_elements.size()) {
            const Element& n = m_elements[index + 1];
            if (!n.literal) {
                next = Next::k_code;
            } else {
                next = Next::k_byte;
                stop = static_cast<unsigned char>(n.text[0]);
            }
        }

        std::string value;
        Kind kind = e.info->kind;
        // Of two blank-capable fields with only blanks between them (common's
        // "%[ui %[un"), only the last may contain blanks: either split would
        // fit such a line, and trying them all is quadratic in its length.
        if (spacey(kind, e.quote) && index + 2 < m_elements.size() && m_elements[index + 1].literal &&
            m_elements[index + 1].text.find_first_not_of(' ') == std::string::npos && !m_elements[index + 2].literal &&
            spacey(m_elements[index + 2].info->kind, m_elements[index + 2].quote))
            kind = Kind::k_word;
        switch (kind) {
        case Kind::k_integer:
        case Kind::k_decimal: {
            const bool decimal = e.info->kind == Kind::k_decimal;
            const bool clash =
                next == Next::k_code ||
                (next == Next::k_byte && ((stop >= '0' && stop <= '9') || stop == '-' || (decimal && stop == '.')));
            const char* q = clash ? "+" : "++";
            value = fmt::format("-?\\d{}{}|-", q, decimal ? fmt::format("(?:\\.\\d{})?", q) : "");
            break;
        }
        case Kind::k_time: {
            std::optional<std::string> spec_pattern;
            if (e.arg.empty())
                spec_pattern = e.info->role == Role::k_local_time
                                   ? "\\d\\d/[A-Za-z]{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d [+-]\\d\\d-?\\d\\d"
                                   : "\\d\\d/[A-Za-z]{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d(?: [+-]\\d\\d-?\\d\\d)?";
            else
                spec_pattern = time_spec_pattern(e.arg);
            if (spec_pattern) {
                value = *spec_pattern;
                break;
            }
            // an unreadable spec that is not the time source: any text
            value = text_value(Kind::k_spacey_raw, e, next, stop);
            break;
        }
        default:
            value = text_value(kind, e, next, stop);
            break;
        }

        const int group = capture_for(e);
        const bool padded = e.width_min > 0;
        if (padded && !e.left && !(e.zero && (e.info->kind == Kind::k_integer || e.info->kind == Kind::k_decimal)))
            m_pattern += " *+";
        m_pattern += group ? "(" : "(?:";
        m_pattern += value;
        m_pattern += ")";
        if (padded && e.left) m_pattern += " *";
    }

    // Whether Squid may print blanks in a value of this kind under this quoting.
    static bool spacey(Kind kind, Quote quote) {
        if (quote == Quote::k_shell) return false; // quoted as one word when it has blanks
        if (kind == Kind::k_spacey_raw) return quote != Quote::k_url;
        return kind == Kind::k_spacey_escaped &&
               (quote == Quote::k_quotes || quote == Quote::k_mimeblob || quote == Quote::k_raw);
    }

    static std::string text_value(Kind kind, const Element& e, Next next, unsigned char stop) {
        const Quote quote = e.quote;
        if (quote == Quote::k_shell && kind != Kind::k_code) return "\"(?:[^\"\\\\]|\\\\.)*+\"|[^\\s\"]++";

        ValueClass cls;
        const bool blanks = kind != Kind::k_code && spacey(kind, quote);
        if (kind == Kind::k_code) {
            cls.code_chars = true;
        } else {
            cls.excluded = blanks ? "\n" : std::string(k_blanks);
            if (quote == Quote::k_quotes) {
                cls.excluded += "\"\\";
                cls.backslash_escapes = true;
            } else if (quote == Quote::k_mimeblob) {
                cls.excluded += "[]";
            }
        }
        // Squid prints "-" for an empty value, but Squid 2's native peer
        // could be empty ("DIRECT/"); a peer allows it here too.
        const bool may_be_empty = e.info->role == Role::k_peer;

        bool possessive = false;
        bool lazy = false;
        if (next == Next::k_end) {
            possessive = true;
        } else if (next == Next::k_byte && !cls.contains(stop)) {
            possessive = true;
        } else {
            // The separator may occur inside the value: a word ends at its last
            // occurrence (an IPv6 address before ":port"), a text with blanks at
            // its first one (a user name before the next field).
            lazy = blanks;
        }
        if (lazy && next == Next::k_byte && stop == ' ' && !may_be_empty) {
            // Words and runs of blanks, each run consumed once (see k_native_head).
            ValueClass word = cls;
            word.excluded += ' ';
            const std::string w =
                word.backslash_escapes ? fmt::format("(?:{}++|\\\\.)++", word.atom()) : word.atom() + "++";
            return fmt::format("{}(?: ++{})*?", w, w);
        }
        const std::string atom = cls.atom();
        const char* quantifier = possessive ? (may_be_empty ? "*+" : "++")
                                 : lazy     ? (may_be_empty ? "*?" : "+?")
                                            : (may_be_empty ? "*" : "+");
        if (cls.backslash_escapes) return fmt::format("(?:{}{}|\\\\.){}", atom, possessive ? "++" : "", quantifier);
        return atom + quantifier;
    }

    std::string_view m_format;
    std::vector<Element> m_elements;
    std::string m_pattern;
    std::shared_ptr<LogGrammar::Impl> m_impl = std::make_shared<LogGrammar::Impl>();
    const Element* m_time_source = nullptr;
    bool m_use_total_bytes = false;
    unsigned m_user_ranks_seen = 0;
    std::array<int, k_max_user_codes> m_user_ranks{};
};

Compiled compile_pattern(std::string_view pattern, const std::string& description) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // Bytes, not UTF-8: logs carry whatever clients sent, and the JIT must
    // never see invalid UTF-8 under a UTF check. DOTALL: a stray CR in a user
    // name is part of the name. NO_START_OPTIMIZE: the patterns are anchored,
    // and the start-up check (a scan of the line for a byte the match needs)
    // cost about 10% of a native line's time.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_DOTALL | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_NO_START_OPTIMIZE, &error,
                                     &offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        fail(exit_code::k_usage, "cannot compile log format '{}': {} at offset {} of pattern {}", description,
             reinterpret_cast<const char*>(message), offset, pattern);
    }
    Compiled out;
    out.code.reset(code);
    // Without JIT support (some architectures) the interpreter still works.
    out.jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &out.groups);
    return out;
}

void compile(LogGrammar::Impl& impl) {
    Compiled c = compile_pattern(impl.pattern, impl.description);
    impl.code = std::move(c.code);
    impl.jit = c.jit;
    impl.groups = c.groups;
}

// Squid's native format (FormatSquidNative.cc):
//   "%9ld.%03d %6ld %s %s/%03d %" PRId64 " %s %s %s %s%s/%s %s"
//   time.ms elapsed client tag/status bytes method URL user [TIMEOUT_]hier/peer type
// The user is %-escaped but its blanks are not, so it is the one field that
// may contain spaces: everything right of it has a fixed shape, and the lazy
// user ends where the rest of the line still matches to its end. It is
// matched word by word, each run of blanks consumed once: a lazy ".+?" would
// retry every blank of a run, quadratic in a hostile name full of blanks. Squid 2 lines
// may lack the client; they are told apart by the '/' of tag/status, which no
// client contains. log_mime_hdrs adds two [bracketed] blobs at the end.
// Every result tag and hierarchy code of Squid 2 to 6 is upper case and '_'
// only (LogTags.cc, hier_code.h); [A-Z_] is also measurably cheaper for the
// JIT than [\w\-]. The URL is any run of non-blanks (Squid escapes blanks
// in URLs), like a word of the user.
// The whole-line pattern is the head (the fixed fields left of the URL,
// up to where the URL starts) followed by the rest.
// clang-format off
constexpr std::string_view k_native_head =
    R"(^ *+(\d++\.\d++))"                     // 1 seconds.milliseconds
    R"( ++-?\d++)"                            // elapsed (may be negative)
    R"( ++(?:[^\s/]++ ++)?+)"                 // client, optional
    R"(([A-Z_]++/\d++))"                      // 2 tag/status
    R"( ++(\d++))"                            // 3 bytes
    R"( ++\S++ ++)";                          // method; the head ends where the URL starts
constexpr std::string_view k_native_rest =
    R"([^ ]++)"                               // URL
    R"( ++([^ ]++(?: ++[^ ]++)*?))"           // 4 user
    R"( ++([A-Z_]++)/\S*+)"                   // 5 hierarchy, peer
    R"( ++\S*+)"                              // content type
    R"((?: \[[^\[\]]*+\] \[[^\[\]]*+\])?+)"   // log_mime_hdrs
    R"(\z)";

// The same grammar read from both ends, for lines without log_mime_hdrs (all
// but a few): without them the user ends just before the last two words
// (hierarchy/peer and type). PCRE2 matches k_native_head alone; the URL and
// the user are found with memchr and memrchr, and the two words on the right
// are checked by hand (LogMatcher::parse_native). This takes a third off the
// time of a native line; the whole-line pattern stays the definition, and
// lines ending in ']' still go through it.
// clang-format on

std::shared_ptr<LogGrammar::Impl> make_native() {
    auto impl = std::make_shared<LogGrammar::Impl>();
    impl->description = "native";
    impl->pattern = std::string(k_native_head) + std::string(k_native_rest);
    compile(*impl);
    impl->head = compile_pattern(k_native_head, impl->description);
    impl->native = true;
    // Two fields share a group each (a capture costs more than splitting
    // "sec.ms" and "TAG/status" again by hand); see fill_native().
    impl->g_start_time = 1;
    impl->g_tag = 2;
    impl->g_bytes = 3;
    impl->g_users[0] = 4;
    impl->user_count = 1;
    impl->g_hierarchy = 5;
    return impl;
}

std::shared_ptr<LogGrammar::Impl> make_from_logformat(std::string_view format, std::string description) {
    PatternBuilder builder(format);
    auto impl = builder.build();
    impl->description = std::move(description);
    compile(*impl);
    return impl;
}

constexpr std::string_view k_common_format = "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st %Ss:%Sh";
// Squid puts Referer and User-Agent before the tag (FormatHttpdCombined.cc).
constexpr std::string_view k_combined_format =
    "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st \"%{Referer}>h\" \"%{User-Agent}>h\" %Ss:%Sh";

} // namespace

LogGrammar LogGrammar::native() {
    // compiled once per process: the grammar is immutable
    static const std::shared_ptr<const Impl> impl = make_native();
    return LogGrammar(impl);
}

LogGrammar LogGrammar::common() {
    static const std::shared_ptr<const Impl> impl = make_from_logformat(k_common_format, "common");
    return LogGrammar(impl);
}

LogGrammar LogGrammar::combined() {
    static const std::shared_ptr<const Impl> impl = make_from_logformat(k_combined_format, "combined");
    return LogGrammar(impl);
}

LogGrammar LogGrammar::from_logformat(std::string_view format) {
    return LogGrammar(make_from_logformat(format, std::string(format)));
}

LogGrammar LogGrammar::by_name_or_format(std::string_view spec) {
    if (spec == "native" || spec == "squid") return native();
    if (spec == "common") return common();
    if (spec == "combined") return combined();
    if (spec.find('%') == std::string_view::npos)
        fail(exit_code::k_usage, "unknown log format '{}' (expected native, common, combined or a logformat string)",
             spec);
    return from_logformat(spec);
}

bool LogGrammar::carries_request_bytes() const {
    return m_impl->g_request_bytes != 0;
}

const std::string& LogGrammar::description() const {
    return m_impl->description;
}

const std::string& LogGrammar::pattern() const {
    return m_impl->pattern;
}

// ---------------------------------------------------------------------------

struct LogMatcher::State {
    std::shared_ptr<const LogGrammar::Impl> grammar;
    pcre2_match_data* match = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    const PCRE2_SIZE* ovector = nullptr;

    ~State() {
        pcre2_match_data_free(match);
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(stack);
    }
};

LogMatcher::LogMatcher(const LogGrammar& grammar) : m_state(std::make_unique<State>()) {
    State& s = *m_state;
    s.grammar = grammar.m_impl;
    s.match = pcre2_match_data_create(s.grammar->groups + 1, nullptr);
    s.context = pcre2_match_context_create(nullptr);
    // A long header or user name can take the lazy parts of a logformat
    // pattern past the JIT's default 32 KiB stack.
    s.stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    if (!s.match || !s.context || !s.stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(s.context, nullptr, s.stack);
    s.ovector = pcre2_get_ovector_pointer(s.match);
}

LogMatcher::~LogMatcher() = default;
LogMatcher::LogMatcher(LogMatcher&&) noexcept = default;
LogMatcher& LogMatcher::operator=(LogMatcher&&) noexcept = default;

namespace {

inline std::string_view group_text(const PCRE2_SIZE* ovector, std::string_view line, int group) {
    const PCRE2_SIZE begin = ovector[2 * group];
    if (begin == PCRE2_UNSET) return {};
    return line.substr(begin, ovector[2 * group + 1] - begin);
}

} // namespace

namespace {

// "1764072000.123": epoch seconds and a fraction (%tS, and native's %9ld.%03d).
inline bool parse_seconds_fraction(std::string_view s, int64_t& time, int32_t& millis) {
    const std::size_t dot = s.find('.');
    if (!parse_digits(s.substr(0, dot), time)) return false;
    millis = 0;
    return dot == std::string_view::npos || parse_subsecond(s.substr(dot + 1), Subsecond::k_fraction, 0, millis);
}

// Time (group 1), "TAG/status" (group 2) and bytes (group 3) of a native line:
// the same groups in the whole-line pattern and in k_native_head, none optional, so no
// PCRE2_UNSET checks.
inline bool fill_native_fixed(const char* line, const PCRE2_SIZE* ov, LogRecord& out) {
    const auto text = [&](int group) {
        return std::string_view(line + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
    };
    // group 2 is "TAG/status": the tag has no '/', the status only digits
    const std::string_view tag_status = text(2);
    std::size_t slash = tag_status.size();
    while (slash > 0 && tag_status[slash - 1] != '/')
        --slash;
    int64_t status = 0;
    if (slash == 0 || !parse_seconds_fraction(text(1), out.time, out.millis) ||
        !parse_digits(tag_status.substr(slash), status) || status > 999 || !parse_digits(text(3), out.bytes))
        return false;
    out.tag = tag_status.substr(0, slash - 1);
    out.status = static_cast<int>(status);
    out.request_bytes = -1;
    return true;
}

inline int run_match(const pcre2_code* code, bool jit, std::string_view line, std::size_t start,
                     pcre2_match_data* match, pcre2_match_context* context) {
    const auto subject = reinterpret_cast<PCRE2_SPTR>(line.data());
    return jit ? pcre2_jit_match(code, subject, line.size(), start, 0, match, context)
               : pcre2_match(code, subject, line.size(), start, 0, match, context);
}

} // namespace

bool LogMatcher::parse_native(std::string_view line, LogRecord& out) {
    const State& s = *m_state;
    const LogGrammar::Impl& g = *s.grammar;
    const PCRE2_SIZE* ov = s.ovector;
    if (run_match(g.head.code.get(), g.head.jit, line, 0, s.match, s.context) <= 0 ||
        !fill_native_fixed(line.data(), ov, out))
        return false;
    const char* const d = line.data();
    const std::size_t n = line.size();
    // The URL starts where the head ended (never on a blank) and runs to the next blank.
    const std::size_t url = ov[1];
    const auto* url_end = static_cast<const char*>(std::memchr(d + url, ' ', n - url));
    if (url_end == nullptr) return false;
    std::size_t user_begin = static_cast<std::size_t>(url_end - d);
    while (user_begin < n && d[user_begin] == ' ')
        ++user_begin;
    // From the end: the type after the last blank (may be empty), then the
    // hierarchy/peer word, then the user up to the blanks before it.
    const auto* type_blank = static_cast<const char*>(memrchr(d + user_begin, ' ', n - user_begin));
    if (type_blank == nullptr) return false;
    std::size_t hier_end = static_cast<std::size_t>(type_blank - d);
    while (hier_end > user_begin && d[hier_end - 1] == ' ')
        --hier_end;
    const auto* hier_blank = static_cast<const char*>(memrchr(d + user_begin, ' ', hier_end - user_begin));
    if (hier_blank == nullptr) return false;
    std::size_t user_end = static_cast<std::size_t>(hier_blank - d);
    while (user_end > user_begin && d[user_end - 1] == ' ')
        --user_end;
    if (user_end == user_begin) return false;
    out.user = line.substr(user_begin, user_end - user_begin);
    // The rest is what k_native_rest says after the user: [A-Z_]+ "/"
    // peer, blanks, type, with no other white space in peer or type.
    // Loops without early exits, so that the compiler can vectorise them.
    const std::size_t hier = static_cast<std::size_t>(hier_blank - d) + 1;
    const auto* slash = static_cast<const char*>(std::memchr(d + hier, '/', hier_end - hier));
    if (slash == nullptr || slash == d + hier) return false;
    const std::size_t hier_len = static_cast<std::size_t>(slash - d) - hier;
    unsigned bad = 0;
    for (std::size_t i = hier; i < hier + hier_len; ++i) {
        const auto c = static_cast<unsigned char>(d[i]);
        bad |= static_cast<unsigned>(static_cast<unsigned char>(c - 'A') > 'Z' - 'A' && c != '_');
    }
    for (std::size_t i = hier + hier_len + 1; i < n; ++i) // \t \n \v \f \r
        bad |= static_cast<unsigned>(static_cast<unsigned char>(static_cast<unsigned char>(d[i]) - '\t') < 5);
    if (bad != 0) return false;
    out.hierarchy = line.substr(hier, hier_len);
    return true;
}

namespace {

// The native pattern's groups: none is optional, so no PCRE2_UNSET checks.
inline bool fill_native(const char* line, const PCRE2_SIZE* ov, LogRecord& out) {
    if (!fill_native_fixed(line, ov, out)) return false;
    out.user = std::string_view(line + ov[8], ov[9] - ov[8]);
    out.hierarchy = std::string_view(line + ov[10], ov[11] - ov[10]);
    return true;
}

} // namespace

bool LogMatcher::parse(std::string_view line, LogRecord& out) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const State& s = *m_state;
    const LogGrammar::Impl& g = *s.grammar;
    if (g.native && !line.empty() && line.back() != ']') return parse_native(line, out);
    if (run_match(g.code.get(), g.jit, line, 0, s.match, s.context) <= 0) return false;
    const PCRE2_SIZE* ov = s.ovector;
    if (g.native) return fill_native(line.data(), ov, out);

    int64_t v = 0;
    if (g.g_seconds) {
        if (!parse_digits(group_text(ov, line, g.g_seconds), out.time)) return false;
        out.millis = 0;
        if (g.g_subsecond &&
            !parse_subsecond(group_text(ov, line, g.g_subsecond), g.subsecond, g.subsecond_digits, out.millis))
            return false;
    } else if (g.g_time_text) {
        TimeTextReader reader(group_text(ov, line, g.g_time_text));
        if (!reader.read(g.time_spec, g.time_zone_optional, out.time)) return false;
        out.millis = 0;
    } else if (!parse_seconds_fraction(group_text(ov, line, g.g_start_time), out.time, out.millis)) {
        return false;
    }

    out.tag = group_text(ov, line, g.g_tag);
    out.status = 0;
    if (g.g_status) {
        if (!parse_logged_int(group_text(ov, line, g.g_status), v) || v < 0 || v > 999) return false;
        out.status = static_cast<int>(v);
    }
    if (!parse_logged_int(group_text(ov, line, g.g_bytes ? g.g_bytes : g.g_total_bytes), out.bytes) || out.bytes < 0)
        return false;
    out.request_bytes = -1;
    if (g.g_request_bytes &&
        (!parse_logged_int(group_text(ov, line, g.g_request_bytes), out.request_bytes) || out.request_bytes < 0))
        return false;

    out.user = "-";
    for (int i = 0; i < g.user_count; ++i) {
        const std::string_view user = group_text(ov, line, g.g_users[i]);
        if (!user.empty() && user != "-") {
            out.user = user;
            break;
        }
    }
    out.hierarchy = g.g_hierarchy ? group_text(ov, line, g.g_hierarchy) : std::string_view();
    return true;
}

// ---------------------------------------------------------------------------

std::string decode_user(std::string_view logged) {
    std::string out;
    out.reserve(logged.size());
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < logged.size(); ++i) {
        const char c = logged[i];
        if (c == '%' && i + 2 < logged.size() && hex(logged[i + 1]) >= 0 && hex(logged[i + 2]) >= 0) {
            out += static_cast<char>(hex(logged[i + 1]) * 16 + hex(logged[i + 2]));
            i += 2;
        } else if (c == '\\' && i + 1 < logged.size()) {
            const char n = logged[++i];
            out += n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : n;
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace wp
