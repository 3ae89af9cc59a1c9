#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "base/fs.h"
#include "base/line_reader.h"
#include "base/sha256.h"
#include "support/tmpdir.h"

namespace {

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
