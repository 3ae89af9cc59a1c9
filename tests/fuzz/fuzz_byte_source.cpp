// open_byte_source and LineReader over a file holding the input: plain, or
// decompressed by content (zstd, gzip). Properties: no line is longer than
// k_max_line_length, and a cut one is exactly that long; plain input comes
// back exactly, line by line; the file reads as unchanged; memory in use
// stays within the bound line_reader.h promises (a 32 MiB zstd window, the
// buffer, zlib's state: 40 MiB). Under libFuzzer, -malloc_limit_mb in
// tests/fuzz/run bounds memory instead. Output past 8 MiB is not read: a
// small bomb would only cost time.

#include <malloc.h>

#include "base/error.h"
#include "base/line_reader.h"
#include "fuzz.h"

namespace {

std::size_t heap_in_use() {
#ifdef WP_FUZZ_LIBFUZZER
    return 0;
#else
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

constexpr std::size_t k_memory_bound = 40u << 20;
constexpr std::size_t k_output_cap = 8u << 20;

bool starts_with(std::string_view text, std::string_view magic) {
    return text.substr(0, magic.size()) == magic;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = wp_fuzz::as_text(data, size);
    const bool plain = !starts_with(input, "\x28\xb5\x2f\xfd") && !starts_with(input, "\x1f\x8b");
    const wp_fuzz::TempFile file(input);
    const std::size_t baseline = heap_in_use();
    std::string copy;
    try {
        const auto source = wp::open_byte_source(file.path());
        wp::LineReader reader(*source, nullptr, 4096);
        std::string_view line;
        std::size_t output = 0;
        bool capped = false;
        bool cut = false;
        while (reader.next(line)) {
            FUZZ_CHECK(line.size() <= wp::k_max_line_length);
            FUZZ_CHECK(!reader.truncated() || line.size() == wp::k_max_line_length);
            FUZZ_CHECK(heap_in_use() <= baseline + k_memory_bound);
            cut = cut || reader.truncated();
            if (plain && !cut) {
                copy.append(line);
                if (reader.had_newline()) copy += '\n';
            }
            output += line.size() + 1;
            if (output > k_output_cap) {
                capped = true;
                break;
            }
        }
        if (!capped) FUZZ_CHECK(source->changed_reason().empty());
        if (plain && !capped && !cut) FUZZ_CHECK(copy == input);
    } catch (const wp::Error& e) {
        // a corrupt or truncated stream, or a window over the bound
        FUZZ_CHECK(!plain);
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
    }
    return 0;
}
