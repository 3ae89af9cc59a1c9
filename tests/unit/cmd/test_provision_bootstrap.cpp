#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/provision_bootstrap.h"
#include "support/tmpdir.h"

// Against a real sshd by password: tests/bats/provision.bats.

namespace {

std::string written(const TempDir& dir, const std::string& name, const std::string& content) {
    const std::string path = dir.path(name);
    std::ofstream(path) << content;
    return path;
}

} // namespace

TEST(ProvisionBootstrap, PasswordIsTheFileFirstLineWithoutItsLineEnd) {
    TempDir dir;
    EXPECT_EQ(wp::read_password(written(dir, "a", "s3cret\nsecond line\n"), "unused"), "s3cret");
    EXPECT_EQ(wp::read_password(written(dir, "b", "s3cret\r\n"), "unused"), "s3cret");
    EXPECT_EQ(wp::read_password(written(dir, "c", "no newline at all"), "unused"), "no newline at all");
    EXPECT_EQ(wp::read_password(written(dir, "d", " spaces kept \n"), "unused"), " spaces kept ");
}

TEST(ProvisionBootstrap, EmptyFirstLineOrMissingFileIsRefused) {
    TempDir dir;
    EXPECT_EQ(exit_code_of([&] { wp::read_password(written(dir, "e", "\nlater\n"), "p"); }), 65);
    EXPECT_EQ(exit_code_of([&] { wp::read_password(written(dir, "f", ""), "p"); }), 65);
    EXPECT_EQ(exit_code_of([&] { wp::read_password(dir.path("missing"), "p"); }), 66);
}

TEST(ProvisionBootstrap, NoFileAndNoTerminalIsAUsageError) {
    // A session of its own has no controlling terminal: /dev/tty cannot open.
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::setsid();
        _exit(exit_code_of([] { wp::read_password("", "password: "); }));
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 64);
}
