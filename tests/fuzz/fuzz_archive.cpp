// scan_archive and read_archive_lines on a day file holding the input: the
// archive's frame structure, written by us but read back after crashes, disk
// damage or a hostile hand. Properties: batches lie in order inside the file
// (begin < data_begin <= data_end <= end <= next begin, end <= size), the
// well-formed part ends within the file, a torn end has no damage message;
// scanning again from the first batch's end finds the same later batches; a
// batch's lines are never longer than the limit asked for.

#include "base/error.h"
#include "fuzz.h"
#include "store/archive.h"

namespace {

constexpr std::size_t k_max_line = 256;

bool same(const wp::ArchiveBatch& a, const wp::ArchiveBatch& b) {
    return a.begin == b.begin && a.data_begin == b.data_begin && a.data_end == b.data_end && a.end == b.end &&
           a.record.has_value() == b.record.has_value();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const wp_fuzz::TempFile file(wp_fuzz::as_text(data, size));
    const wp::ArchiveScan scan = wp::scan_archive(file.path(), 0);
    const auto file_size = static_cast<std::int64_t>(size);
    FUZZ_CHECK(scan.size == file_size);
    FUZZ_CHECK(scan.valid_end >= 0 && scan.valid_end <= file_size);
    FUZZ_CHECK(scan.foreign_bytes >= 0 && scan.foreign_bytes <= scan.valid_end);
    FUZZ_CHECK(!scan.torn || scan.damage.empty());
    std::int64_t previous_end = 0;
    for (const wp::ArchiveBatch& b : scan.batches) {
        FUZZ_CHECK(previous_end <= b.begin);
        FUZZ_CHECK(b.begin < b.data_begin && b.data_begin <= b.data_end && b.data_end <= b.end);
        FUZZ_CHECK(b.end <= scan.valid_end);
        FUZZ_CHECK(!b.record || b.data_end < b.end);
        previous_end = b.end;
    }
    if (!scan.batches.empty()) {
        const wp::ArchiveScan rest = wp::scan_archive(file.path(), scan.batches[0].end);
        FUZZ_CHECK(rest.batches.size() + 1 == scan.batches.size());
        for (std::size_t i = 0; i < rest.batches.size(); ++i)
            FUZZ_CHECK(same(rest.batches[i], scan.batches[i + 1]));
        FUZZ_CHECK(rest.valid_end == scan.valid_end && rest.torn == scan.torn && rest.damage == scan.damage);
    }
    std::size_t lines = 0;
    for (const wp::ArchiveBatch& b : scan.batches) {
        try {
            wp::read_archive_lines(file.path(), b.data_begin, b.data_end, k_max_line, [&](std::string_view line) {
                FUZZ_CHECK(line.size() <= k_max_line);
                if (++lines > 100000) throw wp::Error(wp::exit_code::k_data, "enough lines");
            });
        } catch (const wp::Error& e) {
            FUZZ_CHECK(e.code() == wp::exit_code::k_data);
        }
    }
    return 0;
}
