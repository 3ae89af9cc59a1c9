#include "billing/reconcile.h"
#include "billing/billing.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <sys/stat.h>

#include <fmt/format.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/line_reader.h"
#include "billing/billing.h"
#include "billing/line_biller.h"
#include "billing/squid_log.h"
#include "billing/usage.h"
#include "store/archive.h"
#include "store/db.h"
#include "store/inventory.h"

namespace wp {

namespace {

struct Interrupted {};

struct ScannedFile {
    std::string relative;
    std::string path;
    ArchiveScan scan;
    std::vector<bool> drop; // per batch: an unfinished append to cut
};

struct BatchRef {
    ScannedFile* file;
    std::size_t index;
    const BatchRecord& record() const { return *file->scan.batches[index].record; }
    const ArchiveBatch& batch() const { return file->scan.batches[index]; }
};

// One source's batches, billed from the archive.
struct Rebill {
    BatchRecord first;
    std::int64_t server_id = 0;
    std::int64_t lines = 0;
    std::int64_t rejected = 0;
    std::optional<std::int64_t> first_ts;
    std::optional<std::int64_t> last_ts;
    std::unique_ptr<HourlyUsage> usage = std::make_unique<HourlyUsage>();
    std::vector<std::string> files;
};

std::string list_some(const std::vector<std::string>& names) {
    std::string out;
    const std::size_t shown = std::min<std::size_t>(names.size(), 5);
    for (std::size_t i = 0; i < shown; ++i) {
        out += (i == 0 ? "" : ", ") + names[i];
    }
    if (names.size() > shown) {
        out += fmt::format(" and {} more", names.size() - shown);
    }
    return out;
}

} // namespace

ReconcileReport reconcile_archive(Database& db, const ReconcileSettings& settings) {
    ReconcileReport report;
    if (settings.rebuild) {
        auto st = db.prepare("SELECT (SELECT count(*) FROM ingested_files) + (SELECT count(*) FROM usage)");
        st.step();
        if (st.column_int64(0) != 0) {
            fail(exit_code::k_usage, "--rebuild-db needs an empty database: {} holds usage or ledger rows", db.path());
        }
    }
    std::map<std::string, std::int64_t> committed;
    {
        auto st = db.prepare("SELECT path, committed_size FROM archive_files WHERE collector = ?");
        st.bind(1, settings.collector);
        while (st.step()) {
            committed[st.column_text(0)] = st.column_int64(1);
        }
    }
    const std::vector<std::string> on_disk = list_archive_files(settings.archive);
    for (const auto& [rel, size] : committed) {
        if (!std::binary_search(on_disk.begin(), on_disk.end(), rel)) {
            report.problems.push_back(
                fmt::format("archive {}/{} is missing ({} bytes committed)", settings.archive, rel, size));
            report.refused.insert(rel);
        }
    }

    // 1. The frames past each file's committed size.
    std::vector<std::unique_ptr<ScannedFile>> scanned;
    for (const auto& rel : on_disk) {
        const std::string path = settings.archive + "/" + rel;
        const auto it = committed.find(rel);
        const std::int64_t from = it == committed.end() ? 0 : it->second;
        struct stat sb {};
        if (::lstat(path.c_str(), &sb) != 0) {
            continue;
        }
        if (sb.st_size == from && it != committed.end()) {
            continue;
        }
        if (sb.st_size < from) {
            report.problems.push_back(fmt::format("archive {} is {} bytes, shorter than the {} bytes committed: "
                                                  "not appended to (restore it from backup)",
                                                  path, sb.st_size, from));
            report.refused.insert(rel);
            continue;
        }
        auto f = std::make_unique<ScannedFile>();
        f->relative = rel;
        f->path = path;
        f->scan = scan_archive(path, from);
        f->drop.assign(f->scan.batches.size(), false);
        scanned.push_back(std::move(f));
    }

    // 2. Sources: complete when every part of one append is there.
    std::map<std::pair<std::string, std::string>, std::vector<BatchRef>> sources; // (sha, batch id)
    for (auto& f : scanned) {
        for (std::size_t i = 0; i < f->scan.batches.size(); ++i) {
            if (!f->scan.batches[i].record) {
                f->drop[i] = true; // no end frame: an append cut short
                continue;
            }
            const auto& r = *f->scan.batches[i].record;
            sources[{r.source_sha256, r.batch_id}].push_back({f.get(), i});
        }
    }
    auto known = db.prepare("SELECT collector FROM ingested_files WHERE sha256 = ?");
    const std::optional<std::string> mine =
        settings.collector.empty() ? std::nullopt : std::optional<std::string>(settings.collector);
    std::vector<std::vector<BatchRef>> to_bill;
    std::set<std::string> queued; // a source's lines are billed once, whatever copies the archive holds
    for (auto& [key, refs] : sources) {
        std::sort(refs.begin(), refs.end(),
                  [](const BatchRef& a, const BatchRef& b) { return a.record().part < b.record().part; });
        bool complete = static_cast<int>(refs.size()) == refs.front().record().parts;
        std::int64_t lines = 0;
        for (std::size_t i = 0; i < refs.size() && complete; ++i) {
            complete = refs[i].record().part == static_cast<int>(i + 1) &&
                       refs[i].record().parts == refs.front().record().parts;
            lines += refs[i].record().lines;
        }
        complete = complete && lines == refs.front().record().source_lines;
        if (!complete) {
            for (const auto& r : refs) {
                r.file->drop[r.index] = true; // some days of this append never finished
            }
            continue;
        }
        known.bind(1, key.first);
        const bool billed = known.step();
        const bool by_another = billed && known.column_optional_text(0) != mine;
        known.reset();
        if (by_another) {
            // Another collector billed these bytes and its archive holds
            // them: this unfinished append of ours is cut.
            for (const auto& r : refs) {
                r.file->drop[r.index] = true;
            }
            continue;
        }
        if (!billed && queued.insert(key.first).second) {
            to_bill.push_back(refs);
        }
    }

    // 3. Cut what was never finished, from the end only.
    std::map<std::string, std::int64_t> new_sizes;
    for (auto& f : scanned) {
        const ArchiveScan& s = f->scan;
        if (!s.torn && s.valid_end < s.size) {
            // Not ours to cut: the batches before the damage count, and the file
            // stays longer than committed, so nothing is appended to it.
            report.problems.push_back(fmt::format("archive {} is damaged at offset {} ({}): not appended to", f->path,
                                                  s.valid_end, s.damage));
            new_sizes[f->relative] = s.valid_end;
            continue;
        }
        std::int64_t cut = s.valid_end;
        for (std::size_t i = s.batches.size(); i-- > 0;) {
            if (f->drop[i] && s.batches[i].end == cut) {
                cut = s.batches[i].begin;
                f->drop[i] = false;
            } else {
                break;
            }
        }
        for (std::size_t i = 0; i < s.batches.size(); ++i) {
            if (f->drop[i]) {
                report.problems.push_back(fmt::format(
                    "archive {}: an unfinished append at offset {} has complete batches after it: kept, not billed",
                    f->path, s.batches[i].begin));
            }
        }
        if (cut < s.size) {
            cut_archive(f->path, cut);
            ++report.files_cut;
            report.notes.push_back(fmt::format("cut an unfinished append ({} bytes) off {}", s.size - cut, f->path));
        }
        new_sizes[f->relative] = cut;
    }

    // 4. Bill the sources the ledger does not know from their archived lines.
    std::vector<Rebill> rebills;
    std::map<std::string, LogGrammar> grammars;
    Inventory inventory(db);
    std::vector<std::string> stranger_files; // of sources no longer in the spool
    std::int64_t strangers = 0;
    for (const auto& refs : to_bill) {
        const BatchRecord& first = refs.front().record();
        bool usable = true;
        for (const auto& r : refs) {
            usable = usable && !report.refused.contains(r.file->relative);
        }
        // A source that cannot be billed now keeps every file it is in at its
        // committed size: the next run tries again, nothing is skipped over.
        auto hold = [&](const std::string& why) {
            std::vector<std::string> files;
            for (const auto& r : refs) {
                auto it = new_sizes.find(r.file->relative);
                if (it != new_sizes.end()) {
                    it->second = std::min(it->second, r.batch().begin);
                }
                files.push_back(r.file->path);
            }
            report.problems.push_back(fmt::format("archive batches of {} ({}) {}: not billed, not appended to",
                                                  first.source_name, list_some(files), why));
        };
        if (!usable) {
            hold("lie partly in an archive file that is missing or short");
            continue;
        }
        auto g = grammars.find(first.format);
        if (g == grammars.end()) {
            try {
                g = grammars.emplace(first.format, LogGrammar::by_name_or_format(first.format)).first;
            } catch (const Error& e) {
                hold(fmt::format("name a format this wp-parse cannot read ({})", e.what()));
                continue;
            }
        }
        Rebill rb;
        rb.first = first;
        auto server = inventory.find(first.server);
        if (!server) {
            Server s;
            s.name = first.server;
            s.notes = "added by wp-parse: found in the archive";
            rb.server_id = inventory.add(s);
            report.notes.push_back(fmt::format("server {} of the archive added to the inventory", first.server));
        } else {
            rb.server_id = server->id;
        }
        LineBiller biller(g->second, *settings.rules);
        bool consistent = true;
        std::string unreadable;
        for (const auto& r : refs) {
            std::int64_t lines = 0;
            try {
                // A line longer than the limit was cut when it was billed (and
                // rejected): read one byte more to tell it from a whole line.
                read_archive_lines(r.file->path, r.batch().data_begin, r.batch().data_end, k_max_line_length + 1,
                                   [&](std::string_view line) {
                                       if ((++lines & 0xffff) == 0 && interrupted()) {
                                           throw Interrupted{};
                                       }
                                       std::int64_t t = 0;
                                       if (line.size() > k_max_line_length ||
                                           !biller.bill(line, *rb.usage, first.ingested_at, t).empty()) {
                                           ++rb.rejected;
                                           return;
                                       }
                                       if (!rb.first_ts || t < *rb.first_ts) rb.first_ts = t;
                                       if (!rb.last_ts || t > *rb.last_ts) rb.last_ts = t;
                                   });
            } catch (const Interrupted&) {
                fail(exit_code::k_temp_fail, "interrupted");
            } catch (const Error& e) {
                unreadable = e.what();
                break;
            }
            consistent = consistent && lines == r.record().lines;
            rb.lines += lines;
            rb.files.push_back(r.file->path);
        }
        if (!unreadable.empty()) {
            hold(fmt::format("cannot be read ({})", unreadable));
            continue;
        }
        if (!consistent) {
            hold("do not hold the lines their records count");
            continue;
        }
        const std::string leftover = settings.spool + "/" + first.server + "/" + first.source_name;
        struct stat sb {};
        if (!settings.rebuild && ::stat(leftover.c_str(), &sb) != 0) {
            stranger_files.insert(stranger_files.end(), rb.files.begin(), rb.files.end());
            ++strangers;
        }
        rebills.push_back(std::move(rb));
    }

    // 5. One transaction: usage, ledger, dirty days, archive sizes.
    Transaction tx(db);
    UsageWriter writer(db, settings.rules->classes());
    auto ledger = db.prepare(
        "INSERT INTO ingested_files(sha256, server_id, source_name, lines, rejected, first_ts, last_ts, ingested_at, "
        "first_line_sha256, collector) VALUES (?,?,?,?,?,?,?,?,?,?)");
    auto dirty = db.prepare("INSERT INTO dirty_days(server_id, day) VALUES (?, ?) "
                            "ON CONFLICT(server_id, day) DO UPDATE SET day = excluded.day");
    for (const auto& rb : rebills) {
        const auto rows = rb.usage->rows();
        writer.add(rb.server_id, rows);
        ledger.bind(1, rb.first.source_sha256).bind(2, rb.server_id).bind(3, rb.first.source_name);
        ledger.bind(4, rb.lines).bind(5, rb.rejected).bind(6, rb.first_ts).bind(7, rb.last_ts);
        ledger.bind(8, rb.first.ingested_at);
        if (rb.first.first_line_sha256.empty()) {
            ledger.bind(9, nullptr);
        } else {
            ledger.bind(9, rb.first.first_line_sha256);
        }
        if (settings.collector.empty()) {
            ledger.bind(10, nullptr);
        } else {
            ledger.bind(10, settings.collector);
        }
        ledger.run();
        for (const auto& r : rows) {
            dirty.bind(1, rb.server_id).bind(2, utc_day_name(utc_day_start(r.hour))).run();
        }
        ++report.sources_billed;
        report.lines_billed += rb.lines;
    }
    auto sizes = db.prepare("INSERT INTO archive_files(path, committed_size, collector) VALUES (?, ?, ?) "
                            "ON CONFLICT(collector, path) DO UPDATE SET committed_size = excluded.committed_size");
    for (const auto& [rel, size] : new_sizes) {
        sizes.bind(1, rel).bind(2, size).bind(3, settings.collector).run();
    }
    tx.commit();

    if (!stranger_files.empty()) {
        std::sort(stranger_files.begin(), stranger_files.end());
        stranger_files.erase(std::unique(stranger_files.begin(), stranger_files.end()), stranger_files.end());
        report.warnings.push_back(fmt::format(
            "the archive holds {} source files the database did not know (a database restored from an older backup, "
            "or a run stopped before its commit): billed them from the archive, in {}",
            strangers, list_some(stranger_files)));
    }
    for (auto& f : scanned) {
        if (f->scan.foreign_bytes > 0 && !report.refused.contains(f->relative)) {
            report.notes.push_back(fmt::format("archive {}: {} bytes written before batch records: kept, not billed",
                                               f->path, f->scan.foreign_bytes));
        }
    }
    return report;
}

} // namespace wp
