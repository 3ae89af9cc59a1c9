#include <gtest/gtest.h>

#include "base/error.h"
#include "store/inventory.h"
#include "support/tmpdir.h"

namespace {

struct Fixture : ::testing::Test {
    TempDir dir;
    wp::Database db{dir.path("wp.db")};
    wp::Inventory inv{db};

    wp::Server server(const std::string& name, const std::string& country = "CA") {
        wp::Server s;
        s.name = name;
        s.country = country;
        return s;
    }
};

TEST(Validation, CountryCodes) {
    std::string upper;
    EXPECT_EQ(wp::check_country("ca", upper), "");
    EXPECT_EQ(upper, "CA");
    EXPECT_EQ(wp::check_country("GB", upper), "");
    EXPECT_EQ(wp::check_country("zw", upper), "");
    EXPECT_EQ(upper, "ZW");
    for (const char* bad : {"Canada", "XX", "C", "CAN", "", "c4", "A D"}) {
        EXPECT_NE(wp::check_country(bad, upper), "") << bad;
    }
}

TEST_F(Fixture, CountryKeptUpperCaseAndChecked) {
    inv.add(server("tor1", "ca"));
    EXPECT_EQ(inv.find("tor1")->country.value_or(""), "CA");
    EXPECT_EQ(exit_code_of([&] { inv.add(server("x1", "Canada")); }), 64);
    wp::ServerChanges c;
    c.country = "ie";
    inv.change("tor1", c);
    EXPECT_EQ(inv.find("tor1")->country.value_or(""), "IE");
    c.country = "Ireland";
    EXPECT_EQ(exit_code_of([&] { inv.change("tor1", c); }), 64);
}

TEST(Validation, NamesPortsVirt) {
    int port = 0;
    EXPECT_EQ(wp::check_server_name("tor1.vpsville-2_a"), "");
    EXPECT_NE(wp::check_server_name("-x"), "");
    EXPECT_NE(wp::check_server_name("../etc"), "");
    EXPECT_NE(wp::check_server_name("a b"), "");
    EXPECT_NE(wp::check_server_name(""), "");
    EXPECT_EQ(wp::check_port("65535", port), "");
    EXPECT_EQ(port, 65535);
    EXPECT_NE(wp::check_port("0", port), "");
    EXPECT_NE(wp::check_port("65536", port), "");
    EXPECT_NE(wp::check_port("22x", port), "");
    EXPECT_EQ(wp::check_virt("virtuozzo"), "");
    EXPECT_NE(wp::check_virt("Xen"), "");
    EXPECT_NE(wp::check_address("-oProxyCommand=x"), "");
    EXPECT_EQ(wp::check_address("2001:db8::1"), "");
    EXPECT_NE(wp::check_log_path("var/log"), "");
}

TEST_F(Fixture, AddDefaultsAndFind) {
    inv.add(server("tor1"));
    auto s = inv.find("tor1");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->address, "tor1");
    EXPECT_EQ(s->port, 22);
    EXPECT_EQ(s->virt, "unknown");
    EXPECT_EQ(s->log_path, "/var/log/squid/access.log");
    EXPECT_EQ(s->rotate_cmd, "squid -k rotate");
    EXPECT_TRUE(s->active);
    EXPECT_GT(s->added_at, 0);
}

TEST_F(Fixture, DuplicateAndInvalidRefused) {
    inv.add(server("tor1"));
    EXPECT_EQ(exit_code_of([&] { inv.add(server("tor1")); }), 64);
    auto bad = server("x");
    bad.virt = "hyperv";
    EXPECT_EQ(exit_code_of([&] { inv.add(bad); }), 64);
    EXPECT_EQ(inv.select("", true).size(), 1u);
}

TEST_F(Fixture, ChangeOnlyGivenFieldsAndRename) {
    auto s = server("tor1");
    s.city = "Toronto";
    inv.add(s);
    wp::ServerChanges c;
    c.port = 2222;
    c.name = "tor2";
    inv.change("tor1", c);
    EXPECT_FALSE(inv.find("tor1"));
    auto t = inv.find("tor2");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->port, 2222);
    EXPECT_EQ(t->city.value_or(""), "Toronto");
    EXPECT_EQ(exit_code_of([&] { inv.change("nope", c); }), 66);
}

TEST_F(Fixture, RetireHidesButKeeps) {
    inv.add(server("a1"));
    inv.add(server("b1"));
    inv.retire("a1");
    auto visible = inv.select("", false);
    ASSERT_EQ(visible.size(), 1u);
    EXPECT_EQ(visible[0].name, "b1");
    auto all = inv.select("", true);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_FALSE(all[0].active);
    EXPECT_TRUE(all[0].retired_at.has_value());
}

TEST_F(Fixture, WhereFiltersAndCanOnlyRead) {
    inv.add(server("tor1", "CA"));
    inv.add(server("dub1", "IE"));
    auto ca = inv.select("country = 'CA'", false);
    ASSERT_EQ(ca.size(), 1u);
    EXPECT_EQ(ca[0].name, "tor1");
    for (const char* hostile :
         {"1); DROP TABLE servers; --", "name = 'x' OR (SELECT 1 FROM servers) = 1; DELETE FROM servers",
          "1) ; UPDATE servers SET port = 1; SELECT (1", "(SELECT load_extension('x'))",
          "1 = (WITH d AS (DELETE FROM servers) SELECT 1)"}) {
        EXPECT_EQ(exit_code_of([&] { inv.select(hostile, false); }), 64) << hostile;
    }
    EXPECT_EQ(inv.select("", true).size(), 2u);
    // the authorizer goes away after the filter: ordinary writes still work
    inv.add(server("par1"));
    EXPECT_EQ(inv.select("", true).size(), 3u);
}

TEST(Validation, SqlConditionIsOneExpression) {
    for (const char* one : {"country = 'CA'", "(a = 1) OR (b = 2)", "city = 'a)b' OR \"x)\" = 1", "1 -- )\n",
                            "name = 'it''s'", "[odd)name] = 1", "x /* ) */ = 1"}) {
        EXPECT_EQ(wp::check_sql_expression(one), "") << one;
    }
    for (const char* not_one : {"1) OR (1=1", "1) UNION SELECT * FROM servers --", "(1", "name = 'x", "1 /* open",
                                "1; SELECT 2", "\"a = 1"}) {
        EXPECT_NE(wp::check_sql_expression(not_one), "") << not_one;
    }
}

TEST_F(Fixture, WhereNeverReachesRetiredServersWithoutAll) {
    inv.add(server("tor1"));
    inv.add(server("old1"));
    inv.retire("old1");
    EXPECT_EQ(exit_code_of([&] { inv.select("1) OR (1=1", false); }), 64);
    EXPECT_TRUE(inv.select("retired_at IS NOT NULL", false).empty());
    EXPECT_EQ(inv.select("servers.retired_at IS NOT NULL", true).size(), 1u);
    const auto status = inv.status({}, "name LIKE 'o%' OR name = 'tor1'");
    ASSERT_EQ(status.size(), 1u);
    EXPECT_EQ(status[0].name, "tor1");
}

TEST_F(Fixture, ImportIsAllOrNothing) {
    const char* good = "name,address,port,city,country,virt\n"
                       "tor1,192.0.2.1,22,Toronto,CA,xen\n"
                       "\"par1\",198.51.100.7,2222,\"Paris, 11e\",FR,openvz\n";
    EXPECT_EQ(inv.import_csv(good, "good.csv"), 2u);
    auto p = inv.find("par1");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->port, 2222);
    EXPECT_EQ(p->city.value_or(""), "Paris, 11e");

    const char* bad = "name,port,virt\nlon1,22,xen\nams1,99999,kvm\n";
    try {
        inv.import_csv(bad, "bad.csv");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 65);
        EXPECT_EQ(std::string(e.what()),
                  "bad.csv:3: column port: '99999' is not a port number (1-65535); nothing imported");
    }
    EXPECT_FALSE(inv.find("lon1"));
    EXPECT_EQ(exit_code_of([&] { inv.import_csv("name,colour\nx,red\n", "c.csv"); }), 65);
    EXPECT_EQ(exit_code_of([&] { inv.import_csv("name\nq1\nq1\n", "dup.csv"); }), 65);
    EXPECT_EQ(exit_code_of([&] { inv.import_csv("name,city\n\"open,x\n", "q.csv"); }), 65);
}

TEST(Csv, QuotedNewlinesKeepLineNumbers) {
    auto recs = wp::parse_csv("a,b\r\n\"x\ny\",2\n\n3,4\n", "t");
    ASSERT_EQ(recs.size(), 3u);
    EXPECT_EQ(recs[1].fields[0], "x\ny");
    EXPECT_EQ(recs[1].line, 2);
    EXPECT_EQ(recs[2].line, 5);
}

TEST_F(Fixture, StatusJoinsHostStatus) {
    auto id = inv.add(server("tor1"));
    inv.add(server("dub1"));
    auto st = db.prepare("INSERT INTO host_status (server_id, last_contact, last_error, last_error_at, "
                         "consecutive_failures) VALUES (?, 1700000000, 'connection refused', 1700003600, 3)");
    st.bind(1, id).run();
    auto rows = inv.status({});
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].name, "dub1");
    EXPECT_EQ(rows[0].consecutive_failures, 0);
    EXPECT_EQ(rows[1].last_error.value_or(""), "connection refused");
    EXPECT_EQ(rows[1].consecutive_failures, 3);
    EXPECT_EQ(wp::format_utc(*rows[1].last_contact), "2023-11-14T22:13:20Z");
    EXPECT_EQ(exit_code_of([&] { inv.status({"ghost"}); }), 66);
}

} // namespace
