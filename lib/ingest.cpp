#include "ingest.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "archive.h"
#include "billing.h"
#include "db.h"
#include "error.h"
#include "fs.h"
#include "inventory.h"
#include "line_reader.h"
#include "sha256.h"
#include "squid_log.h"
#include "table.h"
#include "tool.h"
#include "usage.h"

namespace fs = std::filesystem;

namespace wp {

namespace {

bool is_log_name(const std::string& name) {
    auto ends = [&](std::string_view suffix) {
        return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return name[0] != '.' && (ends(".log") || ends(".log.zst") || ends(".log.gz"));
}

// Everything one file produced, before it is committed.
struct FileOutcome {
    std::string path;
    std::string server;
    std::string sha256;
    std::int64_t lines = 0;
    std::int64_t rejected = 0;
    std::optional<std::int64_t> first_ts;
    std::optional<std::int64_t> last_ts;
    std::vector<std::pair<std::int64_t, std::string>> rejects; // first ones, for the rejects file
    std::size_t reject_bytes = 0;                              // of the lines in rejects
    HourlyUsage usage;
};

constexpr std::size_t k_max_rejects_kept = 100000;
constexpr std::size_t k_max_reject_bytes = 1u << 20; // 100000 lines of 64 KiB would be 6 GiB

// Counts of tags that no explicit rule priced, per run.
using TagCounts = std::map<std::string, std::int64_t, std::less<>>;

// A short tag or hierarchy code kept in place, so that comparing it with the
// next line's costs one small memcmp and no allocation.
struct ShortName {
    std::array<char, 48> bytes{};
    std::size_t size = 0;
    bool valid = false;
    bool equals(std::string_view s) const {
        return valid && s.size() == size && std::memcmp(s.data(), bytes.data(), size) == 0;
    }
    void assign(std::string_view s) {
        valid = s.size() <= bytes.size();
        size = valid ? s.size() : 0;
        std::memcpy(bytes.data(), s.data(), size);
    }
};

// Prices of the (tag, hierarchy) pairs seen lately. A log has a few dozen
// such pairs, interleaved line by line, so a small direct-mapped table keyed
// on a cheap mix of the bytes that tell Squid's tags apart answers nearly
// every line without normalising the tag again; a collision only costs a
// lookup in the rules.
class PriceCache {
public:
    explicit PriceCache(const BillingRules& rules) : m_rules(rules), m_by_hierarchy(rules.uses_hierarchy()) {}

    Pricing price(std::string_view tag, std::string_view hierarchy) {
        if (!m_by_hierarchy)
            hierarchy = {};
        Entry& e = m_entries[slot(tag, hierarchy)];
        if (!e.tag.equals(tag) || !e.hierarchy.equals(hierarchy)) {
            e.price = m_rules.price(tag, hierarchy);
            e.tag.assign(tag);
            e.hierarchy.assign(hierarchy);
        }
        return e.price;
    }

private:
    static constexpr std::size_t k_slots = 64;
    static std::size_t slot(std::string_view tag, std::string_view hierarchy) {
        std::size_t h = tag.size() * 0x9e3779b1u + hierarchy.size() * 0x85ebca6bu;
        if (!tag.empty())
            h += static_cast<unsigned char>(tag[tag.size() / 2]) * 31u + static_cast<unsigned char>(tag.back()) * 7u +
                 static_cast<unsigned char>(tag[tag.size() - tag.size() / 4 - 1]);
        if (!hierarchy.empty())
            h += static_cast<unsigned char>(hierarchy.front()) * 13u;
        return (h ^ (h >> 7)) % k_slots;
    }
    struct Entry {
        ShortName tag;
        ShortName hierarchy;
        Pricing price;
    };
    const BillingRules& m_rules;
    bool m_by_hierarchy;
    std::array<Entry, k_slots> m_entries{};
};

struct Worker {
    Worker(const LogGrammar& grammar, const BillingRules& rules) : matcher(grammar), prices(rules) {}

    LogMatcher matcher;
    PriceCache prices;
    TagCounts unpriced;

    Pricing price(std::string_view tag, std::string_view hierarchy) { return prices.price(tag, hierarchy); }
};

// Reads, parses and prices one source; lines go to the archive if one is given.
void parse_source(ByteSource& source, Sha256* hash, Worker& w, FileOutcome& out, ArchiveAppender* archive,
                  std::int64_t fallback_day) {
    LineReader reader(source, hash);
    std::string_view line;
    LogRecord rec;
    std::string held; // rejected lines seen before the first dated line
    std::int64_t current_day = -1;
    std::int64_t line_no = 0;
    while (reader.next(line)) {
        ++line_no;
        if ((line_no & 0xffff) == 0 && interrupted()) {
            fail(exit_code::k_temp_fail, "interrupted");
        }
        const bool ok = w.matcher.parse(line, rec);
        if (ok) {
            const Pricing p = w.price(rec.tag, rec.hierarchy);
            if (p.by_default) {
                auto it = w.unpriced.find(rec.tag);
                if (it == w.unpriced.end()) {
                    it = w.unpriced.emplace(std::string(rec.tag), 0).first;
                }
                ++it->second;
            }
            std::int64_t bytes = rec.bytes;
            if (rec.request_bytes > 0) {
                bytes += rec.request_bytes;
            }
            UsageCounts& c = out.usage.at(rec.user, rec.time - rec.time % 3600);
            c.requests += 1;
            c.bytes += bytes;
            c.billed_bytes += bytes * p.factor;
            if (!out.first_ts || rec.time < *out.first_ts) out.first_ts = rec.time;
            if (!out.last_ts || rec.time > *out.last_ts) out.last_ts = rec.time;
            if (archive != nullptr) {
                const std::int64_t day = utc_day_start(rec.time);
                if (current_day < 0 && !held.empty()) {
                    // Lines not understood before the first dated one go with its day.
                    std::string_view rest = held;
                    while (!rest.empty()) {
                        const auto nl = rest.find('\n');
                        archive->append(day, rest.substr(0, nl));
                        rest.remove_prefix(nl + 1);
                    }
                    held.clear();
                }
                current_day = day;
                archive->append(day, line);
            }
        } else {
            ++out.rejected;
            if (out.rejects.size() < k_max_rejects_kept && out.reject_bytes < k_max_reject_bytes) {
                out.rejects.emplace_back(line_no, std::string(line));
                out.reject_bytes += line.size();
            }
            if (archive != nullptr) {
                if (current_day >= 0) {
                    archive->append(current_day, line);
                } else if (held.size() < (8u << 20)) {
                    held.append(line);
                    held.push_back('\n');
                } else {
                    archive->append(fallback_day, line);
                }
            }
        }
    }
    if (archive != nullptr && !held.empty()) {
        std::string_view rest = held;
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            archive->append(fallback_day, rest.substr(0, nl));
            rest.remove_prefix(nl + 1);
        }
    }
    out.lines = line_no;
}

std::string reject_summary(const FileOutcome& f) {
    std::string first;
    if (!f.rejects.empty()) {
        std::string_view text = f.rejects.front().second;
        if (text.size() > 80) {
            text = text.substr(0, 80);
        }
        first = fmt::format(" (first at line {}: {})", f.rejects.front().first, escape_control(text));
    }
    return fmt::format("{}: {} of {} lines not understood{}", f.path, f.rejected, f.lines, first);
}

void write_rejects(const std::string& root, const FileOutcome& f) {
    const std::string dir = root + "/" + f.server;
    make_directories(dir, 0750);
    std::string name = fs::path(f.path).filename().string();
    if (f.path == "-") {
        name = "stdin-" + f.sha256.substr(0, 16);
    }
    std::string body;
    for (const auto& [no, text] : f.rejects) {
        body += fmt::format("{}\t{}\n", no, text);
    }
    if (static_cast<std::size_t>(f.rejected) > f.rejects.size()) {
        body += fmt::format("# {} more lines not understood are not listed\n", f.rejected - f.rejects.size());
    }
    atomic_write_file(dir + "/" + name + ".rejects", body, 0640);
}

bool inside(const std::string& path, const std::string& dir) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
    const fs::path d = fs::weakly_canonical(fs::absolute(dir), ec);
    const std::string ps = p.string();
    const std::string ds = d.string() + "/";
    return ps.compare(0, ds.size(), ds) == 0;
}

// The outcome of a run, shared by the workers.
struct RunState {
    std::mutex mutex;
    int failed_files = 0;
    std::int64_t lines = 0;
    std::int64_t understood = 0;
    TagCounts unpriced;
    std::map<std::tuple<std::string, std::string, std::int64_t>, UsageCounts> records;
};

struct Job {
    std::string path;
    std::string server;
};

class Ingester {
public:
    Ingester(const ParseRequest& req, const CommonOptions& opts, const LogGrammar& grammar,
             const BillingRules& rules, RunState& state)
        : m_req(req), m_opts(opts), m_grammar(grammar), m_rules(rules), m_state(state) {}

    void run(const std::vector<Job>& jobs) {
        Worker w(m_grammar, m_rules);
        std::optional<Database> db;
        if (!records_only()) {
            db.emplace(m_opts.db, OpenMode::read_write);
        }
        for (const auto& job : jobs) {
            if (interrupted()) {
                break;
            }
            try {
                if (records_only()) {
                    parse_for_output(job, w);
                } else {
                    ingest(job, w, *db);
                }
            } catch (const Error& e) {
                if (e.code() == exit_code::k_temp_fail && interrupted()) {
                    break;
                }
                warn("{}: {}", job.path, e.what());
                std::lock_guard lock(m_state.mutex);
                ++m_state.failed_files;
            }
        }
        std::lock_guard lock(m_state.mutex);
        for (const auto& [tag, n] : w.unpriced) {
            m_state.unpriced[tag] += n;
        }
    }

private:
    bool records_only() const { return !m_req.output.empty(); }

    void account(const FileOutcome& f) {
        std::lock_guard lock(m_state.mutex);
        m_state.lines += f.lines;
        m_state.understood += f.lines - f.rejected;
    }

    void parse_for_output(const Job& job, Worker& w) {
        FileOutcome f;
        f.path = job.path;
        f.server = job.server;
        auto source = open_byte_source(job.path);
        parse_source(*source, nullptr, w, f, nullptr, 0);
        account(f);
        if (f.rejected > 0) {
            warn_message(reject_summary(f));
        }
        std::lock_guard lock(m_state.mutex);
        for (const auto& r : f.usage.rows()) {
            m_state.records[{f.server, r.user, r.hour}].add(r.counts);
        }
    }

    void ingest(const Job& job, Worker& w, Database& db) {
        FileOutcome f;
        f.path = job.path;
        f.server = job.server;
        std::int64_t server_id = 0;
        {
            auto st = db.prepare("SELECT id FROM servers WHERE name = ?");
            st.bind(1, job.server);
            if (!st.step()) {
                fail(exit_code::k_data, "server {} is not in the inventory (add it with wp-hosts add {})",
                     job.server, job.server);
            }
            server_id = st.column_int64(0);
        }
        std::int64_t fallback_day = utc_day_start(now_epoch());
        struct stat sb {};
        if (job.path != "-" && ::stat(job.path.c_str(), &sb) == 0) {
            fallback_day = utc_day_start(sb.st_mtime);
        }

        auto committed = [&db](const std::string& rel) -> std::int64_t {
            auto st = db.prepare("SELECT committed_size FROM archive_files WHERE path = ?");
            st.bind(1, rel);
            return st.step() ? st.column_int64(0) : 0;
        };
        ArchiveAppender archive(m_opts.archive, job.server, m_req.zstd_level, committed);
        Sha256 hash;
        try {
            auto source = open_byte_source(job.path);
            parse_source(*source, &hash, w, f, &archive, fallback_day);
            f.sha256 = hash.hex_digest();
            account(f);

            if (f.lines == 0) {
                archive.abandon();
                remove_input(job);
                return;
            }
            if (f.rejected > 0) {
                write_rejects(m_opts.rejects, f);
                warn_message(fmt::format("{}, kept in {}/{}/", reject_summary(f), m_opts.rejects, f.server));
            }
            if (f.lines - f.rejected == 0 ||
                static_cast<double>(f.rejected) > m_req.max_reject_ratio * static_cast<double>(f.lines)) {
                archive.abandon();
                fail(exit_code::k_data, "{} of {} lines not understood, above --max-reject-ratio {}: not billed, left in place",
                     f.rejected, f.lines, m_req.max_reject_ratio);
            }
            {
                auto st = db.prepare("SELECT source_name FROM ingested_files WHERE sha256 = ?");
                st.bind(1, f.sha256);
                if (st.step()) {
                    // Billed before (a re-run after a crash, or the same file again):
                    // its lines are archived already, so only the input goes.
                    info(1, "{}: already billed as {}, not billed again", job.path, st.column_text(0));
                    archive.abandon();
                    remove_input(job);
                    return;
                }
            }
            archive.finish();
            commit(db, server_id, f, archive);
        } catch (...) {
            archive.abandon();
            throw;
        }
        remove_input(job);
    }

    void commit(Database& db, std::int64_t server_id, const FileOutcome& f, const ArchiveAppender& archive) {
        Transaction tx(db);
        UsageWriter writer(db);
        const auto rows = f.usage.rows();
        writer.add(server_id, rows);
        auto ledger = db.prepare(
            "INSERT INTO ingested_files(sha256, server_id, source_name, lines, rejected, first_ts, last_ts, "
            "ingested_at) VALUES (?,?,?,?,?,?,?,?)");
        ledger.bind(1, f.sha256).bind(2, server_id).bind(3, fs::path(f.path).filename().string());
        ledger.bind(4, f.lines).bind(5, f.rejected).bind(6, f.first_ts).bind(7, f.last_ts).bind(8, now_epoch());
        ledger.run();
        auto sizes = db.prepare(
            "INSERT INTO archive_files(path, committed_size) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET committed_size = excluded.committed_size");
        for (const auto& [rel, size] : archive.sizes()) {
            sizes.bind(1, rel).bind(2, size).run();
        }
        auto dirty = db.prepare("INSERT INTO dirty_days(server_id, day) VALUES (?, ?) ON CONFLICT DO NOTHING");
        std::int64_t last_day = -1;
        for (const auto& r : rows) {
            const std::int64_t day = utc_day_start(r.hour);
            if (day != last_day) {
                dirty.bind(1, server_id).bind(2, utc_day_name(day)).run();
                last_day = day;
            }
        }
        tx.commit();
    }

    void remove_input(const Job& job) {
        if (job.path == "-" || m_req.keep || !inside(job.path, m_opts.spool)) {
            return;
        }
        if (::unlink(job.path.c_str()) != 0 && errno != ENOENT) {
            fail_errno(errno, fmt::format("billed, but cannot remove {} (it will not be billed again)", job.path));
        }
        fsync_directory(parent_directory(job.path));
    }

    const ParseRequest& m_req;
    const CommonOptions& m_opts;
    const LogGrammar& m_grammar;
    const BillingRules& m_rules;
    RunState& m_state;
};

void write_records(const ParseRequest& req, const RunState& state) {
    std::FILE* out = stdout;
    std::optional<AtomicFile> file;
    fmt::memory_buffer buf;
    auto it = std::back_inserter(buf);
    if (!req.json) {
        fmt::format_to(it, "server\tuser\thour\trequests\tbytes\tbilled_bytes\n");
    }
    for (const auto& [key, c] : state.records) {
        const auto& [server, user, hour] = key;
        if (req.json) {
            fmt::format_to(it, "{{\"server\":{},\"user\":{},\"hour\":\"{}\",\"requests\":{},\"bytes\":{},\"billed_bytes\":{}}}\n",
                           json_quote(server), json_quote(user), format_utc(hour), c.requests, c.bytes,
                           c.billed_bytes);
        } else {
            fmt::format_to(it, "{}\t{}\t{}\t{}\t{}\t{}\n", server, tsv_escape(user), format_utc(hour), c.requests,
                           c.bytes, c.billed_bytes);
        }
    }
    struct stat sb {};
    if (req.output == "-") {
        std::fwrite(buf.data(), 1, buf.size(), out);
    } else if (::stat(req.output.c_str(), &sb) == 0 && !S_ISREG(sb.st_mode)) {
        // A device or a pipe (/dev/null, a FIFO) is written, never renamed over.
        const int fd = ::open(req.output.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            fail_errno(errno, fmt::format("cannot open {}", req.output));
        }
        try {
            write_all(fd, std::string_view(buf.data(), buf.size()), req.output);
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);
    } else {
        atomic_write_file(req.output, std::string_view(buf.data(), buf.size()), 0644);
    }
}

} // namespace

std::string server_for_path(const std::string& path, const std::string& spool) {
    const fs::path p(path);
    if (inside(path, spool)) {
        const std::string parent = p.parent_path().filename().string();
        if (check_server_name(parent).empty() && fs::weakly_canonical(fs::absolute(p).parent_path().parent_path()) ==
                                                     fs::weakly_canonical(fs::absolute(spool))) {
            return parent;
        }
    }
    const std::string name = p.filename().string();
    const std::string stem = name.substr(0, name.find('.'));
    return check_server_name(stem).empty() ? stem : std::string();
}

std::vector<std::string> expand_input(const std::string& input) {
    struct stat sb {};
    if (input == "-") {
        return {input};
    }
    if (::lstat(input.c_str(), &sb) != 0) {
        fail_errno(errno, fmt::format("cannot read input {}", input));
    }
    if (!S_ISDIR(sb.st_mode)) {
        return {input};
    }
    std::vector<std::string> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::none, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            fail(exit_code::k_io, "cannot walk {}: {}", input, ec.message());
        }
        const auto status = it->symlink_status();
        if (fs::is_regular_file(status) && is_log_name(it->path().filename().string())) {
            files.push_back(it->path().string());
        }
    }
    if (ec) {
        fail(exit_code::k_io, "cannot walk {}: {}", input, ec.message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

int run_parse(const ParseRequest& req, const CommonOptions& opts) {
    const bool records_only = !req.output.empty();
    if (req.jobs < 1 || req.jobs > 64) {
        fail(exit_code::k_usage, "--jobs must be between 1 and 64");
    }
    if (req.zstd_level < 1 || req.zstd_level > 19) {
        fail(exit_code::k_usage, "--zstd-level must be between 1 and 19");
    }
    if (!req.server.empty()) {
        if (auto p = check_server_name(req.server); !p.empty()) {
            fail(exit_code::k_usage, "--server: {}", p);
        }
    }
    const LogGrammar grammar = LogGrammar::by_name_or_format(req.format);
    // The installed rules file, else the same table built in; a file named
    // with --rules must exist.
    struct stat rules_stat {};
    const BillingRules rules = !opts.rules.empty() || ::stat(opts.rules_path().c_str(), &rules_stat) == 0
                                   ? BillingRules::load(opts.rules_path())
                                   : BillingRules::defaults();

    std::vector<std::string> inputs = req.inputs;
    if (inputs.empty()) {
        struct stat sb {};
        if (::stat(opts.spool.c_str(), &sb) != 0) {
            fail_errno(errno, fmt::format("cannot read spool {}", opts.spool));
        }
        inputs.push_back(opts.spool);
    }
    const auto stdin_count = std::count(inputs.begin(), inputs.end(), "-");
    if (stdin_count > 1) {
        fail(exit_code::k_usage, "'-' may be given once");
    }
    if (stdin_count == 1 && req.server.empty()) {
        fail(exit_code::k_usage, "reading '-' needs --server NAME");
    }
    // Group files by server: one server's archive days are written by one worker.
    std::map<std::string, std::vector<Job>> by_server;
    for (const auto& input : inputs) {
        for (const auto& path : expand_input(input)) {
            std::string server = req.server.empty() ? server_for_path(path, opts.spool) : req.server;
            if (server.empty()) {
                fail(exit_code::k_usage, "cannot tell the server of {}: give --server NAME", path);
            }
            by_server[server].push_back({path, server});
        }
    }

    std::optional<LockFile> lock;
    RunState state;
    if (!records_only) {
        make_directories(parent_directory(opts.db));
        lock.emplace(opts.db + ".parse.lock");
        Database db(opts.db);
        std::vector<std::string> damaged;
        const int repaired = repair_torn_archives(db, opts.archive, &damaged);
        for (const auto& d : damaged) {
            warn_message(d);
        }
        if (repaired > 0) {
            info(1, "cut torn appends off {} archive files", repaired);
        }
    }

    std::vector<std::vector<Job>> queues(static_cast<std::size_t>(req.jobs));
    {
        // Largest groups first, each to the least loaded worker.
        std::vector<std::pair<std::uintmax_t, std::vector<Job>*>> groups;
        for (auto& [server, jobs] : by_server) {
            std::uintmax_t size = 0;
            for (const auto& j : jobs) {
                std::error_code ec;
                size += j.path == "-" ? 0 : fs::file_size(j.path, ec);
            }
            groups.emplace_back(size, &jobs);
        }
        std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<std::uintmax_t> load(queues.size());
        for (auto& [size, jobs] : groups) {
            const auto i = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
            load[i] += size;
            queues[i].insert(queues[i].end(), jobs->begin(), jobs->end());
        }
    }
    std::vector<std::thread> threads;
    std::exception_ptr first_error;
    std::mutex error_mutex;
    for (auto& q : queues) {
        if (q.empty()) {
            continue;
        }
        threads.emplace_back([&, jobs = &q] {
            try {
                Ingester(req, opts, grammar, rules, state).run(*jobs);
            } catch (...) {
                std::lock_guard lock_guard(error_mutex);
                if (!first_error) {
                    first_error = std::current_exception();
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    for (const auto& [tag, n] : state.unpriced) {
        warn("tag {} has no billing rule: {} lines billed by the default rule", tag, n);
    }
    if (records_only) {
        write_records(req, state);
    }
    if (interrupted()) {
        return exit_code::k_temp_fail;
    }
    if (state.lines > 0 && state.understood == 0) {
        fail(exit_code::k_data, "no line of the input was understood as Squid {} format", grammar.description());
    }
    return state.failed_files > 0 ? exit_code::k_partial : exit_code::k_ok;
}

} // namespace wp
