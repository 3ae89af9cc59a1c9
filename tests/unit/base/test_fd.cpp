#include "base/fd.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

#include <gtest/gtest.h>

namespace {

// Whether fd names an open file description in this process.
bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int open_null() {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    return fd;
}

TEST(Fd, ClosesWhatItHoldsWhenItGoesAway) {
    int raw = -1;
    {
        const wp::Fd fd(open_null());
        raw = fd.get();
        EXPECT_TRUE(fd);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, EmptyHoldsNothingAndClosesNothing) {
    wp::Fd fd;
    EXPECT_FALSE(fd);
    EXPECT_EQ(fd.get(), -1);
    EXPECT_EQ(fd.close(), 0);
}

TEST(Fd, MoveHandsOwnershipOver) {
    wp::Fd a(open_null());
    const int raw = a.get();
    wp::Fd b(std::move(a));
    EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(b.get(), raw);
    wp::Fd c(open_null());
    const int other = c.get();
    c = std::move(b); // c's own descriptor is closed, b's taken
    EXPECT_FALSE(is_open(other));
    EXPECT_EQ(c.get(), raw);
    EXPECT_TRUE(is_open(raw));
}

TEST(Fd, ReleaseKeepsTheDescriptorOpen) {
    wp::Fd fd(open_null());
    const int raw = fd.release();
    EXPECT_FALSE(fd);
    EXPECT_TRUE(is_open(raw));
    ::close(raw);
}

TEST(Fd, CloseReportsAndEmpties) {
    wp::Fd fd(open_null());
    const int raw = fd.get();
    EXPECT_EQ(fd.close(), 0);
    EXPECT_FALSE(fd);
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, ResetClosesTheOldAndTakesTheNew) {
    wp::Fd fd(open_null());
    const int old = fd.get();
    const int fresh = open_null();
    fd.reset(fresh);
    EXPECT_FALSE(is_open(old));
    EXPECT_EQ(fd.get(), fresh);
}

} // namespace
