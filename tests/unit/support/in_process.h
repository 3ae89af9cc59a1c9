#pragma once
// A tool's subcommands run in-process the way its tools/wp-*.cpp wires them:
// the command line parsed by CLI11, the command run on a given database, and
// what it printed on stdout captured.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "cmd/options.h"

// Parses args as `tool`'s command line (add registers its commands into a
// Request), runs it with run(app, request, options) on database db, and
// returns its status; what it printed is left in printed, also when it throws.
template <typename Request, typename Add, typename Run>
int run_in_process(const char* tool, Add add, Run run, std::vector<std::string> args, const std::string& db,
                   std::string& printed) {
    CLI::App app{tool, tool};
    Request request;
    add(app, request);
    std::reverse(args.begin(), args.end()); // CLI11 takes them last first
    app.parse(args);
    wp::CommonOptions options;
    options.db = db;
    ::testing::internal::CaptureStdout();
    int status = -1;
    try {
        status = run(app, request, options);
    } catch (...) {
        printed = ::testing::internal::GetCapturedStdout();
        throw;
    }
    std::fflush(stdout);
    printed = ::testing::internal::GetCapturedStdout();
    return status;
}
