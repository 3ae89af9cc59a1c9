#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;

namespace {

TEST(AtomicFile, AppearsOnlyOnCommitWithItsMode) {
    TempDir dir;
    const std::string path = dir.path("out.txt");
    {
        wp::AtomicFile f(path, 0640);
        f.write("hello\n");
        EXPECT_FALSE(fs::exists(path));
        f.commit();
    }
    EXPECT_EQ(wp::read_file(path), "hello\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, UncommittedLeavesNothingAndOldContentStays) {
    TempDir dir;
    const std::string path = dir.path("keep.txt");
    wp::atomic_write_file(path, "old");
    {
        wp::AtomicFile f(path);
        f.write("new but abandoned");
    }
    EXPECT_EQ(wp::read_file(path), "old");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, NeverWritesThroughASymlinkedTemp) {
    TempDir dir;
    wp::atomic_write_file(dir.path("target"), "x");
    fs::create_symlink(dir.path("elsewhere"), dir.path("link"));
    wp::atomic_write_file(dir.path("link"), "replaced");
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir.path("link"))));
    EXPECT_FALSE(fs::exists(dir.path("elsewhere")));
}

TEST(MakeDirectories, CreatesParentsAndFailsOnAFile) {
    TempDir dir;
    wp::make_directories(dir.path("a/b/c"));
    EXPECT_TRUE(fs::is_directory(dir.path("a/b/c")));
    wp::atomic_write_file(dir.path("file"), "");
    EXPECT_THROW(wp::make_directories(dir.path("file/sub")), wp::Error);
}

TEST(ReadFile, MissingIsInputMissing) {
    try {
        wp::read_file("/nonexistent/wp-file");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 66);
        EXPECT_EQ(std::string(e.what()), "cannot open /nonexistent/wp-file: No such file or directory");
    }
}

TEST(ReadFileChunks, HandsOverEveryByteInOrderAcrossChunks) {
    TempDir dir;
    const std::string path = dir.path() + "/big";
    std::string content;
    for (int i = 0; content.size() < 200000; ++i) {
        content += std::to_string(i) + '\n';
    }
    wp::atomic_write_file(path, content);
    std::string got;
    int chunks = 0;
    wp::read_file_chunks(path, [&](std::string_view chunk) {
        got.append(chunk);
        ++chunks;
    });
    EXPECT_EQ(got, content);
    EXPECT_GT(chunks, 1);
}

TEST(ReadFileChunks, ALabelNamesTheFileInEveryFailure) {
    try {
        wp::read_file_chunks(
            "/nonexistent/wp-rules", [](std::string_view) {}, "billing rules /nonexistent/wp-rules");
        FAIL();
    } catch (const wp::Error& e) {
        EXPECT_EQ(e.code(), 66);
        EXPECT_EQ(std::string(e.what()), "cannot read billing rules /nonexistent/wp-rules: No such file or directory");
    }
}

TEST(ReadFileChunks, NoFollowRefusesASymbolicLink) {
    TempDir dir;
    wp::atomic_write_file(dir.path() + "/real", "x");
    fs::create_symlink(dir.path() + "/real", dir.path() + "/link");
    EXPECT_THROW(wp::read_file_chunks(
                     dir.path() + "/link", [](std::string_view) {}, {}, O_NOFOLLOW),
                 wp::Error);
    std::string got;
    wp::read_file_chunks(dir.path() + "/link", [&](std::string_view c) { got.append(c); });
    EXPECT_EQ(got, "x");
}

TEST(LockFile, SecondHolderGetsExit75AndFileStays) {
    TempDir dir;
    const std::string path = dir.path("run.lock");
    {
        wp::LockFile held(path);
        // flock locks belong to the open file description: a child process
        // opening the file anew competes like a second run would.
        const pid_t pid = ::fork();
        if (pid == 0) {
            try {
                wp::LockFile second(path);
                ::_exit(0);
            } catch (const wp::Error& e) {
                ::_exit(e.code());
            }
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 75);
    }
    EXPECT_TRUE(fs::exists(path));
    wp::LockFile again(path); // released with its holder
}

} // namespace
