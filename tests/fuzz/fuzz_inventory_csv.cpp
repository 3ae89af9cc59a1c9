// parse_csv and Inventory::import_csv (wp-hosts import) into an in-memory
// database. Property: the records parse_csv finds, written back as CSV with
// every field quoted, parse to the same fields.

#include "base/error.h"
#include "fuzz.h"
#include "store/db.h"
#include "store/inventory.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = wp_fuzz::as_text(data, size);
    std::vector<wp::CsvRecord> records;
    try {
        records = wp::parse_csv(text, "hosts.csv");
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data);
        return 0;
    }
    std::string printed;
    for (const wp::CsvRecord& r : records) {
        for (std::size_t i = 0; i < r.fields.size(); ++i) {
            printed += i == 0 ? "\"" : ",\"";
            for (char c : r.fields[i])
                printed += c == '"' ? std::string("\"\"") : std::string(1, c);
            printed += '"';
        }
        printed += '\n';
    }
    const std::vector<wp::CsvRecord> reread = wp::parse_csv(printed, "printed");
    FUZZ_CHECK(reread.size() == records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        FUZZ_CHECK(reread[i].fields == records[i].fields);
        FUZZ_CHECK(records[i].line >= 1 && (i == 0 || records[i].line > records[i - 1].line));
    }

    wp::Database db(":memory:");
    wp::Inventory inventory(db);
    try {
        const std::size_t imported = inventory.import_csv(text, "hosts.csv");
        FUZZ_CHECK(imported <= records.size());
        FUZZ_CHECK(inventory.select("", true).size() <= imported);
    } catch (const wp::Error& e) {
        FUZZ_CHECK(e.code() == wp::exit_code::k_data || e.code() == wp::exit_code::k_usage);
    }
    return 0;
}
