#include "billing/ingest.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include "base/calendar.h"
#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/host_pool.h"
#include "base/line_reader.h"
#include "base/sha256.h"
#include "base/table.h"
#include "billing/billing.h"
#include "billing/ingest_inputs.h"
#include "billing/squid_log.h"
#include "store/archive.h"
#include "store/db.h"
#include "store/inventory.h"
#include "store/pg_backend.h"

namespace fs = std::filesystem;

namespace wp {

namespace {

// Everything one file produced, before it is committed.
struct FileOutcome {
    std::string path;
    std::string server;
    std::string sha256;
    std::string first_line_sha256;
    std::int64_t lines = 0;
    std::int64_t rejected = 0;
    std::optional<std::int64_t> first_ts;
    std::optional<std::int64_t> last_ts;
    struct Reject {
        std::int64_t line_no;
        std::string_view reason; // static text
        std::string text;
    };
    std::vector<Reject> rejects; // the first ones, for the rejects file
    std::size_t reject_bytes = 0;
    HourlyUsage usage;
};

// Rejected lines kept for the rejects file, in bytes of line text per file;
// the rest are counted.
constexpr std::size_t k_max_reject_bytes = 1 << 20;

constexpr std::string_view k_truncated_marker = " [wp-parse: line cut at 65536 bytes]";

// Reads, parses and prices one source; lines go to the archive if one is given.
void parse_source(ByteSource& source, Sha256* hash, LineBiller& biller, FileOutcome& out, ArchiveAppender* archive,
                  std::int64_t fallback_day, std::int64_t now) {
    LineReader reader(source, hash);
    std::string_view line;
    std::string held; // rejected lines seen before the first dated line
    std::string marked;
    std::int64_t current_day = -1;
    std::int64_t line_no = 0;
    auto flush_held = [&](std::int64_t day) {
        std::string_view rest = held;
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            archive->append(day, rest.substr(0, nl));
            rest.remove_prefix(nl + 1);
        }
        held.clear();
    };
    while (reader.next(line)) {
        ++line_no;
        if ((line_no & 0xffff) == 0 && interrupted()) {
            fail(exit_code::k_temp_fail, "interrupted");
        }
        if (line_no == 1) {
            std::string_view first = line;
            if (!first.empty() && first.back() == '\r') {
                first.remove_suffix(1);
            }
            out.first_line_sha256 = sha256_hex(first);
        }
        std::int64_t time = 0;
        const bool too_long = reader.truncated();
        const std::string_view why =
            too_long ? std::string_view("line longer than 65536 bytes") : biller.bill(line, out.usage, now, time);
        if (too_long) {
            marked.assign(line);
            marked.append(k_truncated_marker);
            line = marked;
        }
        if (why.empty()) {
            if (!out.first_ts || time < *out.first_ts) out.first_ts = time;
            if (!out.last_ts || time > *out.last_ts) out.last_ts = time;
            if (archive != nullptr) {
                const std::int64_t day = utc_day_start(time);
                if (current_day < 0 && !held.empty()) {
                    // Lines not understood before the first dated one go with its day.
                    flush_held(day);
                }
                current_day = day;
                archive->append(day, line);
            }
            continue;
        }
        ++out.rejected;
        if (out.reject_bytes < k_max_reject_bytes) {
            out.rejects.push_back({line_no, why, std::string(line)});
            out.reject_bytes += line.size() + 1;
        }
        if (archive != nullptr) {
            if (current_day >= 0) {
                archive->append(current_day, line);
            } else if (held.size() < (1u << 20)) {
                held.append(line);
                held.push_back('\n');
            } else {
                archive->append(fallback_day, line);
            }
        }
    }
    if (archive != nullptr && !held.empty()) {
        flush_held(fallback_day);
    }
    out.lines = line_no;
}

// A log line's bytes for a terminal: controls and every byte past ASCII escaped.
std::string escape_line(std::string_view text) {
    std::string out;
    for (unsigned char c : escape_control(text)) {
        if (c >= 0x80) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string reject_summary(const FileOutcome& f) {
    std::string first;
    if (!f.rejects.empty()) {
        std::string_view text = f.rejects.front().text;
        if (text.size() > 80) {
            text = text.substr(0, 80);
        }
        first = fmt::format(" (first at line {}, {}: {})", f.rejects.front().line_no, f.rejects.front().reason,
                            escape_line(text));
    }
    return fmt::format("{}: {} of {} lines not billed{}", f.path, f.rejected, f.lines, first);
}

void write_rejects(const std::string& root, const FileOutcome& f) {
    const std::string dir = root + "/" + f.server;
    make_directories(dir, 0750);
    std::string name = fs::path(f.path).filename().string();
    if (f.path == "-") {
        name = "stdin-" + f.sha256.substr(0, 16);
    }
    std::string body;
    for (const auto& r : f.rejects) {
        body += fmt::format("{}\t{}\t{}\n", r.line_no, r.reason, r.text);
    }
    if (static_cast<std::size_t>(f.rejected) > f.rejects.size()) {
        body += fmt::format("# {} more lines not billed are not listed\n", f.rejected - f.rejects.size());
    }
    // We hold the parse lock: a temporary of this rejects file is a killed run's.
    const std::string stale = name + ".rejects.tmp.";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().filename().string().starts_with(stale)) {
            fs::remove(entry.path(), ec);
        }
    }
    atomic_write_file(dir + "/" + name + ".rejects", body, 0640);
}

// The totals of a run, shared by the workers.
struct RunState {
    std::mutex mutex;
    IngestTotals totals;
};

class Ingester {
public:
    Ingester(const IngestSettings& settings, const LogGrammar& grammar, const BillingRules& rules, RunState& state)
        : m_settings(settings), m_grammar(grammar), m_rules(rules), m_state(state) {}

    void run(const std::vector<IngestJob>& jobs) {
        LineBiller biller(m_grammar, m_rules);
        std::optional<Database> db;
        if (!records_only()) {
            db.emplace(m_settings.db, OpenMode::read_write);
        }
        for (const auto& job : jobs) {
            if (interrupted()) {
                break;
            }
            try {
                if (records_only()) {
                    parse_for_output(job, biller);
                } else {
                    ingest(job, biller, *db);
                }
            } catch (const Error& e) {
                if (e.code() == exit_code::k_temp_fail && interrupted()) {
                    break;
                }
                warn("{}: {}", job.path, e.what());
                std::lock_guard lock(m_state.mutex);
                ++m_state.totals.failed_files;
                if (db && db->pg() != nullptr && !db->pg()->connected()) {
                    // Nothing more can be billed on this connection; the
                    // file's transaction is gone with it, the file stays.
                    m_state.totals.connection_lost = true;
                    break;
                }
            }
        }
        std::lock_guard lock(m_state.mutex);
        for (const auto& [tag, n] : biller.unpriced()) {
            m_state.totals.unpriced[tag] += n;
        }
    }

private:
    bool records_only() const { return m_settings.records_only; }

    void account(const FileOutcome& f) {
        std::lock_guard lock(m_state.mutex);
        m_state.totals.lines += f.lines;
        m_state.totals.understood += f.lines - f.rejected;
    }

    void parse_for_output(const IngestJob& job, LineBiller& biller) {
        FileOutcome f;
        f.path = job.path;
        f.server = job.server;
        auto source = open_byte_source(job.path);
        parse_source(*source, nullptr, biller, f, nullptr, 0, now_epoch());
        account(f);
        if (f.rejected > 0) {
            warn_message(reject_summary(f));
        }
        std::lock_guard lock(m_state.mutex);
        for (const auto& r : f.usage.rows()) {
            if (!checked_add(m_state.totals.records[{f.server, r.user, r.hour}], r.counts)) {
                fail(exit_code::k_data, "usage of user {} in the hour of {} overflows 64 bits", r.user,
                     format_utc(r.hour));
            }
        }
    }

    void ingest(const IngestJob& job, LineBiller& biller, Database& db) {
        FileOutcome f;
        f.path = job.path;
        f.server = job.server;
        std::int64_t server_id = 0;
        {
            auto st = db.prepare("SELECT id FROM servers WHERE name = ?");
            st.bind(1, job.server);
            if (!st.step()) {
                fail(exit_code::k_data, "server {} is not in the inventory (add it with wp-hosts add {})", job.server,
                     job.server);
            }
            server_id = st.column_int64(0);
        }
        lock_server(db, job.server, server_id);
        const std::int64_t now = now_epoch();
        std::int64_t fallback_day = utc_day_start(now);
        struct stat sb {};
        if (job.path != "-" && ::stat(job.path.c_str(), &sb) == 0) {
            fallback_day = utc_day_start(sb.st_mtime);
        }

        auto committed = [this, &db](const std::string& rel) -> std::int64_t {
            auto st = db.prepare("SELECT committed_size FROM archive_files WHERE collector = ? AND path = ?");
            st.bind(1, m_settings.collector.value_or("")).bind(2, rel);
            return st.step() ? st.column_int64(0) : 0;
        };
        ArchiveAppender archive(m_settings.archive, job.server, m_grammar.description(), m_settings.zstd_level,
                                committed);
        Sha256 hash;
        try {
            auto source = open_byte_source(job.path);
            parse_source(*source, &hash, biller, f, &archive, fallback_day, now);
            f.sha256 = hash.hex_digest();
            if (const std::string change = source->changed_reason(); !change.empty()) {
                fail(exit_code::k_temp_fail, "{}: not billed, left for the next run", change);
            }
            account(f);

            if (f.lines == 0) {
                archive.abandon();
                remove_input(job);
                return;
            }
            if (f.rejected > 0) {
                write_rejects(m_settings.rejects, f);
                warn_message(fmt::format("{}, kept in {}/{}/", reject_summary(f), m_settings.rejects, f.server));
            }
            if (f.lines - f.rejected == 0 ||
                static_cast<double>(f.rejected) > m_settings.max_reject_ratio * static_cast<double>(f.lines)) {
                archive.abandon();
                fail(exit_code::k_data,
                     "{} of {} lines not billed, above --max-reject-ratio {}: not billed, left in place", f.rejected,
                     f.lines, m_settings.max_reject_ratio);
            }
            if (const auto billed = ledger_entry(db, f.sha256)) {
                archive.abandon();
                if (billed->collector != m_settings.collector) {
                    billed_elsewhere(*billed);
                }
                // Billed before (a re-run after a crash, or the same file again):
                // its lines are in our archive already, so only the input goes.
                info(1, "{}: already billed as {}, not billed again", job.path, billed->name);
                remove_input(job);
                return;
            }
            if (!m_settings.force_overlap && f.first_ts) {
                // A copy with other line ends, or a longer version of a billed
                // file: its lines would be billed a second time.
                auto st =
                    db.prepare("SELECT source_name FROM ingested_files WHERE server_id = ? AND first_line_sha256 = ? "
                               "AND first_ts = ? LIMIT 1");
                st.bind(1, server_id).bind(2, f.first_line_sha256).bind(3, *f.first_ts);
                if (st.step()) {
                    archive.abandon();
                    fail(exit_code::k_data,
                         "starts with the same line and time as {}, billed already, but its bytes differ: held, not "
                         "billed (--force-overlap bills it)",
                         st.column_text(0));
                }
            }
            SourceFacts facts;
            facts.sha256 = f.sha256;
            facts.name = job.path == "-" ? "stdin-" + f.sha256.substr(0, 16) : fs::path(f.path).filename().string();
            facts.first_line_sha256 = f.first_line_sha256;
            facts.lines = f.lines;
            facts.first_ts = f.first_ts;
            facts.last_ts = f.last_ts;
            facts.ingested_at = now;
            archive.finish(facts);
            commit(db, server_id, f, facts, archive);
        } catch (...) {
            if (!m_commit_unknown) {
                archive.abandon();
            }
            // else a COMMIT whose answer the lost connection took: the bill
            // may be in, so the archive stays as it is, and the next run's
            // reconciliation settles it against the ledger.
            m_commit_unknown = false;
            throw;
        }
        remove_input(job);
        if (verbosity() >= 1) {
            std::set<std::int64_t> hours;
            std::int64_t billed = 0;
            bool overflow = false;
            for (const auto& r : f.usage.rows()) {
                hours.insert(r.hour);
                overflow = overflow || __builtin_add_overflow(billed, r.counts.billed_bytes, &billed);
            }
            info(1, "{}: billed: {} lines, {} rejected, {} hours, {} billed bytes", job.path, f.lines, f.rejected,
                 hours.size(), overflow ? "over 2^63" : std::to_string(billed));
        }
    }

    // The ledger's row of a file's bytes: its name there, and who billed it.
    struct LedgerEntry {
        std::string name;
        std::optional<std::string> collector;
    };
    static std::optional<LedgerEntry> ledger_entry(Database& db, const std::string& sha256) {
        auto st = db.prepare("SELECT source_name, collector FROM ingested_files WHERE sha256 = ?");
        st.bind(1, sha256);
        if (!st.step()) {
            return std::nullopt;
        }
        return LedgerEntry{st.column_text(0), st.column_optional_text(1)};
    }

    // Another collector billed the same bytes (its archive holds them): this
    // copy stays in the spool, not billed, and the warning is its note.
    [[noreturn]] static void billed_elsewhere(const LedgerEntry& billed) {
        fail(exit_code::k_data, "billed already by {} as {}: this copy stays here, not billed (remove it once checked)",
             billed.collector ? fmt::format("collector {}", *billed.collector)
                              : std::string("the collector without a name"),
             billed.name);
    }

    // On PostgreSQL, collectors bill in parallel but never the same server at
    // once: a session advisory lock per server, held while its files are
    // billed, one at a time (so two collectors never wait on each other).
    void lock_server(Database& db, const std::string& name, std::int64_t server_id) {
        if (db.dialect() != Dialect::postgresql || server_id == m_locked_server) {
            return;
        }
        if (m_locked_server != 0) {
            db.prepare("SELECT pg_advisory_unlock(?1)").bind(1, k_server_lock_space + m_locked_server).run();
            m_locked_server = 0;
        }
        // Polled, so that Ctrl-C or SIGTERM ends a wait.
        auto take = db.prepare("SELECT pg_try_advisory_lock(?1)");
        for (bool told = false;; told = true) {
            take.bind(1, k_server_lock_space + server_id);
            const bool held = take.step() && take.column_int64(0) != 0;
            take.reset();
            if (held) {
                break;
            }
            if (!told) {
                info(1, "server {}: another collector is billing it; waiting", name);
            }
            if (interrupted()) {
                fail(exit_code::k_temp_fail, "interrupted while waiting for server {}", name);
            }
            ::usleep(100'000);
        }
        m_locked_server = server_id;
    }

    void commit(Database& db, std::int64_t server_id, const FileOutcome& f, const SourceFacts& facts,
                const ArchiveAppender& archive) {
        Transaction tx(db);
        // The ledger first: its unique sha256 decides between two collectors
        // given the same file (the second waits for the first's commit).
        auto ledger =
            db.prepare("INSERT INTO ingested_files(sha256, server_id, source_name, lines, rejected, first_ts, last_ts, "
                       "ingested_at, first_line_sha256, collector) VALUES (?,?,?,?,?,?,?,?,?,?) "
                       "ON CONFLICT(sha256) DO NOTHING RETURNING id");
        ledger.bind(1, f.sha256).bind(2, server_id).bind(3, facts.name);
        ledger.bind(4, f.lines).bind(5, f.rejected).bind(6, f.first_ts).bind(7, f.last_ts).bind(8, facts.ingested_at);
        ledger.bind(9, f.first_line_sha256).bind(10, m_settings.collector);
        if (!ledger.step()) {
            ledger.reset();
            billed_elsewhere(ledger_entry(db, f.sha256).value_or(LedgerEntry{f.sha256, std::nullopt}));
        }
        ledger.reset();
        UsageWriter writer(db, m_rules.classes());
        const auto rows = f.usage.rows();
        writer.add(server_id, rows);
        auto sizes = db.prepare("INSERT INTO archive_files(path, committed_size, collector) VALUES (?, ?, ?) "
                                "ON CONFLICT(collector, path) DO UPDATE SET committed_size = excluded.committed_size");
        for (const auto& [rel, size] : archive.sizes()) {
            sizes.bind(1, rel).bind(2, size).bind(3, m_settings.collector.value_or("")).run();
        }
        // An update, not DO NOTHING: it waits for a refresh holding the mark
        // (PostgreSQL), so that the mark outlives that refresh (summary/rollup).
        auto dirty = db.prepare("INSERT INTO dirty_days(server_id, day) VALUES (?, ?) "
                                "ON CONFLICT(server_id, day) DO UPDATE SET day = excluded.day");
        std::int64_t last_day = -1;
        for (const auto& r : rows) {
            const std::int64_t day = utc_day_start(r.hour);
            if (day != last_day) {
                dirty.bind(1, server_id).bind(2, utc_day_name(day)).run();
                last_day = day;
            }
        }
        try {
            tx.commit();
        } catch (const Error&) {
            m_commit_unknown = db.pg() != nullptr && !db.pg()->connected();
            throw;
        }
    }

    void remove_input(const IngestJob& job) {
        if (job.path == "-" || m_settings.keep || !is_inside_directory(job.path, m_settings.spool)) {
            return;
        }
        if (::unlink(job.path.c_str()) != 0 && errno != ENOENT) {
            fail_errno(errno, fmt::format("billed, but cannot remove {} (it will not be billed again)", job.path));
        }
        fsync_directory(parent_directory(job.path));
    }

    // pg_advisory_lock's key of server N being billed: this + N ("wp" in
    // ASCII above 32 bits; the rollup's two-key locks are another space).
    static constexpr std::int64_t k_server_lock_space = std::int64_t{0x7770} << 32;

    const IngestSettings& m_settings;
    const LogGrammar& m_grammar;
    const BillingRules& m_rules;
    RunState& m_state;
    std::int64_t m_locked_server = 0;
    bool m_commit_unknown = false; ///< a COMMIT was sent and its answer lost
};

// Largest server first, each to the least loaded queue: the queues end
// about together. A server's files stay together and in their order, so one
// thread writes a server's archive days.
std::vector<std::vector<IngestJob>> queues_by_size(const std::map<std::string, std::vector<IngestJob>>& by_server,
                                                   int workers) {
    std::vector<std::vector<IngestJob>> queues(static_cast<std::size_t>(std::max(1, workers)));
    std::vector<std::pair<std::uintmax_t, const std::vector<IngestJob>*>> groups;
    for (const auto& [server, jobs] : by_server) {
        std::uintmax_t size = 0;
        for (const auto& j : jobs) {
            std::error_code ec;
            size += j.path == "-" ? 0 : fs::file_size(j.path, ec);
        }
        groups.emplace_back(size, &jobs);
    }
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::uintmax_t> load(queues.size());
    for (const auto& [size, jobs] : groups) {
        const auto i = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        load[i] += size;
        queues[i].insert(queues[i].end(), jobs->begin(), jobs->end());
    }
    std::erase_if(queues, [](const auto& q) { return q.empty(); });
    return queues;
}

} // namespace

IngestTotals ingest_files(const std::map<std::string, std::vector<IngestJob>>& by_server, int workers,
                          const IngestSettings& settings, const LogGrammar& grammar, const BillingRules& rules) {
    const auto queues = queues_by_size(by_server, workers);
    RunState state;
    // One task per queue. The pool starts nothing new after Ctrl-C or an
    // escaped error and rethrows that error once the running queues are done;
    // the totals are sums and a sorted map, the same whichever queue ends first.
    HostPool(workers).run(queues.size(),
                          [&](std::size_t i) { Ingester(settings, grammar, rules, state).run(queues[i]); });
    return std::move(state.totals);
}

void write_usage_records(const std::string& output, bool json, const UsageRecords& records) {
    std::FILE* out = stdout;
    fmt::memory_buffer buf;
    auto it = std::back_inserter(buf);
    if (!json) {
        fmt::format_to(it, "server\tuser\thour\trequests\tbytes\tbilled_bytes\n");
    }
    for (const auto& [key, c] : records) {
        const auto& [server, user, hour] = key;
        if (json) {
            fmt::format_to(
                it, "{{\"server\":{},\"user\":{},\"hour\":\"{}\",\"requests\":{},\"bytes\":{},\"billed_bytes\":{}}}\n",
                json_quote(server), json_quote(user), format_utc(hour), c.requests, c.bytes, c.billed_bytes);
        } else {
            fmt::format_to(it, "{}\t{}\t{}\t{}\t{}\t{}\n", server, tsv_escape(user), format_utc(hour), c.requests,
                           c.bytes, c.billed_bytes);
        }
    }
    struct stat sb {};
    if (output == "-") {
        std::fwrite(buf.data(), 1, buf.size(), out);
    } else if (::stat(output.c_str(), &sb) == 0 && !S_ISREG(sb.st_mode)) {
        // A device or a pipe (/dev/null, a FIFO) is written, never renamed over.
        const Fd fd(::open(output.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            fail_errno(errno, fmt::format("cannot open {}", output));
        }
        write_all(fd.get(), std::string_view(buf.data(), buf.size()), output);
    } else {
        atomic_write_file(output, std::string_view(buf.data(), buf.size()), 0644);
    }
}

} // namespace wp
