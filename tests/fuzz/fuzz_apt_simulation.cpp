// apt-get -s output: parse_apt_simulation (one removal, its -q explanation
// after the input's first NUL) and parse_simulations (simulation_command's
// output for two packages). Properties: removed and broken names carry no
// ":arch"; removes_only(p) means exit 0 and exactly one removal, p;
// refused_for names only packages of the essential set it is given.

#include <set>

#include "base/error.h"
#include "fuzz.h"
#include "provision/packages.h"
#include "provision/provision_facts.h"

namespace {

void check_simulation(const wp::RemovalSimulation& sim) {
    const std::set<std::string, std::less<>> essential = {"coreutils", "sed", "tar", "dpkg", "libc6"};
    for (const std::string& name : sim.removed)
        FUZZ_CHECK(name.find(':') == std::string::npos);
    for (const std::string& name : sim.broken)
        FUZZ_CHECK(name.find(':') == std::string::npos);
    for (const std::string& name : sim.refused_for(essential))
        FUZZ_CHECK(essential.count(name) == 1);
    for (const std::string_view pkg : {"libacl1", "jq"})
        if (sim.removes_only(pkg))
            FUZZ_CHECK(sim.exit_status == 0 && sim.removed.size() == 1 && sim.removed[0] == pkg &&
                       sim.installed.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    const std::size_t nul = text.find('\0');
    const std::string_view output = text.substr(0, nul);
    const std::string_view explanation = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
    for (const int status : {0, 100}) {
        try {
            check_simulation(wp::parse_apt_simulation(output, status, explanation));
        } catch (const wp::Error& e) {
            FUZZ_CHECK(e.code() == wp::exit_code::k_data);
        }
    }
    try {
        const std::vector<std::string> packages = {"libacl1", "jq"};
        const auto sims = wp::parse_simulations(text, packages);
        FUZZ_CHECK(sims.size() == packages.size());
        for (const auto& sim : sims)
            check_simulation(sim);
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data); // as provision_facts.h documents
    }
    return 0;
}
