#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cmd/runall.h"

TEST(RunallCommandLine, OptionsAfterTheStdinDashAreOptionsUpToTheCommand) {
    auto parse = [](std::vector<std::string> args, wp::RunallRequest& r) {
        CLI::App app{"test", "wp-runall"};
        wp::add_runall_options(app, r);
        args.insert(args.begin(), "wp-runall");
        std::vector<const char*> argv;
        for (const auto& a : args) {
            argv.push_back(a.c_str());
        }
        app.parse(static_cast<int>(argv.size()), argv.data());
    };
    wp::RunallRequest r;
    parse({"-", "--list", "-j3", "-x", "a,b", "--where=virt = 'xen'"}, r);
    EXPECT_TRUE(r.list);
    EXPECT_EQ(r.jobs, 3);
    EXPECT_EQ(r.select.exclude, (std::vector<std::string>{"a,b"})); // split by host_options, ranges aware
    EXPECT_EQ(r.select.where, "virt = 'xen'");
    EXPECT_EQ(r.words, std::vector<std::string>{"-"});

    wp::RunallRequest cmd;
    parse({"-", "--push", "f", "/tmp/f", "uptime", "--list"}, cmd);
    EXPECT_EQ(cmd.push, (std::vector<std::string>{"f", "/tmp/f"}));
    EXPECT_FALSE(cmd.list); // the command's own word
    EXPECT_EQ(cmd.words, (std::vector<std::string>{"-", "uptime", "--list"}));

    wp::RunallRequest dashes;
    parse({"-", "--", "--list"}, dashes);
    EXPECT_FALSE(dashes.list);
    EXPECT_EQ(dashes.words, (std::vector<std::string>{"-", "--", "--list"}));

    // -w is -H (pdsh, clush); a comma inside brackets stays with its range
    wp::RunallRequest w;
    parse({"-w", "h[1-4,7],x", "-H", "y", "--list"}, w);
    EXPECT_EQ(w.select.hosts, (std::vector<std::string>{"h[1-4,7],x", "y"}));
    wp::RunallRequest after;
    parse({"-", "-w", "h[1-2]", "--list-each"}, after);
    EXPECT_EQ(after.select.hosts, std::vector<std::string>{"h[1-2]"});
    EXPECT_TRUE(after.list_each);

    wp::RunallRequest unknown;
    EXPECT_THROW(parse({"-", "--frobnicate"}, unknown), CLI::ExtrasError);
}
