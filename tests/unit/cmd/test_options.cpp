#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "cmd/options.h"
#include "cmd/parse.h"
#include "cmd/rollup.h"
#include "cmd/tool_catalog.h"
#include "support/tmpdir.h"

namespace {

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const wp::Error& e) {
        return e.what();
    }
    return "";
}

TEST(ConfigText, ParsesKeysValuesCommentsAndQuotes) {
    const auto entries =
        wp::parse_config_text("# comment\n\ndb = /srv/wp.db\n  spool=/s  \nssh-user = \"proxy admin\"\n", "wp.conf");
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].key, "db");
    EXPECT_EQ(entries[0].value, "/srv/wp.db");
    EXPECT_EQ(entries[0].line, 3);
    EXPECT_EQ(entries[1].key, "spool");
    EXPECT_EQ(entries[1].value, "/s");
    EXPECT_EQ(entries[1].line, 4);
    EXPECT_EQ(entries[2].value, "proxy admin");
    EXPECT_EQ(entries[2].line, 5);
}

TEST(ConfigText, MalformedLineNamesFileAndLine) {
    EXPECT_EQ(exit_code_of([] { wp::parse_config_text("db = x\nthis is wrong\n", "/etc/wp/wp.conf"); }), 78);
    EXPECT_EQ(message_of([] { wp::parse_config_text("db = x\nthis is wrong\n", "/etc/wp/wp.conf"); }),
              "/etc/wp/wp.conf:2: expected 'key = value'");
    EXPECT_EQ(message_of([] { wp::parse_config_text("Bad Key = 1\n", "f"); }), "f:1: malformed key 'Bad Key'");
}

TEST(ConfigText, InlineCommentsOutsideQuotesAreDropped) {
    const auto entries = wp::parse_config_text("db = /srv/wp.db # the billing database\n"
                                               "spool = /srv/#spool\t# a '#' inside a word stays\n"
                                               "identity = \"/k # not a comment\"  # a comment\n"
                                               "rules = # nothing but a comment\n",
                                               "wp.conf");
    ASSERT_EQ(entries.size(), 4u);
    EXPECT_EQ(entries[0].value, "/srv/wp.db");
    EXPECT_EQ(entries[1].value, "/srv/#spool");
    EXPECT_EQ(entries[2].value, "/k # not a comment");
    EXPECT_EQ(entries[3].value, "");
    EXPECT_EQ(message_of([] { wp::parse_config_text("db = \"/x\" y\n", "f"); }), "f:1: text after the closing quote");
}

TEST(ConfigText, SectionsNameTheirTool) {
    const auto entries =
        wp::parse_config_text("jobs = 4\n[wp-runall]  # the fan-out\njobs = 1\n[ wp-rollup ]\nformat = json\n", "c");
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].section, "");
    EXPECT_EQ(entries[1].section, "wp-runall");
    EXPECT_EQ(entries[1].line, 3);
    EXPECT_EQ(entries[2].section, "wp-rollup");
    EXPECT_EQ(message_of([] { wp::parse_config_text("[wp-rollup\n", "c"); }), "c:1: expected '[tool]'");
}

struct App {
    CLI::App app{"test", "wp-test"};
    wp::CommonOptions options;
    App() { wp::add_common_options(app, options, "wp-test"); }
};

// wp-parse's and wp-rollup's command lines, parsed from argv
struct Parse {
    CLI::App app{"", "wp-parse"};
    wp::CommonOptions options;
    wp::ParseRequest request;
    explicit Parse(std::vector<const char*> argv) {
        wp::add_common_options(app, options, "wp-parse");
        wp::add_parse_options(app, request);
        argv.insert(argv.begin(), "wp-parse");
        app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    }
};

struct Rollup {
    CLI::App app{"", "wp-rollup"};
    wp::CommonOptions options;
    wp::RollupRequest request;
    explicit Rollup(std::vector<const char*> argv) {
        wp::add_common_options(app, options, "wp-rollup");
        wp::add_rollup_commands(app, request);
        argv.insert(argv.begin(), "wp-rollup");
        app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    }
};

void apply(CLI::App& app, std::string_view text) {
    wp::apply_config(app, wp::parse_config_text(text, "wp.conf"), "wp.conf", wp::every_tool_keys());
}

std::string apply_message(CLI::App& app, std::string_view text) {
    return message_of([&] { apply(app, text); });
}

TEST(ApplyConfig, SetsOptionsNotGivenOnTheCommandLine) {
    App t;
    const char* argv[] = {"wp-test", "--db", "/cli.db"};
    t.app.parse(3, const_cast<char**>(argv));
    wp::apply_config(t.app, wp::parse_config_text("db = /conf.db\nspool = /conf-spool\nconnect-timeout = 7\n", "c"),
                     "c", {});
    EXPECT_EQ(t.options.db, "/cli.db");
    EXPECT_EQ(t.options.spool, "/conf-spool");
    EXPECT_EQ(t.options.connect_timeout, 7);
}

TEST(ApplyConfig, UnknownKeyIsAnErrorNamingFileAndLine) {
    App t;
    const char* argv[] = {"wp-test"};
    t.app.parse(1, const_cast<char**>(argv));
    const auto entries = wp::parse_config_text("db = /x\nspol = /y\n", "/etc/wp/wp.conf");
    EXPECT_EQ(exit_code_of([&] { wp::apply_config(t.app, entries, "/etc/wp/wp.conf", {}); }), 78);
    EXPECT_EQ(message_of([&] { wp::apply_config(t.app, entries, "/etc/wp/wp.conf", {}); }),
              "/etc/wp/wp.conf:2: unknown key 'spol'");
}

TEST(ApplyConfig, AnotherToolsSettingIsIgnored) {
    Parse t({});
    apply(t.app, "tz = America/Toronto\ndown-after = 3\n");
    EXPECT_EQ(t.request.format, "native");
}

TEST(ApplyConfig, ChoicesAreRefusedEvenWhereAnotherToolHasThemAsSettings) {
    for (const char* text :
         {"output = /dev/null\n", "user = user000\n", "dry-run = true\n", "where = 1\n", "rebuild = true\n",
          "city = Toronto\n", "[wp-parse]\nformat = combined\n", "[wp-rollup]\nuser = u\n"}) {
        Parse t({});
        const std::string key = wp::parse_config_text(text, "c").at(0).key;
        const int line = wp::parse_config_text(text, "c").at(0).line;
        EXPECT_EQ(apply_message(t.app, text),
                  fmt::format("wp.conf:{}: '{}' is a command-line choice, not a setting", line, key));
        EXPECT_EQ(t.request.output, "");
    }
    Parse t({});
    EXPECT_EQ(apply_message(t.app, "config = /x\n"), "wp.conf:1: 'config' cannot be set in a configuration file");
}

TEST(ApplyConfig, AGlobalKeyOnlySetsTheToolsWhoseSettingItIs) {
    Parse parse({});
    apply(parse.app, "format = json\n"); // wp-rollup's and wp-hosts' output format
    EXPECT_EQ(parse.request.format, "native");
    Rollup rollup({"report"});
    apply(rollup.app, "format = json\n");
    EXPECT_EQ(rollup.request.report.format, "json");
}

TEST(ApplyConfig, ASectionSetsItsToolOnlyAndWinsOverTheGlobalPart) {
    const char* text = "jobs = 4\nformat = tsv\n[wp-rollup]\nformat = json\n[wp-parse]\nmax-reject-ratio = 0.5\n";
    Parse parse({});
    apply(parse.app, text);
    EXPECT_EQ(parse.request.format, "native");
    EXPECT_EQ(parse.request.jobs, 4);
    EXPECT_EQ(parse.request.max_reject_ratio, 0.5);
    Rollup rollup({"report"});
    apply(rollup.app, text);
    EXPECT_EQ(rollup.request.report.format, "json");
    Rollup cli({"report", "--format", "csv"});
    apply(cli.app, text);
    EXPECT_EQ(cli.request.report.format, "csv");
}

TEST(ApplyConfig, KeysOfOtherSectionsAreChecked) {
    Parse t({});
    EXPECT_EQ(apply_message(t.app, "[wp-runall]\nlist = true\n"),
              "wp.conf:2: 'list' is a command-line choice, not a setting");
    EXPECT_EQ(apply_message(t.app, "[wp-rollup]\njobs = 2\n"), "wp.conf:2: unknown key 'jobs' for wp-rollup");
    EXPECT_EQ(apply_message(t.app, "[wp-rollups]\ntz = UTC\n"), "wp.conf:2: unknown section '[wp-rollups]'");
    EXPECT_EQ(apply_message(t.app, "[wp-rollup]\ntz = UTC\n[wp-rollup]\ntz = UTC\n"), "wp.conf:4: 'tz' set twice");
}

TEST(ApplyConfig, ASettingThatExcludesOneOnTheCommandLineIsNotApplied) {
    Rollup t({"report", "--iec"});
    apply(t.app, "[wp-rollup]\nsi = true\n");
    EXPECT_FALSE(t.request.report.si);
    Rollup both({"report"});
    EXPECT_EQ(apply_message(both.app, "[wp-rollup]\nsi = true\niec = true\n"),
              "wp.conf:3: 'iec' cannot be set with 'si'");
    // a flag set false sets nothing that excludes the other, in either order;
    // the command line still wins over either
    const struct {
        std::vector<const char*> args;
        const char* file;
        bool si;
    } cases[] = {
        {{"report"}, "[wp-rollup]\nsi = false\niec = true\n", false},
        {{"report"}, "[wp-rollup]\niec = false\nsi = true\n", true},
        {{"report"}, "[wp-rollup]\niec = true\nsi = false\n", false},
        {{"report"}, "iec = true\n[wp-rollup]\nsi = false\n", false},
        {{"report", "--si"}, "[wp-rollup]\nsi = false\niec = true\n", true},
    };
    for (const auto& c : cases) {
        Rollup r(c.args);
        apply(r.app, c.file);
        EXPECT_EQ(r.request.report.si, c.si) << c.file;
    }
    Rollup both_true_reversed({"report"});
    EXPECT_EQ(apply_message(both_true_reversed.app, "[wp-rollup]\niec = true\nsi = true\n"),
              "wp.conf:3: 'si' cannot be set with 'iec'");
}

TEST(ApplyConfig, BadValueIsAConfigErrorSaidOnce) {
    App t;
    const char* argv[] = {"wp-test"};
    t.app.parse(1, const_cast<char**>(argv));
    const auto entries = wp::parse_config_text("\nconnect-timeout = soon\n", "c");
    try {
        wp::apply_config(t.app, entries, "c", {});
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 78);
        EXPECT_STREQ(e.what(), "c:2: bad value for 'connect-timeout': 'soon' is not a number from 1 to 3600");
    }
    App q;
    q.app.parse(1, const_cast<char**>(argv));
    EXPECT_EQ(message_of([&] { wp::apply_config(q.app, wp::parse_config_text("quiet = maybe\n", "c"), "c", {}); }),
              "c:1: bad value for 'quiet': 'maybe' is not true, false or a count");
    Parse p({});
    EXPECT_EQ(apply_message(p.app, "jobs = many\n"),
              "wp.conf:1: bad value for 'jobs': 'many' is not a number from 1 to 64");
    EXPECT_EQ(apply_message(p.app, "max-reject-ratio = 2\n"),
              "wp.conf:1: bad value for 'max-reject-ratio': '2' is not a number from 0 to 1");
}

TEST(CliErrorMessage, LowercaseWithTheCommandLineWordsKept) {
    EXPECT_EQ(wp::cli_error_message(CLI::ExtrasError({"--Bogus"})), "unexpected argument --Bogus");
    EXPECT_EQ(wp::cli_error_message(CLI::ValidationError("--jobs", "Value 0 not in range 1 to 64")),
              "--jobs: '0' is not a number from 1 to 64");
    EXPECT_EQ(wp::cli_error_message(CLI::RequiredError("A subcommand")), "a subcommand is required");
    EXPECT_EQ(wp::cli_error_message(CLI::ValidationError("--transfer", "Zstd not in {sftp,zstd,auto}")),
              "--transfer: Zstd not in {sftp,zstd,auto}");
}

TEST(LoadConfig, MissingNamedFileIsAnError) {
    App t;
    t.options.config = "/nonexistent/wp.conf";
    EXPECT_EQ(exit_code_of([&] { wp::load_config(t.app, t.options); }), 78);
}

TEST(LoadConfig, AValueForAnotherToolIsChecked) {
    TempDir dir;
    Parse t({});
    t.options.config = dir.path("wp.conf");
    std::ofstream(t.options.config) << "[wp-runall]\njobs = 0\n";
    EXPECT_EQ(message_of([&] { wp::load_config(t.app, t.options); }),
              t.options.config + ":2: bad value for 'jobs': '0' is not a number from 1 to 64");
}

TEST(LoadConfig, EveryToolsValuesAreAppliedToItsOwnRequestWhileChecked) {
    // Checking wp.conf builds every other tool's command line and writes its
    // values through their options: the requests bound to them must be alive
    // then (ASan in sanitize-ci sees a write into a freed one).
    TempDir dir;
    Parse t({});
    t.options.config = dir.path("wp.conf");
    std::ofstream(t.options.config) << "jobs = 3\n[wp-fetchlogs]\ntransfer = zstd\ntimeout = 600\n"
                                       "[wp-runall]\nssh-config = /etc/ssh/ssh_config\n[wp-rollup]\ntz = UTC\n";
    wp::load_config(t.app, t.options);
    EXPECT_EQ(t.options.config, dir.path("wp.conf"));
}

} // namespace
