#pragma once
// A statement written out: a table for a terminal, TSV, CSV, JSON with exact
// integers, or one self-contained HTML page that prints on A4.

#include <string>
#include <string_view>

#include "base/units.h"
#include "summary/invoice.h"

namespace wp {

/// How a statement is written.
enum class StatementFormat { table, tsv, csv, json, html };

/// Parses "table", "tsv", "csv", "json", "html" (Error(64) otherwise).
StatementFormat parse_statement_format(std::string_view name);

/// The file name extension of a format: txt, tsv, csv, json, html.
std::string_view statement_extension(StatementFormat format);

/// The statement's whole text. Sizes are human (units) in the table and the
/// HTML, always beside the exact total; exact byte counts elsewhere.
std::string render_statement(const Invoice& invoice, StatementFormat format, SizeUnits units);

/// Text with &, <, >, " and ' written as HTML character references, and
/// control characters (tab and newline aside) as U+FFFD.
std::string html_escape(std::string_view text);

} // namespace wp
