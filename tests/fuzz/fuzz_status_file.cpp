// parse_status_file (wp-runall --status-file, Nagios-style `host state`
// lines) and parse_host_names (-f FILE). Properties: states are the 1 to 3
// digit numbers of the text, host names are non-empty words that are no
// comment, bad line numbers are increasing and within the text; host names
// taken from a file contain no separator and no bracket (ranges are
// expanded), and are names or globs.

#include <algorithm>

#include "base/error.h"
#include "fuzz.h"
#include "runall/selection.h"
#include "store/host_selection.h"
#include "store/inventory.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    const wp::StatusFile status = wp::parse_status_file(text);
    const auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    for (const auto& [host, state] : status.states) {
        FUZZ_CHECK(!host.empty() && host.front() != '#');
        FUZZ_CHECK(host.find_first_of(" \t\r\n") == std::string::npos);
        FUZZ_CHECK(state >= 0 && state <= 999);
        FUZZ_CHECK(text.find(host) != std::string_view::npos);
    }
    for (std::size_t i = 0; i < status.bad_lines.size(); ++i) {
        FUZZ_CHECK(status.bad_lines[i] >= 1 && status.bad_lines[i] <= lines);
        FUZZ_CHECK(i == 0 || status.bad_lines[i] > status.bad_lines[i - 1]);
    }
    try {
        for (const std::string& name : wp::parse_host_names(text, "hosts.txt")) {
            FUZZ_CHECK(!name.empty());
            FUZZ_CHECK(name.find_first_of(" \t\r\n,#[]") == std::string::npos);
            FUZZ_CHECK(wp::check_host_word(name).empty());
        }
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
    }
    return 0;
}
