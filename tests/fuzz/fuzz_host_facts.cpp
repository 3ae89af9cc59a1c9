// What wp-provision reads from a host: the facts script's output
// (parse_host_facts), dpkg-query rows (parse_dpkg_query) and an --answers
// file (parse_answers). Properties: every package the facts
// give has a valid Debian name (only such names reach a remote command);
// plain_package_name drops nothing but ":arch".

#include "base/error.h"
#include "fuzz.h"
#include "provision/packages.h"
#include "provision/provision_facts.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    const auto check_packages = [](const std::vector<wp::InstalledPackage>& packages) {
        for (const wp::InstalledPackage& p : packages) {
            FUZZ_CHECK(wp::valid_package_name(p.name));
            const std::string plain = wp::plain_package_name(p.name);
            FUZZ_CHECK(p.name.compare(0, plain.size(), plain) == 0);
            FUZZ_CHECK(plain.size() == p.name.size() || p.name[plain.size()] == ':');
        }
    };
    try {
        const wp::HostFacts facts = wp::parse_host_facts(text);
        check_packages(facts.packages);
        (void)facts.package_facts();
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
    }
    try {
        // dpkg-query's rows are checked by parse_host_facts, not here: only
        // that malformed ones are refused with Error(65)
        (void)wp::parse_dpkg_query(text);
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
    }
    try {
        for (const auto& [name, answer] : wp::parse_answers(text, "answers"))
            FUZZ_CHECK(answer == wp::Answer::keep || answer == wp::Answer::purge);
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
    }
    return 0;
}
