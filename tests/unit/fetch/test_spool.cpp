#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <sys/stat.h>

#include "base/error.h"
#include "base/fs.h"
#include "fetch/spool.h"
#include "support/tmpdir.h"

namespace fs = std::filesystem;

namespace {

TEST(ClaimedName, SpoolNameCarriesTheStamp) {
    EXPECT_EQ(wp::spool_file_name("tor1", "20261125T130000Z.2"), "tor1.20261125T130000Z.2.log");
}

TEST(SpoolDir, RefusesSymlinksAndBadNamesAndSweepsStaleTemporaries) {
    TempDir dir;
    const std::string spool = dir.path("spool");
    wp::make_directories(spool);
    wp::make_directories(dir.path("elsewhere"));
    fs::create_symlink(dir.path("elsewhere"), spool + "/evil");
    EXPECT_THROW(wp::prepare_spool_dir(spool, "evil"), wp::Error);
    EXPECT_THROW(wp::prepare_spool_dir(spool, "../x"), wp::Error);
    EXPECT_THROW(wp::prepare_spool_dir(spool, ""), wp::Error);
    wp::atomic_write_file(spool + "/file", "");
    EXPECT_THROW(wp::prepare_spool_dir(spool, "file"), wp::Error);

    const std::string d = wp::prepare_spool_dir(spool, "tor1");
    EXPECT_EQ(d, spool + "/tor1");
    struct stat st {};
    ASSERT_EQ(::lstat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0750u);
    wp::atomic_write_file(d + "/tor1.20261125T130000Z.log.tmp.1234.0badf00d", "partial");
    wp::atomic_write_file(d + "/tor1.20261125T130000Z.log", "kept");
    wp::atomic_write_file(d + "/notes.tmp.1.0badf00d", "kept too");
    wp::prepare_spool_dir(spool, "tor1");
    EXPECT_FALSE(fs::exists(d + "/tor1.20261125T130000Z.log.tmp.1234.0badf00d"));
    EXPECT_TRUE(fs::exists(d + "/tor1.20261125T130000Z.log"));
    EXPECT_TRUE(fs::exists(d + "/notes.tmp.1.0badf00d"));
}

} // namespace
