#pragma once
// Terminal detection and the one table printer every listing uses.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace wp {

/// True when stream is a terminal and TERM is not "dumb".
bool is_smart_terminal(std::FILE* stream);

/// Colour only on a smart terminal and without NO_COLOR.
bool use_colour(std::FILE* stream);

/// How a listing is written. automatic: table on a terminal, TSV otherwise.
enum class OutputFormat { automatic, table, tsv, csv, json };

/// Parses "table", "tsv", "csv", "json" (Error(64) otherwise).
OutputFormat parse_output_format(std::string_view name);

/// Escapes a TSV field: tab, newline, CR and backslash become \t \n \r \\.
std::string tsv_escape(std::string_view field);

/// Quotes a CSV field when it needs it (RFC 4180).
std::string csv_escape(std::string_view field);

/// text with every byte sequence that is not UTF-8 (a stray byte, an
/// overlong form, a surrogate, beyond U+10FFFF) replaced by U+FFFD; with
/// no_c1, the C1 controls U+0080..U+009F and the noncharacters (U+FDD0..
/// U+FDEF, U+xxFFFE, U+xxFFFF) too: no HTML text may hold them.
/// User names are decoded from %XX escapes and may hold any byte.
std::string valid_utf8(std::string_view text, bool no_c1 = false);

/// A JSON string literal, quotes included, of valid_utf8(text).
std::string json_quote(std::string_view text);

/// Rows of text under named columns. Numeric columns are right-aligned on a
/// terminal and written as bare numbers in JSON; yes/no columns are JSON
/// booleans.
class Table {
public:
    struct Column {
        std::string name;
        bool numeric = false;
        bool yes_no = false;
    };

    explicit Table(std::vector<Column> columns) : m_columns(std::move(columns)) {}
    /// Cells in column order; std::nullopt-like empty values are written as "".
    void add_row(std::vector<std::string> cells);
    std::size_t size() const { return m_rows.size(); }

    /// Writes the table to stream in the given format (automatic decided by stream).
    void print(std::FILE* stream, OutputFormat format) const;

private:
    std::vector<Column> m_columns;
    std::vector<std::vector<std::string>> m_rows;
};

} // namespace wp
