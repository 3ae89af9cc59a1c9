#pragma once
// Test support: a temporary directory removed with everything in it when the
// test ends, the exit code a wp::Error would give, and a shell command's output.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "base/error.h"

/// The exit code of the wp::Error f throws, 0 when it throws none.
inline int exit_code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const wp::Error& e) {
        return e.code();
    }
    return 0;
}

/// What `sh -c command` prints on stdout ("" when it cannot be started).
inline std::string shell_output(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (p == nullptr) {
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    pclose(p);
    return out;
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "wp-unit.XXXXXX").string();
        m_path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path(const std::string& name = "") const { return name.empty() ? m_path : m_path + "/" + name; }

private:
    std::string m_path;
};
