#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <vector>

#include "error.h"
#include "fs.h"
#include "line_reader.h"
#include "sha256.h"
#include "tmpdir.h"

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

TEST(LineReader, LinesLongerThanTheBufferGrowIt) {
    TempDir dir;
    const std::string long_line(10000, 'x');
    wp::atomic_write_file(dir.path("b.log"), "a\n" + long_line + "\nb\n");
    // through a pipe: read into a growing buffer
    FILE* p = popen(("cat " + dir.path("b.log")).c_str(), "r");
    ASSERT_NE(p, nullptr);
    const int saved = dup(0);
    dup2(fileno(p), 0);
    auto src = wp::open_byte_source("-");
    wp::LineReader reader(*src, nullptr, 64);
    std::vector<std::string> got;
    std::string_view line;
    while (reader.next(line)) {
        got.emplace_back(line);
    }
    dup2(saved, 0);
    close(saved);
    pclose(p);
    EXPECT_EQ(got, (std::vector<std::string>{"a", long_line, "b"}));
}

TEST(LineReader, MappedLinesStraddleWindowsAndHashMatches) {
    TempDir dir;
    // 40 MiB: lines cross the 16 MiB window boundaries, one line is 20 MiB long
    std::string text;
    for (int i = 0; i < 200000; ++i) {
        text += "line " + std::to_string(i) + " " + std::string(i % 97, 'y') + "\n";
    }
    text += std::string(20u << 20, 'L') + "\n";
    text += "tail without newline";
    wp::atomic_write_file(dir.path("m.log"), text);
    auto src = wp::open_byte_source(dir.path("m.log"));
    ASSERT_GE(src->mappable_fd(), 0);
    wp::Sha256 h;
    wp::LineReader reader(*src, &h);
    std::string joined;
    std::string_view line;
    std::size_t n = 0;
    while (reader.next(line)) {
        joined.append(line);
        if (reader.had_newline()) {
            joined += '\n';
        }
        ++n;
    }
    EXPECT_EQ(n, 200002u);
    EXPECT_TRUE(joined == text);
    EXPECT_EQ(h.hex_digest(), wp::sha256_hex(text));
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

TEST(Sha256, HashesContentAsSha256sumDoes) {
    // sha256sum of "abc" (FIPS 180-2 test vector)
    EXPECT_EQ(wp::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    TempDir dir;
    wp::atomic_write_file(dir.path("e.log"), "abc");
    auto src = wp::open_byte_source(dir.path("e.log"));
    wp::Sha256 h;
    wp::LineReader reader(*src, &h);
    std::string_view line;
    while (reader.next(line)) {
    }
    EXPECT_EQ(h.hex_digest(), wp::sha256_hex("abc"));
}

} // namespace
