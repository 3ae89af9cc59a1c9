#pragma once
// Test support: a temporary directory removed with everything in it when the
// test ends, and the exit code a wp::Error would give.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "error.h"

/// The exit code of the wp::Error f throws, 0 when it throws none.
inline int exit_code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const wp::Error& e) {
        return e.code();
    }
    return 0;
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
