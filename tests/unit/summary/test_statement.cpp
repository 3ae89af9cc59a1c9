#include <gtest/gtest.h>

#include <string>

#include "base/calendar.h"
#include "summary/statement.h"
#include "support/fixtures.h"

namespace {

using wp::InvoiceCounts;
using wp::StatementFormat;

// A two-day period (the renderer does not care how long a month is), two
// classes with a factor and unsplit, one user with a hostile name.
wp::Invoice sample(std::optional<std::string> account = "acme") {
    wp::Invoice inv;
    inv.account = std::move(account);
    inv.period.month = "2026-10";
    inv.period.zone = "UTC";
    inv.period.first_day = *wp::parse_day("2026-10-01");
    inv.period.last_day = *wp::parse_day("2026-10-02");
    inv.classes = {{"cache", 1}, {"origin", 2}, {"unsplit", std::nullopt}};
    auto line = [](std::string key, InvoiceCounts cache, InvoiceCounts origin, InvoiceCounts unsplit) {
        wp::InvoiceLine l;
        l.key = std::move(key);
        l.by_class = {cache, origin, unsplit};
        for (const auto& c : l.by_class) {
            l.total.add(c);
        }
        return l;
    };
    inv.users = {line("<b>&\"x'", {1, 1024, 1024}, {2, 2048, 4096}, {1, 10, 15})};
    inv.servers = {line("tor1", {1, 1024, 1024}, {2, 2048, 4096}, {1, 10, 15})};
    inv.servers[0].country = "CA";
    inv.countries = {line("CA", {1, 1024, 1024}, {2, 2048, 4096}, {1, 10, 15})};
    inv.days = {line("2026-10-01", {1, 1024, 1024}, {0, 0, 0}, {1, 10, 15}),
                line("2026-10-02", {0, 0, 0}, {2, 2048, 4096}, {0, 0, 0})};
    inv.total = line("total", {1, 1024, 1024}, {2, 2048, 4096}, {1, 10, 15});
    return inv;
}

TEST(StatementFormat, NamesAndExtensions) {
    EXPECT_EQ(wp::parse_statement_format("html"), StatementFormat::html);
    EXPECT_EQ(wp::parse_statement_format("table"), StatementFormat::table);
    EXPECT_EQ(error_code_of([] { wp::parse_statement_format("pdf"); }), 64);
    EXPECT_EQ(wp::statement_extension(StatementFormat::table), "txt");
    EXPECT_EQ(wp::statement_extension(StatementFormat::json), "json");
}

TEST(Statement, TsvIsOneRowPerLineAndClassWithExactIntegers) {
    const std::string tsv = wp::render_statement(sample(), StatementFormat::tsv, wp::SizeUnits::iec);
    const std::string head = "account\tmonth\tzone\tsection\tkey\tclass\trequests\tbytes\tbilled_bytes\n"
                             "acme\t2026-10\tUTC\tuser\t<b>&\"x'\tcache\t1\t1024\t1024\n"
                             "acme\t2026-10\tUTC\tuser\t<b>&\"x'\torigin\t2\t2048\t4096\n"
                             "acme\t2026-10\tUTC\tuser\t<b>&\"x'\tunsplit\t1\t10\t15\n"
                             "acme\t2026-10\tUTC\tuser\t<b>&\"x'\tall\t4\t3082\t5135\n"
                             "acme\t2026-10\tUTC\tserver\ttor1\tcache\t1\t1024\t1024\n";
    EXPECT_EQ(tsv.substr(0, head.size()), head);
    const std::string tail = "acme\t2026-10\tUTC\ttotal\ttotal\tall\t4\t3082\t5135\n";
    EXPECT_EQ(tsv.substr(tsv.size() - tail.size()), tail);
    // 4 rows for each of user, server, country, two days and the total, and the header.
    EXPECT_EQ(std::count(tsv.begin(), tsv.end(), '\n'), 1 + 6 * 4);
}

TEST(Statement, CsvQuotesWhatNeedsIt) {
    const std::string csv = wp::render_statement(sample(std::nullopt), StatementFormat::csv, wp::SizeUnits::iec);
    EXPECT_NE(csv.find("\n,2026-10,UTC,user,\"<b>&\"\"x'\",cache,1,1024,1024\n"), std::string::npos) << csv;
}

TEST(Statement, JsonHasExactIntegersAndNullForUnassigned) {
    const std::string json = wp::render_statement(sample(std::nullopt), StatementFormat::json, wp::SizeUnits::si);
    EXPECT_EQ(json.substr(0, 21), "{\n\"account\":null,\n\"mo");
    EXPECT_NE(json.find(R"("classes":[{"name":"cache","factor":1},{"name":"origin","factor":2},)"
                        R"({"name":"unsplit","factor":null}])"),
              std::string::npos);
    EXPECT_NE(json.find(R"("total":{"requests":4,"bytes":3082,"billed_bytes":5135,"classes":{"cache":)"
                        R"({"requests":1,"bytes":1024,"billed_bytes":1024},)"),
              std::string::npos);
    EXPECT_NE(json.find(R"({"user":"<b>&\"x'","requests":4,)"), std::string::npos);
    EXPECT_NE(json.find(R"({"server":"tor1","country":"CA","requests":4,)"), std::string::npos);
    EXPECT_NE(json.find(R"("units":"si")"), std::string::npos);
}

TEST(Statement, TableStatesTheUnitsAndTheExactTotal) {
    const std::string iec = wp::render_statement(sample(), StatementFormat::table, wp::SizeUnits::iec);
    EXPECT_NE(iec.find("Statement  acme\n"), std::string::npos) << iec;
    EXPECT_NE(iec.find("Period     2026-10-01 to 2026-10-02 (UTC)\n"), std::string::npos);
    EXPECT_NE(iec.find("Billed     5.0 KiB (5135 bytes)\n"), std::string::npos);
    EXPECT_NE(iec.find("Classes    cache x1, origin x2, unsplit (split unknown)\n"), std::string::npos);
    EXPECT_NE(iec.find("user     requests    cache   origin  unsplit   billed\n"), std::string::npos) << iec;
    const std::string si = wp::render_statement(sample(), StatementFormat::table, wp::SizeUnits::si);
    EXPECT_NE(si.find("Billed     5.1 kB (5135 bytes)\n"), std::string::npos) << si;
}

TEST(Statement, HtmlIsSelfContainedAndEscapesEveryName) {
    const std::string html = wp::render_statement(sample(), StatementFormat::html, wp::SizeUnits::iec);
    EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
    EXPECT_NE(html.find("&lt;b&gt;&amp;&quot;x&#39;"), std::string::npos);
    EXPECT_EQ(html.find("<b>"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("//"), std::string::npos);
    EXPECT_NE(html.find("@page { size: A4;"), std::string::npos);
    EXPECT_NE(html.find("<svg "), std::string::npos);
    EXPECT_NE(html.find("(5135 bytes)"), std::string::npos);
    EXPECT_NE(html.find("2026-10-01 to 2026-10-02 (UTC)"), std::string::npos);
    EXPECT_EQ(wp::html_escape("a<&>\"'b"), "a&lt;&amp;&gt;&quot;&#39;b");
    EXPECT_EQ(wp::html_escape(std::string("x\x01\ty\x7f\0", 6)), "x\uFFFD\ty\uFFFD\uFFFD");
}

} // namespace
