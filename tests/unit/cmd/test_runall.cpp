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
    EXPECT_EQ(r.exclude, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.where, "virt = 'xen'");
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

    wp::RunallRequest unknown;
    EXPECT_THROW(parse({"-", "--frobnicate"}, unknown), CLI::ExtrasError);
}
