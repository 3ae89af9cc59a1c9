#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "base/line_reader.h"
#include "base/sha256.h"
#include "cmd/options.h"
#include "cmd/tool.h"
#include "support/tmpdir.h"

namespace {

std::vector<std::string> lines_of(const std::string& path, std::size_t buffer = 1 << 20) {
    auto src = wp::open_byte_source(path);
    wp::LineReader reader(*src, nullptr, buffer);
    std::vector<std::string> out;
    std::string_view line;
    while (reader.next(line)) {
        out.emplace_back(line);
    }
    return out;
}

TEST(LineReader, SplitsKeepsCrAndLastLineWithoutNewline) {
    TempDir dir;
    wp::atomic_write_file(dir.path("a.log"), "one\r\ntwo\n\nlast");
    EXPECT_EQ(lines_of(dir.path("a.log")), (std::vector<std::string>{"one\r", "two", "", "last"}));
}

// What a LineReader gives: each line, "+t" when truncated, "+n" when it had its newline.
struct Read {
    std::vector<std::string> lines;
    std::vector<std::string> flags;
    std::string sha256;
};

Read read_all(wp::ByteSource& src, std::size_t chunk) {
    wp::Sha256 h;
    wp::LineReader reader(src, &h, chunk);
    Read r;
    std::string_view line;
    while (reader.next(line)) {
        r.lines.emplace_back(line);
        r.flags.push_back(std::string(reader.truncated() ? "t" : "") + (reader.had_newline() ? "n" : ""));
    }
    r.sha256 = h.hex_digest();
    return r;
}

// Reads what `sh -c command` prints, as stdin ("-"), so through a pipe.
Read read_stdin_of(const std::string& command, std::size_t chunk) {
    FILE* p = popen(command.c_str(), "r");
    EXPECT_NE(p, nullptr);
    const int saved = dup(0);
    dup2(fileno(p), 0);
    Read r;
    try {
        auto src = wp::open_byte_source("-");
        r = read_all(*src, chunk);
    } catch (...) {
        dup2(saved, 0);
        close(saved);
        pclose(p);
        throw;
    }
    dup2(saved, 0);
    close(saved);
    pclose(p);
    return r;
}

std::string sha256sum_of(const std::string& path) {
    return shell_output("sha256sum < '" + path + "'").substr(0, 64);
}

TEST(LineReader, LongLineIsTruncatedTo64KiBAndStillHashedWhole) {
    ASSERT_EQ(wp::k_max_line_length, 65536u);
    TempDir dir;
    const std::string file = dir.path("long.log");
    wp::atomic_write_file(file, "a\n" + std::string(200u << 10, 'x') + "\nok\n");
    const std::string expect_sha = sha256sum_of(file);
    ASSERT_EQ(expect_sha.size(), 64u);
    const std::vector<std::string> lines{"a", std::string(65536, 'x'), "ok"};
    const std::vector<std::string> flags{"n", "tn", "n"};
    for (const std::size_t chunk : {std::size_t{1} << 20, std::size_t{4096}, std::size_t{7}}) {
        SCOPED_TRACE(chunk);
        auto src = wp::open_byte_source(file);
        const Read f = read_all(*src, chunk);
        EXPECT_EQ(f.lines, lines);
        EXPECT_EQ(f.flags, flags);
        EXPECT_EQ(f.sha256, expect_sha);
        const Read p = read_stdin_of("cat '" + file + "'", chunk);
        EXPECT_EQ(p.lines, lines);
        EXPECT_EQ(p.flags, flags);
        EXPECT_EQ(p.sha256, expect_sha);
    }
}

TEST(LineReader, LinesAtTheLimitAreWholeOneByteMoreIsTruncated) {
    TempDir dir;
    const std::string at(65536, 'a');
    const std::string over(65537, 'b');
    wp::atomic_write_file(dir.path("edge.log"), at + "\n" + over + "\n" + at + "\n" + over);
    for (const std::size_t chunk : {std::size_t{1} << 20, std::size_t{65536}, std::size_t{1000}}) {
        SCOPED_TRACE(chunk);
        auto src = wp::open_byte_source(dir.path("edge.log"));
        const Read r = read_all(*src, chunk);
        EXPECT_EQ(r.lines, (std::vector<std::string>{at, over.substr(0, 65536), at, over.substr(0, 65536)}));
        EXPECT_EQ(r.flags, (std::vector<std::string>{"n", "tn", "n", "t"}));
    }
}

TEST(LineReader, LinesStraddleChunksAndHashMatches) {
    TempDir dir;
    // 40 MiB: short lines across chunk boundaries, a 20 MiB line, a last line without newline
    std::string text;
    for (int i = 0; i < 200000; ++i) {
        text += "line " + std::to_string(i) + " " + std::string(i % 97, 'y') + "\n";
    }
    text += std::string(20u << 20, 'L') + "\n";
    text += "tail without newline";
    wp::atomic_write_file(dir.path("m.log"), text);
    auto src = wp::open_byte_source(dir.path("m.log"));
    const Read r = read_all(*src, 1 << 20);
    ASSERT_EQ(r.lines.size(), 200002u);
    for (int i : {0, 1, 96, 97, 199999}) {
        EXPECT_EQ(r.lines[static_cast<std::size_t>(i)], "line " + std::to_string(i) + " " + std::string(i % 97, 'y'));
    }
    EXPECT_EQ(r.lines[200000], std::string(65536, 'L'));
    EXPECT_EQ(r.flags[200000], "tn");
    EXPECT_EQ(r.lines[200001], "tail without newline");
    EXPECT_EQ(r.flags[200001], "");
    EXPECT_EQ(r.sha256, sha256sum_of(dir.path("m.log")));
}

// An endless-looking input made on the fly: size bytes of 'a', then "\nok\n".
class LongLineSource : public wp::ByteSource {
public:
    explicit LongLineSource(std::uint64_t size) : m_left(size) {}
    std::size_t read(char* buffer, std::size_t size) override {
        if (m_left > 0) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size, m_left));
            std::memset(buffer, 'a', n);
            m_left -= n;
            return n;
        }
        const std::size_t n = std::min(size, m_tail.size());
        std::memcpy(buffer, m_tail.data(), n);
        m_tail.erase(0, n);
        return n;
    }

private:
    std::uint64_t m_left;
    std::string m_tail = "\nok\n";
};

long status_kib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stol(line.substr(field.size() + 1));
        }
    }
    return -1;
}

TEST(LineReader, OneGibLineKeepsMemoryFlat) {
    // "5" resets the peak resident set (VmHWM) to the current one.
    {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5" << std::flush;
        if (!clear) {
            GTEST_SKIP() << "cannot reset VmHWM through /proc/self/clear_refs";
        }
    }
    const long before = status_kib("VmRSS");
    LongLineSource src(1ull << 30);
    const Read r = read_all(src, 1 << 20);
    const long peak = status_kib("VmHWM");
    EXPECT_EQ(r.lines, (std::vector<std::string>{std::string(65536, 'a'), "ok"}));
    EXPECT_EQ(r.flags, (std::vector<std::string>{"tn", "n"}));
    // the reader's buffer is 1 MiB + 64 KiB; copies in the test add 64 KiB
    EXPECT_LT(peak - before, 8 * 1024) << "peak " << peak << " KiB, before " << before << " KiB";
}

TEST(LineReader, TruncatingTheFileWhileItIsReadEndsTheReadWithoutSigbus) {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 400000; ++i) {
        text += "line " + std::to_string(i) + " " + std::string(64, 'z') + "\n";
    }
    wp::atomic_write_file(dir.path("t.log"), text); // 30 MiB
    auto src = wp::open_byte_source(dir.path("t.log"));
    wp::LineReader reader(*src);
    std::string_view line;
    ASSERT_TRUE(reader.next(line));
    ASSERT_EQ(::truncate(dir.path("t.log").c_str(), 0), 0);
    std::size_t n = 1;
    while (reader.next(line)) {
        ++n;
    }
    EXPECT_GE(n, 1u);
    EXPECT_LT(n, 400000u);
}

TEST(LineReader, ReadsZstdAndGzipByContent) {
    TempDir dir;
    const std::string text = "first line\nsecond line\n";
    wp::atomic_write_file(dir.path("c.log"), text);
    const std::string cmd = "cd " + dir.path() + " && zstd -q -c c.log > c.log.zst && gzip -c c.log > c.log.gz" +
                            " && gzip -c c.log >> c.log.gz && cp c.log.zst renamed.log";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const std::vector<std::string> expect{"first line", "second line"};
    EXPECT_EQ(lines_of(dir.path("c.log.zst")), expect);
    EXPECT_EQ(lines_of(dir.path("renamed.log")), expect);
    // concatenated gzip members are one stream, as gzip -d sees them
    EXPECT_EQ(lines_of(dir.path("c.log.gz")),
              (std::vector<std::string>{"first line", "second line", "first line", "second line"}));
}

TEST(LineReader, TruncatedZstdIsAnError) {
    TempDir dir;
    std::string big;
    for (int i = 0; i < 20000; ++i) {
        big += "line " + std::to_string(i) + "\n";
    }
    wp::atomic_write_file(dir.path("d.log"), big);
    const std::string cmd = "cd " + dir.path() + " && zstd -q -c d.log | head -c 2000 > d.log.zst";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_THROW(lines_of(dir.path("d.log.zst")), wp::Error);
}

// Runs f in a child process; its exit status (128 + signal when killed by one), or -1 when it took longer than
// timeout_ms (the child is killed). What it writes on stderr goes to *err.
// after_start(pid) runs in the parent once the child started.
int in_child(const std::function<int()>& f, int timeout_ms, std::string* err = nullptr,
             const std::function<void(pid_t)>& after_start = {}) {
    TempDir dir;
    const std::string err_path = dir.path("stderr");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 2);
        int code = 70;
        try {
            code = f();
        } catch (const std::exception& e) {
            fmt::print(stderr, "{}\n", e.what());
        }
        std::fflush(nullptr);
        ::_exit(code);
    }
    if (after_start) {
        after_start(pid);
    }
    int status = 0;
    int waited_ms = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (waited_ms >= timeout_ms) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        ::usleep(10000);
        waited_ms += 10;
    }
    if (err != nullptr) {
        *err = shell_output("cat '" + err_path + "'");
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The exit code and message of the wp::Error that opening and reading path throws.
std::pair<int, std::string> open_error(const std::string& path) {
    try {
        lines_of(path);
    } catch (const wp::Error& e) {
        return {e.code(), e.what()};
    }
    return {0, ""};
}

TEST(OpenByteSource, RefusesAFifoAtOnceWithCode66) {
    TempDir dir;
    const std::string fifo = dir.path("fifo.log");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::string err;
    // no writer: a blocking open would wait forever
    const int code = in_child(
        [&] {
            const auto [c, message] = open_error(fifo);
            fmt::print(stderr, "{}\n", message);
            return c;
        },
        5000, &err);
    EXPECT_EQ(code, 66);
    EXPECT_EQ(err, "not a regular file\n");
}

TEST(OpenByteSource, RefusesASymlinkToDevZeroADirectoryAndMissingFilesWithoutNamingThem) {
    TempDir dir;
    ASSERT_EQ(::symlink("/dev/zero", dir.path("zero.log").c_str()), 0);
    EXPECT_EQ(open_error(dir.path("zero.log")), std::make_pair(66, std::string("not a regular file")));
    EXPECT_EQ(open_error(dir.path()), std::make_pair(66, std::string("not a regular file")));
    EXPECT_EQ(open_error(dir.path("absent.log")),
              std::make_pair(66, std::string("cannot open: No such file or directory")));
    // a symlink to a regular file is read
    wp::atomic_write_file(dir.path("real.log"), "x\n");
    ASSERT_EQ(::symlink(dir.path("real.log").c_str(), dir.path("link.log").c_str()), 0);
    EXPECT_EQ(lines_of(dir.path("link.log")), (std::vector<std::string>{"x"}));
}

TEST(OpenByteSource, DecompressionErrorsDoNotNameTheFile) {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 20000; ++i) {
        text += "line " + std::to_string(i) + "\n";
    }
    wp::atomic_write_file(dir.path("d.log"), text);
    const std::string cmd = "cd " + dir.path() + " && gzip -c d.log | head -c 3000 > cut.gz" +
                            " && zstd -q -c d.log | head -c 3000 > cut.zst" +
                            " && { gzip -c d.log | head -c 100; head -c 3000 /dev/urandom; } > bad.gz";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_EQ(open_error(dir.path("cut.gz")), std::make_pair(65, std::string("truncated gzip stream")));
    EXPECT_EQ(open_error(dir.path("cut.zst")), std::make_pair(65, std::string("truncated zstd stream")));
    const auto [code, message] = open_error(dir.path("bad.gz"));
    EXPECT_EQ(code, 65);
    EXPECT_EQ(message.rfind("corrupt gzip data (", 0), 0u) << message;
}

TEST(OpenByteSource, ZstdFramesNeedingAWindowOver32MiBAreRefused) {
    TempDir dir;
    // from a pipe the frame header declares the whole --long window
    const std::string cmd = "cd " + dir.path() + " && printf 'hi\\n' | zstd -q --long=25 -c > w25.zst" +
                            " && printf 'hi\\n' | zstd -q --long=26 -c > w26.zst";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_EQ(lines_of(dir.path("w25.zst")), (std::vector<std::string>{"hi"}));
    EXPECT_EQ(open_error(dir.path("w26.zst")),
              std::make_pair(65, std::string("zstd frame needs a window over 32 MiB (made with --long?): not read")));
}

TEST(OpenByteSource, GzipFillsARequestOver4GiB) {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 300000; ++i) {
        text += "line " + std::to_string(i) + "\n";
    }
    wp::atomic_write_file(dir.path("big.log"), text);
    ASSERT_EQ(std::system(("gzip -1 -c '" + dir.path("big.log") + "' > '" + dir.path("big.log.gz") + "'").c_str()), 0);
    // 5 GiB of address space; only the pages written to are ever allocated
    const std::size_t size = 5ull << 30;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    auto* buffer = static_cast<char*>(p);
    auto src = wp::open_byte_source(dir.path("big.log.gz"));
    std::string got;
    for (;;) {
        const std::size_t n = src->read(buffer, size);
        ASSERT_LE(n, text.size() - got.size());
        if (n == 0) {
            break;
        }
        got.append(buffer, n);
    }
    ::munmap(p, size);
    EXPECT_TRUE(got == text) << got.size() << " bytes read of " << text.size();
}

TEST(OpenByteSource, ASilentStdinPipeGivesUpOnSigint) {
    // As in wp-parse -j: the thread that reads does not get the signal.
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::string err;
    const int status = in_child(
        [&] {
            ::dup2(fds[0], 0);
            ::close(fds[1]);
            ::setenv("WP_CONFIG", "/dev/null", 1);
            CLI::App app("reads stdin", "wp-test");
            wp::CommonOptions options;
            char name[] = "wp-test";
            char* argv[] = {name, nullptr};
            return wp::run_tool(app, options, 1, argv, [] {
                std::exception_ptr error;
                std::thread reader([&] {
                    sigset_t set;
                    sigemptyset(&set);
                    sigaddset(&set, SIGINT);
                    pthread_sigmask(SIG_BLOCK, &set, nullptr);
                    try {
                        auto src = wp::open_byte_source("-");
                        char buf[64];
                        while (src->read(buf, sizeof buf) > 0) {
                        }
                    } catch (...) {
                        error = std::current_exception();
                    }
                });
                reader.join();
                if (error) {
                    std::rethrow_exception(error);
                }
                return 0;
            });
        },
        5000, &err,
        [&](pid_t pid) {
            ASSERT_EQ(::write(fds[1], "abcd", 4), 4); // past the format sniffing, into read()
            ::usleep(300000);
            ::kill(pid, SIGINT);
        });
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_EQ(status, 128 + SIGINT);
    EXPECT_EQ(err, "wp-test: interrupted\n");
}

// Reads all of src, runs between() first; then src's changed_reason().
std::string changed_after_reading(
    wp::ByteSource& src, const std::function<void()>& between = [] {}) {
    between();
    wp::LineReader reader(src, nullptr, 4096);
    std::string_view line;
    while (reader.next(line)) {
    }
    return src.changed_reason();
}

TEST(ChangedReason, EmptyForAnUnchangedFileAndForStdin) {
    TempDir dir;
    const std::string file = dir.path("c.log");
    wp::atomic_write_file(file, "one\ntwo\n");
    auto src = wp::open_byte_source(file);
    EXPECT_EQ(changed_after_reading(*src), "");
    // stdin: nothing to compare with
    const int saved = dup(0);
    const int fd = ::open(file.c_str(), O_RDONLY);
    dup2(fd, 0);
    close(fd);
    auto in = wp::open_byte_source("-");
    const std::string reason = changed_after_reading(*in, [&] { wp::atomic_write_file(file, "changed\n"); });
    dup2(saved, 0);
    close(saved);
    EXPECT_EQ(reason, "");
}

TEST(ChangedReason, GrowingFileIsDetectedWhetherTheNewBytesWereReadOrNot) {
    TempDir dir;
    const std::string file = dir.path("g.log");
    wp::atomic_write_file(file, std::string(100, 'a') + "\n"); // 101 bytes
    auto append = [&] { ASSERT_EQ(std::system(("printf 'more\\n' >> '" + file + "'").c_str()), 0); };
    auto read_grown = wp::open_byte_source(file);
    EXPECT_EQ(changed_after_reading(*read_grown, append), "grew from 101 to 106 bytes while it was read");
    auto grown_after = wp::open_byte_source(file);
    wp::LineReader reader(*grown_after);
    std::string_view line;
    while (reader.next(line)) {
    }
    append();
    EXPECT_EQ(grown_after->changed_reason(), "grew from 106 to 111 bytes while it was read");
}

TEST(ChangedReason, TruncatedModifiedAndReplacedFilesAreDetected) {
    TempDir dir;
    const std::string file = dir.path("t.log");
    std::string text;
    for (int i = 0; i < 10000; ++i) {
        text += "line " + std::to_string(i) + "\n";
    }
    wp::atomic_write_file(file, text);
    auto truncated = wp::open_byte_source(file);
    EXPECT_EQ(changed_after_reading(*truncated, [&] { ASSERT_EQ(::truncate(file.c_str(), 10), 0); }),
              "was truncated while it was read");

    wp::atomic_write_file(file, text);
    auto modified = wp::open_byte_source(file);
    EXPECT_EQ(changed_after_reading(*modified,
                                    [&] {
                                        const struct timespec times[2] = {{1000, 0}, {1000, 0}};
                                        ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
                                    }),
              "was modified while it was read");

    wp::atomic_write_file(file, text);
    auto replaced = wp::open_byte_source(file);
    EXPECT_EQ(changed_after_reading(*replaced, [&] { wp::atomic_write_file(file, "new\n"); }),
              "was replaced by another file while it was read");
}

TEST(ChangedReason, OfACompressedFileIsAboutTheCompressedFile) {
    TempDir dir;
    wp::atomic_write_file(dir.path("z.log"), "first line\nsecond line\n");
    ASSERT_EQ(
        std::system(("cd " + dir.path() + " && gzip -c z.log > z.log.gz && zstd -q -c z.log > z.log.zst").c_str()), 0);
    for (const std::string name : {"z.log.gz", "z.log.zst"}) {
        SCOPED_TRACE(name);
        const std::string file = dir.path(name);
        const auto size_before = std::filesystem::file_size(file);
        auto unchanged = wp::open_byte_source(file);
        EXPECT_EQ(changed_after_reading(*unchanged), "");
        auto grown = wp::open_byte_source(file);
        EXPECT_EQ(changed_after_reading(*grown,
                                        [&] {
                                            const std::string cmd = "cat '" + file + "' >> '" + file + ".2' && cat '" +
                                                                    file + ".2' >> '" + file + "'";
                                            ASSERT_EQ(std::system(cmd.c_str()), 0);
                                        }),
                  fmt::format("grew from {} to {} bytes while it was read", size_before, 2 * size_before));
    }
}

} // namespace
