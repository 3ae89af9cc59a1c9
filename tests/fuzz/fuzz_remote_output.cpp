// What fetching reads back from a host's shell (fetch/claim.h,
// fetch/digest.h): the survey listing (parse_listing), the size and SHA-256 of `wc -c` plus
// `sha256sum`/`openssl dgst -r` (parse_remote_digest), the same in
// `wp-digest:` lines on zstd's stderr (take_stream_digest), a claimed file's
// stamp (claimed_stamp) and the rotate outcome (parse_rotate_outcome).
// Properties: a claimed name is exactly `<log>.wp-<stamp>`; the listing's
// claimed names all have stamps, the claim made among them,
// its rejected ones none; a digest is 64 lowercase hex digits and, printed
// back as sha256sum would, parses to the same.

#include <algorithm>

#include "base/error.h"
#include "fetch/claim.h"
#include "fetch/digest.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    const std::string_view base = "access.log";

    const std::string stamp = wp::claimed_stamp(base, text);
    FUZZ_CHECK(stamp.empty() || text == std::string(base) + ".wp-" + stamp);

    try {
        const wp::LogListing listing = wp::parse_listing(text, base);
        for (const std::string& name : listing.claimed)
            FUZZ_CHECK(!wp::claimed_stamp(base, name).empty());
        for (const std::string& name : listing.rejected)
            FUZZ_CHECK(wp::claimed_stamp(base, name).empty());
        FUZZ_CHECK(listing.claimed_now.empty() || std::find(listing.claimed.begin(), listing.claimed.end(),
                                                            listing.claimed_now) != listing.claimed.end());
        FUZZ_CHECK(!(listing.live_size && listing.live_is_symlink));
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data); // as claim.h documents
    }

    const auto check_digest = [](const wp::RemoteDigest& d) {
        FUZZ_CHECK(d.sha256.size() == 64);
        FUZZ_CHECK(d.sha256.find_first_not_of("0123456789abcdef") == std::string::npos);
        const auto again = wp::parse_remote_digest(std::to_string(d.size) + "\n" + d.sha256 + "  -\n");
        FUZZ_CHECK(again && again->size == d.size && again->sha256 == d.sha256);
    };
    if (const auto digest = wp::parse_remote_digest(text)) check_digest(*digest);
    wp::ExecResult result;
    result.exit_status = 0;
    result.err = std::string(text);
    if (const auto digest = wp::take_stream_digest(result)) check_digest(*digest);

    wp::ExecResult rotate;
    rotate.exit_status = size > 0 ? data[0] % 4 : 0;
    rotate.out = std::string(text);
    (void)wp::parse_rotate_outcome(rotate, "squid -k rotate", "/var/log/squid/access.log", 10000);
    return 0;
}
