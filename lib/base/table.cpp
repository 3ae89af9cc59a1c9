#include "base/table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include <fmt/format.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/text.h"

namespace wp {

bool is_smart_terminal(std::FILE* stream) {
    if (::isatty(::fileno(stream)) == 0) {
        return false;
    }
    const char* term = std::getenv("TERM");
    return term != nullptr && *term != '\0' && std::strcmp(term, "dumb") != 0;
}

bool use_colour(std::FILE* stream) {
    const char* no_colour = std::getenv("NO_COLOR");
    return is_smart_terminal(stream) && (no_colour == nullptr || *no_colour == '\0');
}

OutputFormat parse_output_format(std::string_view name) {
    if (name == "table") {
        return OutputFormat::table;
    }
    if (name == "tsv") {
        return OutputFormat::tsv;
    }
    if (name == "csv") {
        return OutputFormat::csv;
    }
    if (name == "json") {
        return OutputFormat::json;
    }
    fail(exit_code::k_usage, "unknown output format '{}' (table, tsv, csv, json)", name);
}

std::string tsv_escape(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (char c : field) {
        switch (c) {
        case '\t':
            out += "\\t";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\\':
            out += "\\\\";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string csv_escape(std::string_view field) {
    if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(field);
    }
    std::string out = "\"";
    for (char c : field) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string valid_utf8(std::string_view text, bool no_c1) {
    static constexpr std::string_view k_replacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t n = utf8_sequence_length(text.substr(i));
        if (n == 0) {
            out += k_replacement;
            ++i; // resynchronise on the next byte
            continue;
        }
        const auto b = static_cast<unsigned char>(text[i]);
        const bool c1 = n == 2 && b == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
        // Noncharacters: U+FDD0..U+FDEF and the last two code points of every plane.
        const auto b1 = n >= 2 ? static_cast<unsigned char>(text[i + 1]) : 0;
        const auto last = static_cast<unsigned char>(text[i + n - 1]);
        const auto before_last = n >= 2 ? static_cast<unsigned char>(text[i + n - 2]) : 0;
        const bool nonchar = (n == 3 && b == 0xef && b1 == 0xb7 && last >= 0x90 && last <= 0xaf) ||
                             (n >= 3 && (last == 0xbe || last == 0xbf) && before_last == 0xbf &&
                              (n == 3 ? b == 0xef : (b1 & 0x0f) == 0x0f));
        if (no_c1 && (c1 || nonchar)) {
            out += k_replacement;
        } else {
            out.append(text.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::string json_quote(std::string_view raw) {
    const std::string text = valid_utf8(raw);
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += fmt::format("\\u{:04x}", c);
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
    return out;
}

void Table::add_row(std::vector<std::string> cells) {
    cells.resize(m_columns.size());
    m_rows.push_back(std::move(cells));
}

namespace {

// Display width in code points (UTF-8 continuation bytes take no column).
std::size_t display_width(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

} // namespace

void Table::print(std::FILE* stream, OutputFormat format) const {
    if (format == OutputFormat::automatic) {
        format = is_smart_terminal(stream) ? OutputFormat::table : OutputFormat::tsv;
    }
    fmt::memory_buffer out;
    auto it = std::back_inserter(out);
    switch (format) {
    case OutputFormat::automatic:
    case OutputFormat::table: {
        std::vector<std::size_t> width(m_columns.size());
        std::vector<std::vector<std::string>> shown;
        shown.reserve(m_rows.size());
        for (std::size_t c = 0; c < m_columns.size(); ++c) {
            width[c] = display_width(m_columns[c].name);
        }
        for (const auto& row : m_rows) {
            auto& cells = shown.emplace_back();
            for (std::size_t c = 0; c < row.size(); ++c) {
                cells.push_back(escape_control(row[c]));
                width[c] = std::max(width[c], display_width(cells.back()));
            }
        }
        auto emit = [&](const std::vector<std::string>& cells) {
            std::string line;
            for (std::size_t c = 0; c < cells.size(); ++c) {
                const std::size_t pad = width[c] - display_width(cells[c]);
                const bool last = c + 1 == cells.size();
                if (m_columns[c].numeric) {
                    line.append(pad, ' ');
                    line += cells[c];
                } else {
                    line += cells[c];
                    if (!last) {
                        line.append(pad, ' ');
                    }
                }
                if (!last) {
                    line += "  ";
                }
            }
            while (!line.empty() && line.back() == ' ') {
                line.pop_back();
            }
            fmt::format_to(it, "{}\n", line);
        };
        std::vector<std::string> header;
        for (const auto& col : m_columns) {
            header.push_back(col.name);
        }
        emit(header);
        for (const auto& cells : shown) {
            emit(cells);
        }
        break;
    }
    case OutputFormat::tsv:
    case OutputFormat::csv: {
        const bool tsv = format == OutputFormat::tsv;
        auto field = [tsv](std::string_view s) { return tsv ? tsv_escape(s) : csv_escape(s); };
        const char* sep = tsv ? "\t" : ",";
        for (std::size_t c = 0; c < m_columns.size(); ++c) {
            fmt::format_to(it, "{}{}", c ? sep : "", field(m_columns[c].name));
        }
        fmt::format_to(it, "\n");
        for (const auto& row : m_rows) {
            for (std::size_t c = 0; c < row.size(); ++c) {
                fmt::format_to(it, "{}{}", c ? sep : "", field(row[c]));
            }
            fmt::format_to(it, "\n");
        }
        break;
    }
    case OutputFormat::json:
        for (const auto& row : m_rows) {
            fmt::format_to(it, "{{");
            for (std::size_t c = 0; c < row.size(); ++c) {
                const bool bare = m_columns[c].numeric && !row[c].empty();
                std::string value = bare ? row[c] : (row[c].empty() ? std::string("null") : json_quote(row[c]));
                if (m_columns[c].yes_no && (row[c] == "yes" || row[c] == "no")) {
                    value = row[c] == "yes" ? "true" : "false";
                }
                fmt::format_to(it, "{}{}:{}", c ? "," : "", json_quote(m_columns[c].name), value);
            }
            fmt::format_to(it, "}}\n");
        }
        break;
    }
    std::fwrite(out.data(), 1, out.size(), stream);
}

} // namespace wp
