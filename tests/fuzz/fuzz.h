#pragma once
// What the fuzz targets share: a property check that stops the run where
// libFuzzer (or the corpus driver) sees it, and input handed over as a file.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unistd.h>

#include "billing/squid_log.h"

namespace wp_fuzz {

[[noreturn]] inline void property_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::wp_fuzz::property_failed(#cond, __FILE__, __LINE__))

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// The input in a temporary regular file (the archive opens with
/// O_NOFOLLOW, so a memfd's /proc/self/fd link will not do), removed again.
class TempFile {
public:
    explicit TempFile(std::string_view content) {
        const char* dir = std::getenv("TMPDIR");
        m_path = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/wp-fuzz-XXXXXX";
        const int fd = ::mkstemp(m_path.data());
        FUZZ_CHECK(fd >= 0);
        std::size_t done = 0;
        while (done < content.size()) {
            const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
            FUZZ_CHECK(n > 0);
            done += static_cast<std::size_t>(n);
        }
        ::close(fd);
    }
    ~TempFile() { ::unlink(m_path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

inline bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

/// What any accepted line's record must satisfy, whatever the grammar: the
/// views point into the line (or at the literal "-"/"") and the numbers are in range.
inline void check_record(std::string_view line, const wp::LogRecord& r, bool carries_request_bytes) {
    FUZZ_CHECK(inside(r.tag, line));
    FUZZ_CHECK(inside(r.user, line) || r.user == "-");
    FUZZ_CHECK(inside(r.hierarchy, line) || r.hierarchy.empty());
    FUZZ_CHECK(r.millis >= 0 && r.millis <= 999);
    FUZZ_CHECK(r.status >= 0 && r.status <= 999);
    FUZZ_CHECK(r.bytes >= 0);
    FUZZ_CHECK(carries_request_bytes ? r.request_bytes >= 0 : r.request_bytes == -1);
    (void)wp::decode_user(r.user);
}

} // namespace wp_fuzz
