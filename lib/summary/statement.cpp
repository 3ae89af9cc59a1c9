#include "summary/statement.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/error.h"
#include "base/table.h"

namespace wp {

namespace {

std::string exact(std::int64_t n) {
    return std::to_string(n);
}

std::string account_label(const Invoice& inv) {
    return inv.account ? *inv.account : "unassigned users";
}

std::string class_title(const InvoiceClass& c) {
    return c.factor ? fmt::format("{} x{}", c.label, *c.factor) : c.label + " (split unknown)";
}

std::string units_note(SizeUnits units) {
    return units == SizeUnits::iec ? "IEC units: 1 KiB = 1024 bytes, 1 MiB = 1024 KiB, 1 GiB = 1024 MiB"
                                   : "SI units: 1 kB = 1000 bytes, 1 MB = 1000 kB, 1 GB = 1000 MB";
}

std::string total_billed(const Invoice& inv, SizeUnits units) {
    return fmt::format("{} ({} bytes)", human_size(inv.total.total.billed_bytes, units), inv.total.total.billed_bytes);
}

// A Table's terminal layout, as text.
std::string table_text(const Table& table) {
    char* data = nullptr;
    std::size_t size = 0;
    std::FILE* f = ::open_memstream(&data, &size);
    if (f == nullptr) {
        fail_errno(errno, "cannot lay out a table");
    }
    table.print(f, OutputFormat::table);
    std::fclose(f);
    std::string out(data, size);
    std::free(data);
    return out;
}

// ---- table ------------------------------------------------------------------

std::string render_table(const Invoice& inv, SizeUnits units) {
    std::string out;
    out += fmt::format("Statement  {}\n", account_label(inv));
    out += fmt::format("Period     {} to {} ({})\n", day_name(inv.period.first_day), day_name(inv.period.last_day),
                       inv.period.zone);
    out += fmt::format("Billed     {}\n", total_billed(inv, units));
    std::string classes;
    for (const auto& c : inv.classes) {
        classes += (classes.empty() ? "" : ", ") + class_title(c);
    }
    out += fmt::format("Classes    {}\n", classes.empty() ? "none used" : classes);
    out += fmt::format("Units      {}\n", units_note(units));

    auto section = [&](std::string_view key, std::string_view second, const std::vector<InvoiceLine>& lines,
                       bool with_total) {
        std::vector<Table::Column> columns{{std::string(key)}};
        if (!second.empty()) {
            columns.push_back({std::string(second)});
        }
        columns.push_back({"requests", true});
        for (const auto& c : inv.classes) {
            columns.push_back({c.label, true});
        }
        columns.push_back({"billed", true});
        Table table(columns);
        auto add = [&](const InvoiceLine& line, std::string name, std::string extra) {
            std::vector<std::string> cells{std::move(name)};
            if (!second.empty()) {
                cells.push_back(std::move(extra));
            }
            cells.push_back(exact(line.total.requests));
            for (const auto& c : line.by_class) {
                cells.push_back(human_size(c.bytes, units));
            }
            cells.push_back(human_size(line.total.billed_bytes, units));
            table.add_row(std::move(cells));
        };
        for (const auto& line : lines) {
            add(line, line.key.empty() ? "-" : line.key, line.country.empty() ? "-" : line.country);
        }
        if (with_total) {
            add(inv.total, "total", "");
        }
        out += "\n" + table_text(table);
    };
    section("user", "", inv.users, true);
    section("server", "country", inv.servers, false);
    section("country", "", inv.countries, false);
    section("day", "", inv.days, true);
    return out;
}

// ---- tsv, csv ---------------------------------------------------------------

std::string render_rows(const Invoice& inv, bool tsv) {
    auto field = [tsv](std::string_view s) { return tsv ? tsv_escape(s) : csv_escape(s); };
    const char* sep = tsv ? "\t" : ",";
    std::string out;
    auto row = [&](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size(); ++i) {
            out += (i ? sep : "") + field(cells[i]);
        }
        out += '\n';
    };
    row({"account", "month", "zone", "section", "key", "class", "requests", "bytes", "billed_bytes"});
    const std::string account = inv.account.value_or("");
    auto lines = [&](std::string_view section, const std::vector<InvoiceLine>& list) {
        for (const auto& line : list) {
            for (std::size_t i = 0; i < inv.classes.size(); ++i) {
                const auto& c = line.by_class[i];
                row({account, inv.period.month, inv.period.zone, std::string(section), line.key, inv.classes[i].label,
                     exact(c.requests), exact(c.bytes), exact(c.billed_bytes)});
            }
            row({account, inv.period.month, inv.period.zone, std::string(section), line.key, "all",
                 exact(line.total.requests), exact(line.total.bytes), exact(line.total.billed_bytes)});
        }
    };
    lines("user", inv.users);
    lines("server", inv.servers);
    lines("country", inv.countries);
    lines("day", inv.days);
    lines("total", {inv.total});
    return out;
}

// ---- json -------------------------------------------------------------------

std::string json_counts(const InvoiceCounts& c) {
    return fmt::format(R"({{"requests":{},"bytes":{},"billed_bytes":{}}})", c.requests, c.bytes, c.billed_bytes);
}

std::string json_line(const Invoice& inv, const InvoiceLine& line) {
    std::string classes;
    for (std::size_t i = 0; i < inv.classes.size(); ++i) {
        classes +=
            fmt::format("{}{}:{}", i ? "," : "", json_quote(inv.classes[i].label), json_counts(line.by_class[i]));
    }
    return fmt::format(R"("requests":{},"bytes":{},"billed_bytes":{},"classes":{{{}}}}})", line.total.requests,
                       line.total.bytes, line.total.billed_bytes, classes);
}

std::string json_text_or_null(const std::string& s) {
    return s.empty() ? "null" : json_quote(s);
}

std::string render_json(const Invoice& inv, SizeUnits units) {
    std::string out = "{\n";
    out += fmt::format(R"("account":{},)", inv.account ? json_quote(*inv.account) : "null") + "\n";
    out += fmt::format(R"("month":{},"zone":{},"first_day":"{}","last_day":"{}",)", json_quote(inv.period.month),
                       json_quote(inv.period.zone), day_name(inv.period.first_day), day_name(inv.period.last_day)) +
           "\n";
    out += fmt::format(R"("units":"{}",)", units == SizeUnits::iec ? "iec" : "si") + "\n";
    out += "\"classes\":[";
    for (std::size_t i = 0; i < inv.classes.size(); ++i) {
        const auto& c = inv.classes[i];
        out += fmt::format(R"({}{{"name":{},"factor":{}}})", i ? "," : "", json_quote(c.label),
                           c.factor ? exact(*c.factor) : "null");
    }
    out += "],\n";
    out += "\"total\":{" + json_line(inv, inv.total) + ",\n";
    auto list = [&](std::string_view name, std::string_view key, const std::vector<InvoiceLine>& lines, bool last) {
        out += fmt::format("\"{}\":[", name);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const auto& l = lines[i];
            std::string head =
                fmt::format("\"{}\":{}", key, key == "country" ? json_text_or_null(l.key) : json_quote(l.key));
            if (name == "servers") {
                head += fmt::format(",\"country\":{}", json_text_or_null(l.country));
            }
            out += fmt::format("{}\n{{{},{}", i ? "," : "", head, json_line(inv, l));
        }
        out += lines.empty() ? "]" : "\n]";
        out += last ? "\n" : ",\n";
    };
    list("users", "user", inv.users, false);
    list("servers", "server", inv.servers, false);
    list("countries", "country", inv.countries, false);
    list("days", "day", inv.days, true);
    out += "}\n";
    return out;
}

// ---- html -------------------------------------------------------------------

constexpr std::array<std::string_view, 9> k_palette = {"#3b6ea5", "#e08a2c", "#4f9a4a", "#c8504f", "#6fb0ab",
                                                       "#c9a227", "#94699b", "#e58fa0", "#8a6a52"};
constexpr std::string_view k_unsplit_colour = "#a0a0a0";

std::string colour_of(const Invoice& inv, std::size_t i) {
    return std::string(inv.classes[i].factor ? k_palette[i % k_palette.size()] : k_unsplit_colour);
}

constexpr std::string_view k_style = R"CSS(
@page { size: A4; margin: 12mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
body { font: 9pt/1.3 "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; color: #1c1c1c;
       max-width: 186mm; margin: 8mm auto; padding: 0 4mm; }
h1 { font-size: 15pt; margin: 0 0 2mm 0; }
h2 { font-size: 10.5pt; margin: 4mm 0 1.5mm 0; border-bottom: 0.3mm solid #888; padding-bottom: 0.5mm; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.4mm 1.6mm; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.name { text-align: left; }
thead th { border-bottom: 0.25mm solid #888; font-weight: bold; }
tbody tr:nth-child(even) { background: #f2f4f7; }
tr.sum td { border-top: 0.25mm solid #888; font-weight: bold; }
table.facts { width: auto; margin-bottom: 2mm; }
table.facts th { text-align: left; padding-right: 5mm; font-weight: normal; color: #555; }
table.facts td { text-align: left; }
.total { font-size: 12pt; font-weight: bold; }
.note { color: #555; font-size: 7.5pt; }
table.days td, table.days th { font-size: 7.5pt; padding: 0.1mm 1.6mm; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 7px "DejaVu Sans", Arial, sans-serif; fill: #333; }
@media print {
  body { margin: 0; padding: 0; max-width: none; }
  tr, svg { break-inside: avoid; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) { background: #f2f4f7; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
)CSS";

std::string number(double v) {
    return fmt::format("{:.2f}", v);
}

std::string chart(const Invoice& inv, SizeUnits units) {
    constexpr double width = 700;
    constexpr double height = 200;
    constexpr double left = 58;
    constexpr double right = 692;
    constexpr double top = 8;
    constexpr double bottom = 160;
    std::int64_t max = 0;
    for (const auto& d : inv.days) {
        max = std::max(max, d.total.billed_bytes);
    }
    std::string out = fmt::format(R"(<svg viewBox="0 0 {} {}" role="img" aria-label="billed bytes per day">)",
                                  number(width), number(height)) +
                      "\n";
    // Grid lines at 0, half and the highest day.
    for (int step = 0; step <= 2; ++step) {
        const double y = bottom - (bottom - top) * step / 2.0;
        const std::int64_t value = max / 2 * step + (step == 2 ? max % 2 : 0);
        out += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#bbb" stroke-width="0.5"/>)", number(left),
                           number(y), number(right), number(y)) +
               "\n";
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", number(left - 4), number(y + 2.5),
                           html_escape(human_size(value, units))) +
               "\n";
    }
    const double slot = (right - left) / static_cast<double>(std::max<std::size_t>(inv.days.size(), 1));
    for (std::size_t d = 0; d < inv.days.size(); ++d) {
        const auto& day = inv.days[d];
        const double x = left + slot * static_cast<double>(d) + slot * 0.12;
        double y = bottom;
        for (std::size_t i = 0; i < inv.classes.size() && max > 0; ++i) {
            const std::int64_t billed = day.by_class[i].billed_bytes;
            if (billed <= 0) {
                continue;
            }
            const double h = (bottom - top) * static_cast<double>(billed) / static_cast<double>(max);
            y -= h;
            out += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>)", number(x), number(y),
                               number(slot * 0.76), number(h), colour_of(inv, i)) +
                   "\n";
        }
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", number(x + slot * 0.38),
                           number(bottom + 9), std::stoi(day.key.substr(8, 2))) +
               "\n";
    }
    if (max == 0) {
        out += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">no billed bytes in this period</text>)",
                           number((left + right) / 2), number((top + bottom) / 2)) +
               "\n";
    }
    // The legend: one swatch per class.
    double x = left;
    for (std::size_t i = 0; i < inv.classes.size(); ++i) {
        const std::string label = html_escape(class_title(inv.classes[i]));
        out += fmt::format(R"(<rect x="{}" y="{}" width="8" height="8" fill="{}"/>)", number(x), number(bottom + 22),
                           colour_of(inv, i)) +
               "\n";
        out += fmt::format(R"(<text x="{}" y="{}">{}</text>)", number(x + 11), number(bottom + 29), label) + "\n";
        x += 24 + 4.2 * static_cast<double>(class_title(inv.classes[i]).size());
    }
    out += "</svg>\n";
    return out;
}

std::string render_html(const Invoice& inv, SizeUnits units) {
    const std::string account = html_escape(account_label(inv));
    const std::string first = day_name(inv.period.first_day);
    const std::string last = day_name(inv.period.last_day);
    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out += fmt::format("<title>Statement {} {}</title>\n", account, html_escape(inv.period.month));
    out += fmt::format("<style>{}</style>\n</head>\n<body>\n", k_style);
    out += "<header>\n<h1>Usage statement</h1>\n<table class=\"facts\">\n<tbody>\n";
    out += fmt::format("<tr><th>Account</th><td>{}</td></tr>\n", account);
    out += fmt::format("<tr><th>Period</th><td>{} to {} ({})</td></tr>\n", first, last, html_escape(inv.period.zone));
    out += fmt::format("<tr><th>Total billed</th><td><span class=\"total\">{}</span> ({} bytes)</td></tr>\n",
                       html_escape(human_size(inv.total.total.billed_bytes, units)), inv.total.total.billed_bytes);
    out += fmt::format("<tr><th>Requests</th><td>{}</td></tr>\n", inv.total.total.requests);
    out += fmt::format("<tr><th>Units</th><td>{}</td></tr>\n", html_escape(units_note(units)));
    out += "</tbody>\n</table>\n</header>\n";

    out += "<section>\n<h2>Billed bytes per day, by class</h2>\n" + chart(inv, units) + "</section>\n";

    auto size = [&](std::int64_t n) { return html_escape(human_size(n, units)); };
    auto table = [&](std::string_view title, std::string_view key, bool country, const std::vector<InvoiceLine>& lines,
                     bool with_total, std::string_view css) {
        out += fmt::format("<section>\n<h2>{}</h2>\n<table{}>\n<thead><tr><th>{}</th>", title, css, key);
        if (country) {
            out += "<th>country</th>";
        }
        out += "<th>requests</th>";
        for (const auto& c : inv.classes) {
            out += fmt::format("<th>{}</th>", html_escape(c.label));
        }
        out += "<th>billed</th></tr></thead>\n<tbody>\n";
        bool sum_row = false;
        auto row = [&](const InvoiceLine& line, std::string_view name, std::string_view extra) {
            out += fmt::format("<tr{}><td class=\"name\">{}</td>", sum_row ? " class=\"sum\"" : "", html_escape(name));
            if (country) {
                out += fmt::format("<td class=\"name\">{}</td>", html_escape(extra));
            }
            out += fmt::format("<td>{}</td>", line.total.requests);
            for (const auto& c : line.by_class) {
                out += fmt::format("<td>{}</td>", size(c.bytes));
            }
            out += fmt::format("<td>{}</td></tr>\n", size(line.total.billed_bytes));
        };
        for (const auto& line : lines) {
            row(line, line.key.empty() ? "-" : line.key, line.country.empty() ? "-" : line.country);
        }
        // Not a tfoot: a printer repeats that on every page.
        if (with_total) {
            sum_row = true;
            row(inv.total, "total", "");
            sum_row = false;
        }
        out += "</tbody>\n</table>\n</section>\n";
    };

    // The classes: their factor, bytes and what they billed.
    out += "<section>\n<h2>Billing classes</h2>\n<table>\n<thead><tr><th>class</th><th>factor</th><th>requests</th>"
           "<th>bytes</th><th>billed</th></tr></thead>\n<tbody>\n";
    for (std::size_t i = 0; i < inv.classes.size(); ++i) {
        const auto& c = inv.classes[i];
        const auto& n = inv.total.by_class[i];
        out += fmt::format("<tr><td class=\"name\"><svg width=\"8\" height=\"8\" viewBox=\"0 0 8 8\" "
                           "style=\"display:inline;width:8px\"><rect width=\"8\" height=\"8\" fill=\"{}\"/></svg> "
                           "{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                           colour_of(inv, i), html_escape(c.label), c.factor ? "x" + exact(*c.factor) : "unknown",
                           n.requests, size(n.bytes), size(n.billed_bytes));
    }
    out += "</tbody>\n</table>\n";
    if (inv.has_unsplit()) {
        out += "<p class=\"note\">unsplit: usage recorded before classes were kept; its billed bytes are known, its "
               "split by class is not.</p>\n";
    }
    out += "</section>\n";

    table("Users", "user", false, inv.users, true, "");
    table("Servers", "server", true, inv.servers, false, "");
    table("Countries", "country", false, inv.countries, false, "");
    table("Days", "day", false, inv.days, true, " class=\"days\"");
    out += fmt::format("<p class=\"note\">Days run from midnight to midnight in {}; a usage hour counts on the day "
                       "its first second falls on. Exact bytes: wp-rollup invoice --format json.</p>\n",
                       html_escape(inv.period.zone));
    out += "</body>\n</html>\n";
    return out;
}

} // namespace

StatementFormat parse_statement_format(std::string_view name) {
    if (name == "table") {
        return StatementFormat::table;
    }
    if (name == "tsv") {
        return StatementFormat::tsv;
    }
    if (name == "csv") {
        return StatementFormat::csv;
    }
    if (name == "json") {
        return StatementFormat::json;
    }
    if (name == "html") {
        return StatementFormat::html;
    }
    fail(exit_code::k_usage, "--format: unknown statement format '{}' (table, tsv, csv, json, html)", name);
}

std::string_view statement_extension(StatementFormat format) {
    switch (format) {
    case StatementFormat::table:
        return "txt";
    case StatementFormat::tsv:
        return "tsv";
    case StatementFormat::csv:
        return "csv";
    case StatementFormat::json:
        return "json";
    case StatementFormat::html:
        return "html";
    }
    return "txt";
}

std::string html_escape(std::string_view raw) {
    // The page says UTF-8: it must be, and hold no C1 control either.
    const std::string text = valid_utf8(raw, true);
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            // A control character is no HTML text (nor a character reference).
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                out += "\uFFFD";
            } else {
                out += c;
            }
        }
    }
    return out;
}

std::string render_statement(const Invoice& inv, StatementFormat format, SizeUnits units) {
    switch (format) {
    case StatementFormat::table:
        return render_table(inv, units);
    case StatementFormat::tsv:
        return render_rows(inv, true);
    case StatementFormat::csv:
        return render_rows(inv, false);
    case StatementFormat::json:
        return render_json(inv, units);
    case StatementFormat::html:
        return render_html(inv, units);
    }
    return {};
}

} // namespace wp
