// parse_config_text (wp.conf), then apply_config onto a command line with the
// shared options, as every tool does. Property: the entries, printed back as
// `key = "value"` lines, parse to the same keys and values.

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "cmd/options.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    std::vector<wp::ConfigEntry> entries;
    try {
        entries = wp::parse_config_text(text, "wp.conf");
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_config); // as options.h documents
        return 0;
    }
    std::string printed;
    for (const wp::ConfigEntry& e : entries)
        printed += e.key + " = \"" + e.value + "\"\n";
    const std::vector<wp::ConfigEntry> reread = wp::parse_config_text(printed, "printed");
    FUZZ_CHECK(reread.size() == entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
        FUZZ_CHECK(reread[i].key == entries[i].key);
        FUZZ_CHECK(reread[i].value == entries[i].value);
        FUZZ_CHECK(static_cast<std::size_t>(reread[i].line) == i + 1);
    }

    CLI::App app("fuzz");
    wp::CommonOptions options;
    wp::add_common_options(app, options, "wp-fuzz");
    try {
        wp::apply_config(app, entries, "wp.conf", {});
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_config);
    }
    return 0;
}
