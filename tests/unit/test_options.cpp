#include <gtest/gtest.h>

#include "error.h"
#include "options.h"
#include "tmpdir.h"

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
    const auto entries = wp::parse_config_text("# comment\n\ndb = /srv/wp.db\n  spool=/s  \nssh-user = \"proxy admin\"\n",
                                               "wp.conf");
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

struct App {
    CLI::App app{"test", "wp-test"};
    wp::CommonOptions options;
    App() { wp::add_common_options(app, options, "wp-test"); }
};

TEST(ApplyConfig, SetsOptionsNotGivenOnTheCommandLine) {
    App t;
    const char* argv[] = {"wp-test", "--db", "/cli.db"};
    t.app.parse(3, const_cast<char**>(argv));
    wp::apply_config(t.app, wp::parse_config_text("db = /conf.db\nspool = /conf-spool\nconnect-timeout = 7\n", "c"),
                     "c");
    EXPECT_EQ(t.options.db, "/cli.db");
    EXPECT_EQ(t.options.spool, "/conf-spool");
    EXPECT_EQ(t.options.connect_timeout, 7);
}

TEST(ApplyConfig, UnknownKeyIsAnErrorNamingFileAndLine) {
    App t;
    const char* argv[] = {"wp-test"};
    t.app.parse(1, const_cast<char**>(argv));
    const auto entries = wp::parse_config_text("db = /x\nspol = /y\n", "/etc/wp/wp.conf");
    EXPECT_EQ(exit_code_of([&] { wp::apply_config(t.app, entries, "/etc/wp/wp.conf"); }), 78);
    EXPECT_EQ(message_of([&] { wp::apply_config(t.app, entries, "/etc/wp/wp.conf"); }),
              "/etc/wp/wp.conf:2: unknown key 'spol'");
}

TEST(ApplyConfig, AnotherToolsKeyIsIgnored) {
    App t;
    const char* argv[] = {"wp-test"};
    t.app.parse(1, const_cast<char**>(argv));
    EXPECT_EQ(exit_code_of([&] { wp::apply_config(t.app, wp::parse_config_text("max-reject-ratio = 0.5\n", "c"), "c"); }),
              0);
}

TEST(ApplyConfig, BadValueIsAConfigError) {
    App t;
    const char* argv[] = {"wp-test"};
    t.app.parse(1, const_cast<char**>(argv));
    const auto entries = wp::parse_config_text("\nconnect-timeout = soon\n", "c");
    try {
        wp::apply_config(t.app, entries, "c");
        FAIL() << "no error";
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 78);
        EXPECT_EQ(std::string(e.what()).rfind("c:2: bad value for 'connect-timeout'", 0), 0u) << e.what();
    }
}

TEST(LoadConfig, MissingNamedFileIsAnError) {
    App t;
    t.options.config = "/nonexistent/wp.conf";
    EXPECT_EQ(exit_code_of([&] { wp::load_config(t.app, t.options); }), 78);
}

} // namespace
