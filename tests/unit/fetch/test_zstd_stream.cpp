#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/fs.h"
#include "fetch/zstd_stream.h"
#include "support/tmpdir.h"

namespace {

// What the zstd command line makes of content: the oracle.
std::string zstd_of(const TempDir& dir, const std::string& content, const std::string& options = "-1") {
    wp::atomic_write_file(dir.path("plain"), content);
    const std::string command = "zstd -q " + options + " -c " + dir.path("plain") + " > " + dir.path("plain.zst");
    EXPECT_EQ(std::system(command.c_str()), 0);
    return wp::read_file(dir.path("plain.zst"));
}

std::string decoded(const std::string& compressed, std::size_t piece) {
    std::string out;
    wp::ZstdStream stream([&](std::string_view data) { out.append(data); });
    for (std::size_t at = 0; at < compressed.size(); at += piece) {
        stream.feed(std::string_view(compressed).substr(at, piece));
    }
    stream.finish();
    return out;
}

struct ZstdStreamTest : ::testing::Test {
    TempDir dir;
    void SetUp() override {
        if (std::system("command -v zstd >/dev/null 2>&1") != 0) {
            GTEST_SKIP() << "zstd is not installed";
        }
    }
};

TEST_F(ZstdStreamTest, GivesBackWhatZstdCompressedInAnyPieces) {
    std::string content;
    for (int i = 0; i < 50000; ++i) {
        content += "1764072000.123      5 127.0.0.1 TCP_MISS/200 " + std::to_string(i) + " GET http://x/ alice -\n";
    }
    const std::string compressed = zstd_of(dir, content);
    for (const std::size_t piece : {std::size_t{1} << 20, std::size_t{4096}, std::size_t{7}}) {
        EXPECT_TRUE(decoded(compressed, piece) == content) << piece;
    }
}

TEST_F(ZstdStreamTest, AppendedFramesAreOneStream) {
    const std::string both = zstd_of(dir, "first\n") + zstd_of(dir, "second\n");
    EXPECT_EQ(decoded(both, 5), "first\nsecond\n");
}

TEST_F(ZstdStreamTest, NothingIsNothing) {
    EXPECT_EQ(decoded("", 1), "");
}

TEST_F(ZstdStreamTest, ATruncatedOrCorruptStreamIsAnError) {
    const std::string compressed = zstd_of(dir, std::string(100000, 'x') + "end\n");
    EXPECT_EQ(exit_code_of([&] { decoded(compressed.substr(0, compressed.size() - 3), 1000); }), 65);
    std::string corrupt = compressed;
    corrupt[0] = 'X';
    EXPECT_EQ(exit_code_of([&] { decoded(corrupt, 1000); }), 65);
}

} // namespace
