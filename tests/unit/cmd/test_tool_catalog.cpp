#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/fs.h"
#include "cmd/options.h"
#include "cmd/tool_catalog.h"

namespace {

enum class Kind { setting, choice };
constexpr Kind S = Kind::setting;
constexpr Kind C = Kind::choice;

// Every long option of every tool, decided one by one: a setting holds for
// every run and may stand in wp.conf; a choice names what one run does or on
// what, and is refused there. A new option fails this test until it is added
// here, so that none becomes settable from the file by accident.
struct Row {
    const char* where; // tool, then subcommands
    const char* option;
    Kind kind;
};

const Row k_common[] = {
    {"", "--config", C}, // the file cannot name another file
    {"", "--db", S},          {"", "--spool", S},           {"", "--archive", S},  {"", "--rejects", S},
    {"", "--rules", S},       {"", "--lists", S},           {"", "--ssh-user", S}, {"", "--identity", S},
    {"", "--known-hosts", S}, {"", "--connect-timeout", S}, {"", "--verbose", S},  {"", "--quiet", S},
    {"", "--collector", S},
};

const Row k_tools[] = {
    {"wp-fetchlogs", "--hosts", C},
    {"wp-fetchlogs", "--hosts-file", C},
    {"wp-fetchlogs", "--exclude", C},
    {"wp-fetchlogs", "--where", C},
    {"wp-fetchlogs", "--list", C},
    {"wp-fetchlogs", "--transfer", S},
    {"wp-fetchlogs", "--dry-run", C},
    {"wp-fetchlogs", "--accept-new", C}, // trusting new host keys is decided per run
    {"wp-fetchlogs", "--jobs", S},
    {"wp-fetchlogs", "--timeout", S},
    {"wp-fetchlogs", "--ssh-config", S},
    {"wp-fetchlogs", "--max-clock-offset", S},

    {"wp-parse", "--server", C},
    {"wp-parse", "--format", C}, // of the inputs named on this command line
    {"wp-parse", "--output", C}, // records instead of billing: never the hourly run's
    {"wp-parse", "--json", C},
    {"wp-parse", "--jobs", S},
    {"wp-parse", "--max-reject-ratio", S},
    {"wp-parse", "--zstd-level", S},
    {"wp-parse", "--keep", C},
    {"wp-parse", "--force-overlap", C},
    {"wp-parse", "--rebuild-db", C},

    {"wp-rollup", "--tz", S},
    {"wp-rollup", "--days", C},
    {"wp-rollup", "--since", C},
    {"wp-rollup", "--rebuild", C},
    {"wp-rollup", "--verify", C},
    {"wp-rollup", "--dry-run", C},
    {"wp-rollup report", "--by", C},
    {"wp-rollup report", "--server", C},
    {"wp-rollup report", "--user", C},
    {"wp-rollup report", "--account", C},
    {"wp-rollup report", "--country", C},
    {"wp-rollup report", "--from", C},
    {"wp-rollup report", "--to", C},
    {"wp-rollup report", "--month", C},
    {"wp-rollup report", "--day", C},
    {"wp-rollup report", "--top", C},
    {"wp-rollup report", "--totals", C},
    {"wp-rollup report", "--format", S}, // how to print, not what
    {"wp-rollup report", "--si", S},
    {"wp-rollup report", "--iec", S},
    {"wp-rollup invoice", "--account", C},
    {"wp-rollup invoice", "--unassigned", C},
    {"wp-rollup invoice", "--all-accounts", C},
    {"wp-rollup invoice", "--month", C},
    {"wp-rollup invoice", "--format", C}, // it names the files of --outdir: one run's choice
    {"wp-rollup invoice", "--si", S},
    {"wp-rollup invoice", "--iec", S},
    {"wp-rollup invoice", "--output", C},
    {"wp-rollup invoice", "--outdir", C},
    {"wp-rollup quota", "--warn", S}, // a monitoring threshold holds for every run
    {"wp-rollup quota", "--crit", S},
    {"wp-rollup quota", "--si", S},
    {"wp-rollup quota", "--iec", S},

    {"wp-hosts list", "--hosts", C},
    {"wp-hosts list", "--hosts-file", C},
    {"wp-hosts list", "--exclude", C},
    {"wp-hosts list", "--where", C},
    {"wp-hosts list", "--all", C},
    {"wp-hosts list", "--format", S},
    {"wp-hosts status", "--where", C},
    {"wp-hosts status", "--format", S},
    {"wp-hosts show", "--format", S},
    {"wp-hosts add", "--address", C}, // a server's fields, never every server's
    {"wp-hosts add", "--port", C},
    {"wp-hosts add", "--ssh-user", C},
    {"wp-hosts add", "--city", C},
    {"wp-hosts add", "--country", C},
    {"wp-hosts add", "--provider", C},
    {"wp-hosts add", "--virt", C},
    {"wp-hosts add", "--log-path", C},
    {"wp-hosts add", "--rotate-cmd", C},
    {"wp-hosts add", "--notes", C},
    {"wp-hosts add", "--collector", C},
    {"wp-hosts add", "--inactive", C},
    {"wp-hosts add", "--active", C},
    {"wp-hosts set", "--address", C},
    {"wp-hosts set", "--port", C},
    {"wp-hosts set", "--ssh-user", C},
    {"wp-hosts set", "--city", C},
    {"wp-hosts set", "--country", C},
    {"wp-hosts set", "--provider", C},
    {"wp-hosts set", "--virt", C},
    {"wp-hosts set", "--log-path", C},
    {"wp-hosts set", "--rotate-cmd", C},
    {"wp-hosts set", "--notes", C},
    {"wp-hosts set", "--collector", C},
    {"wp-hosts set", "--active", C},
    {"wp-hosts set", "--inactive", C},
    {"wp-hosts set", "--rename", C},
    {"wp-hosts check", "--warn-fetch-age", S},
    {"wp-hosts check", "--crit-fetch-age", S},
    {"wp-hosts check", "--warn-failures", S},
    {"wp-hosts check", "--crit-failures", S},
    {"wp-hosts check", "--warn-clock", S},
    {"wp-hosts check", "--crit-clock", S},
    {"wp-hosts check", "--warn-spool-files", S},
    {"wp-hosts check", "--crit-spool-files", S},
    {"wp-hosts check", "--warn-spool-bytes", S},
    {"wp-hosts check", "--crit-spool-bytes", S},
    {"wp-hosts check", "--warn-spool-age", S},
    {"wp-hosts check", "--crit-spool-age", S},
    {"wp-hosts check", "--warn-rejects-held", S},
    {"wp-hosts check", "--crit-rejects-held", S},
    {"wp-hosts check", "--warn-summary-age", S},
    {"wp-hosts check", "--crit-summary-age", S},
    {"wp-hosts check", "--prometheus", C}, // where this run writes
    {"wp-hosts migrate-db", "--to", C},    // the target of one run

    {"wp-runall", "--hosts", C},
    {"wp-runall", "--hosts-file", C},
    {"wp-runall", "--exclude", C},
    {"wp-runall", "--where", C},
    {"wp-runall", "--status-file", S},
    {"wp-runall", "--down-after", S},
    {"wp-runall", "--include-down", C},
    {"wp-runall", "--list", C},
    {"wp-runall", "--list-each", C},
    {"wp-runall", "--push", C},
    {"wp-runall", "--script", C},
    {"wp-runall", "--local", C},
    {"wp-runall", "--jobs", S},
    {"wp-runall", "--timeout", S},
    {"wp-runall", "--gather", C},
    {"wp-runall", "--outdir", C},
    {"wp-runall", "--batch", C},
    {"wp-runall", "--accept-new", C},
    {"wp-runall", "--ssh-config", S},

    {"wp-provision", "--hosts", C},
    {"wp-provision", "--hosts-file", C},
    {"wp-provision", "--exclude", C},
    {"wp-provision", "--where", C},
    {"wp-provision", "--list", C},
    {"wp-provision", "--name", C},
    {"wp-provision", "--city", C},
    {"wp-provision", "--country", C},
    {"wp-provision", "--provider", C},
    {"wp-provision", "--to-release", C},
    {"wp-provision", "--files", C}, // what this run pushes
    {"wp-provision", "--hostname", C},
    {"wp-provision", "--resolver", C},
    {"wp-provision", "--no-ask", C},
    {"wp-provision", "--answers", C},
    {"wp-provision", "--learn", C},
    {"wp-provision", "--password-file", C},
    {"wp-provision", "--ssh-config", S},
    {"wp-provision", "--accept-new", C},
    {"wp-provision", "--jobs", S},
    {"wp-provision", "--timeout", S},

    {"wp-users list", "--format", S},
    {"wp-users list", "--names", C},
    {"wp-users show", "--format", S},
    {"wp-users accounts", "--format", S},
    {"wp-users set", "--account", C}, // one user's assignment, never every user's
    {"wp-users set", "--unassign", C},
    {"wp-users set", "--from", C},
    {"wp-users set", "--amend-closed", C}, // per run, never a standing permission
    {"wp-users import", "--amend-closed", C},
};

const char* const k_tool_names[] = {"wp-fetchlogs", "wp-hosts",  "wp-parse", "wp-provision",
                                    "wp-rollup",    "wp-runall", "wp-users"};

// "wp-hosts set": the tool and subcommands an option belongs to (option groups have no name)
std::string where_of(const CLI::App& owner) {
    std::string where;
    for (const CLI::App* a = &owner; a != nullptr; a = a->get_parent()) {
        if (!a->get_name().empty()) {
            where = where.empty() ? a->get_name() : a->get_name() + " " + where;
        }
    }
    return where;
}

std::map<std::string, Kind> expected_table() {
    std::map<std::string, Kind> table;
    for (const char* tool : k_tool_names) {
        for (const Row& r : k_common) {
            table[std::string(tool) + " " + r.option] = r.kind;
        }
    }
    for (const Row& r : k_tools) {
        EXPECT_TRUE(table.emplace(std::string(r.where) + " " + r.option, r.kind).second)
            << r.where << " " << r.option << " is listed twice";
    }
    return table;
}

TEST(ToolCatalog, EveryLongOptionIsASettingOrAChoiceOnPurpose) {
    const std::map<std::string, Kind> expected = expected_table();
    std::set<std::string> seen;
    std::set<std::string> tools;
    wp::for_each_tool([&](CLI::App& app) {
        tools.insert(app.get_name());
        wp::for_each_long_option(app, [&](const CLI::App& owner, const CLI::Option& opt) {
            const std::string key = where_of(owner) + " --" + opt.get_lnames().front();
            seen.insert(key);
            const auto it = expected.find(key);
            if (it == expected.end()) {
                ADD_FAILURE() << key << " is neither a setting nor a choice here: decide, and add it to k_tools";
                return;
            }
            EXPECT_EQ(wp::is_setting(opt), it->second == Kind::setting)
                << key << (wp::is_setting(opt) ? " is marked a setting" : " is not marked a setting");
        });
    });
    EXPECT_EQ(tools, std::set<std::string>(std::begin(k_tool_names), std::end(k_tool_names)));
    for (const auto& [key, kind] : expected) {
        EXPECT_EQ(seen.count(key), 1u) << key << " is in the table but no tool has it";
    }
}

// share/wp.conf.example (as configured for this build) lists every setting
// of every tool, commented out: a shared one before any section or under its
// tool, a tool's own under its tool; a setting with a default of its own
// shows that default. With every such line uncommented, every tool takes the
// file, so no example value is one a tool would refuse.
TEST(ToolCatalog, TheExampleConfigurationShowsEverySettingWithAValueEveryToolTakes) {
    const std::string path = std::string(WP_BUILD_DIR) + "/share/wp.conf.example";
    std::string text;
    std::size_t commented = 0;
    const std::string file = wp::read_file(path);
    for (std::string_view rest = file; !rest.empty();) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
            line.find(" = ") != std::string_view::npos) {
            line.remove_prefix(1);
            ++commented;
        }
        text.append(line).push_back('\n');
    }
    const auto entries = wp::parse_config_text(text, path);
    EXPECT_EQ(entries.size(), commented) << "every setting in the example is commented out";
    const auto keys = wp::every_tool_keys();
    wp::for_each_tool([&](CLI::App& app) {
        wp::for_each_long_option(app, [&](const CLI::App&, const CLI::Option& opt) {
            const std::string default_value = opt.get_default_str();
            if (!wp::is_setting(opt) || default_value.empty() || opt.get_expected_max() == 0) {
                return; // no default of its own to show (a flag's is false)
            }
            for (const auto& e : entries) {
                if (e.key == opt.get_lnames().front() && (e.section.empty() || e.section == app.get_name())) {
                    EXPECT_EQ(e.value, default_value) << path << ":" << e.line << ": " << app.get_name() << "'s "
                                                      << e.key << " is not shown with its default";
                }
            }
        });
        EXPECT_NO_THROW(wp::apply_config(app, entries, path, keys));
    });
    for (const auto& tool : keys) {
        for (const auto& setting : tool.settings) {
            const bool shown = std::any_of(entries.begin(), entries.end(), [&](const wp::ConfigEntry& e) {
                return e.key == setting && (e.section.empty() || e.section == tool.tool);
            });
            EXPECT_TRUE(shown) << tool.tool << "'s setting " << setting << " is not in " << path;
        }
    }
}

TEST(ToolCatalog, KeysOfATool) {
    const auto keys = wp::every_tool_keys();
    ASSERT_EQ(keys.size(), 7u);
    const auto& hosts = keys[1];
    ASSERT_EQ(hosts.tool, "wp-hosts");
    // the shared --ssh-user is a setting, though `add --ssh-user` is a choice
    EXPECT_EQ(hosts.settings.count("ssh-user"), 1u);
    EXPECT_EQ(hosts.choices.count("ssh-user"), 0u);
    EXPECT_EQ(hosts.settings.count("format"), 1u);
    EXPECT_EQ(hosts.choices.count("city"), 1u);
    EXPECT_EQ(hosts.choices.count("config"), 1u);
    EXPECT_EQ(hosts.settings.count("help"), 0u);
    EXPECT_EQ(hosts.choices.count("help"), 0u);
    EXPECT_EQ(hosts.choices.count("version"), 0u);
}

TEST(ToolCatalog, EveryToolOfTheTreeHasAnEntryAndNoOtherDoes) {
    std::set<std::string> names;
    wp::for_each_tool([&names](CLI::App& app) { names.insert(app.get_name()); });
    const std::set<std::string> expected = {"wp-fetchlogs", "wp-hosts",  "wp-parse", "wp-provision",
                                            "wp-rollup",    "wp-runall", "wp-users"};
    EXPECT_EQ(names, expected);
    std::string argv0 = "wp-nothing";
    char* argv[] = {argv0.data(), nullptr};
    testing::internal::CaptureStderr();
    EXPECT_EQ(wp::tool_main("wp-nothing", 1, argv), 70);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "wp-nothing: no such wp tool\n");
}

} // namespace
