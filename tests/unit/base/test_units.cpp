#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "base/units.h"

namespace {

TEST(HumanSize, IecAndSiWithOneDecimal) {
    using wp::SizeUnits;
    EXPECT_EQ(wp::human_size(0, SizeUnits::iec), "0 B");
    EXPECT_EQ(wp::human_size(1023, SizeUnits::iec), "1023 B");
    EXPECT_EQ(wp::human_size(1024, SizeUnits::iec), "1.0 KiB");
    EXPECT_EQ(wp::human_size(1536, SizeUnits::iec), "1.5 KiB");
    EXPECT_EQ(wp::human_size(1048575, SizeUnits::iec), "1.0 MiB"); // not "1024.0 KiB"
    EXPECT_EQ(wp::human_size(5ll << 30, SizeUnits::iec), "5.0 GiB");
    EXPECT_EQ(wp::human_size(3ll << 40, SizeUnits::iec), "3.0 TiB");
    EXPECT_EQ(wp::human_size(999, SizeUnits::si), "999 B");
    EXPECT_EQ(wp::human_size(1000, SizeUnits::si), "1.0 kB");
    EXPECT_EQ(wp::human_size(1250000, SizeUnits::si), "1.2 MB");
    EXPECT_EQ(wp::human_size(999950, SizeUnits::si), "1.0 MB");
    EXPECT_EQ(wp::human_size(5000000000, SizeUnits::si), "5.0 GB");
}

TEST(HumanSize, NegativeSizesKeepTheirSign) {
    using wp::SizeUnits;
    EXPECT_EQ(wp::human_size(-1023, SizeUnits::iec), "-1023 B");
    EXPECT_EQ(wp::human_size(-1536, SizeUnits::iec), "-1.5 KiB");
    EXPECT_EQ(wp::human_size(INT64_MIN, SizeUnits::iec), "-8.0 EiB");
}

TEST(HumanSize, RoundedStepsClimbToExbibytes) {
    using wp::SizeUnits;
    EXPECT_EQ(wp::human_size(1023ll << 40, SizeUnits::iec), "1023.0 TiB");
    EXPECT_EQ(wp::human_size(2ll << 50, SizeUnits::iec), "2.0 PiB");
    EXPECT_EQ(wp::human_size(INT64_MAX, SizeUnits::iec), "8.0 EiB");
    EXPECT_EQ(wp::human_size(INT64_MAX, SizeUnits::si), "9.2 EB");
}

// wp-fetchlogs' progress line: the unit moves up only once the unrounded
// value reaches 1024, and never past TiB. Expected strings worked out by hand
// from that rule (1048575 / 1024 = 1023.999…, printed with one decimal).
TEST(HumanSize, UnroundedStepsStopAtTebibytes) {
    using wp::SizeSteps;
    using wp::SizeUnits;
    auto progress = [](std::int64_t n) { return wp::human_size(n, SizeUnits::iec, SizeSteps::unrounded_up_to_tera); };
    EXPECT_EQ(progress(0), "0 B");
    EXPECT_EQ(progress(1023), "1023 B");
    EXPECT_EQ(progress(1024), "1.0 KiB");
    EXPECT_EQ(progress(1536), "1.5 KiB");
    EXPECT_EQ(progress(1048575), "1024.0 KiB"); // rounded steps say "1.0 MiB"
    EXPECT_EQ(progress(1048576), "1.0 MiB");
    EXPECT_EQ(progress(5ll << 30), "5.0 GiB");
    EXPECT_EQ(progress(3ll << 40), "3.0 TiB");
    EXPECT_EQ(progress(2ll << 50), "2048.0 TiB"); // rounded steps say "2.0 PiB"
    EXPECT_EQ(wp::human_size(999999, SizeUnits::si, SizeSteps::unrounded_up_to_tera), "1000.0 kB");
}

TEST(ParseSize, DecimalAndBinaryUnitsAndBareBytes) {
    std::string why;
    EXPECT_EQ(wp::parse_size("0", why), 0);
    EXPECT_EQ(wp::parse_size("1234", why), 1234);
    EXPECT_EQ(wp::parse_size("12B", why), 12);
    EXPECT_EQ(wp::parse_size("500GB", why), 500000000000);
    EXPECT_EQ(wp::parse_size("500 GB", why), 500000000000);
    EXPECT_EQ(wp::parse_size("500gb", why), 500000000000);
    EXPECT_EQ(wp::parse_size("2kB", why), 2000);
    EXPECT_EQ(wp::parse_size("2KB", why), 2000);
    EXPECT_EQ(wp::parse_size("1.5TiB", why), 1649267441664); // 1.5 * 2^40
    EXPECT_EQ(wp::parse_size("1.5TB", why), 1500000000000);
    EXPECT_EQ(wp::parse_size("3MiB", why), 3145728);
    EXPECT_EQ(wp::parse_size("2PiB", why), 2251799813685248);
    EXPECT_EQ(wp::parse_size(".5KiB", why), 512);
    EXPECT_EQ(wp::parse_size("0.3GiB", why), 322122547); // 322122547.2, rounded
    EXPECT_EQ(wp::parse_size("1.0000000000000000001kB", why), 1000);
    EXPECT_EQ(wp::parse_size("9223372036854775807", why), INT64_MAX);
}

TEST(ParseSize, RefusalsSayWhy) {
    std::string why;
    EXPECT_FALSE(wp::parse_size("750G", why));
    EXPECT_EQ(why, "'750G' is not a size: 'G' alone is ambiguous: write 750GB for powers of 1000 or 750GiB for "
                   "powers of 1024");
    EXPECT_FALSE(wp::parse_size("5k", why));
    EXPECT_EQ(why,
              "'5k' is not a size: 'k' alone is ambiguous: write 5kB for powers of 1000 or 5KiB for powers of 1024");
    EXPECT_FALSE(wp::parse_size("lots", why));
    EXPECT_EQ(why, "'lots' is not a size: expected a number and B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB");
    EXPECT_FALSE(wp::parse_size("5 XB", why));
    EXPECT_EQ(why, "'5 XB' is not a size: unknown unit 'XB'; expected a number and B, kB, MB, GB, TB, PB, KiB, MiB, "
                   "GiB, TiB or PiB");
    EXPECT_FALSE(wp::parse_size("9223372036854775808", why));
    EXPECT_EQ(why, "'9223372036854775808' is too large: at most 9223372036854775807 bytes");
    EXPECT_FALSE(wp::parse_size("8EB", why));
    EXPECT_FALSE(wp::parse_size("8192PiB", why));
    for (const char* bad : {"", "-5GB", "5.GB", "5  GB", "1e9", "5GB ", " 5GB", "0x10"}) {
        EXPECT_FALSE(wp::parse_size(bad, why)) << bad;
    }
}

} // namespace
