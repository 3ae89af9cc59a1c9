#include "billing/ingest_inputs.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string_view>
#include <sys/stat.h>

#include "base/diagnostics.h"
#include "base/error.h"
#include "base/fs.h"
#include "store/inventory.h"

namespace fs = std::filesystem;

namespace wp {

bool is_inside_directory(const std::string& path, const std::string& dir) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
    const fs::path d = fs::weakly_canonical(fs::absolute(dir), ec);
    const std::string ps = p.string();
    const std::string ds = d.string() + "/";
    return ps.compare(0, ds.size(), ds) == 0;
}

std::string server_for_path(const std::string& path, const std::string& spool) {
    const fs::path p(path);
    if (is_inside_directory(path, spool)) {
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
        const std::string name = it->path().filename().string();
        if (fs::is_regular_file(status) && is_log_file_name(name)) {
            files.push_back(it->path().string());
        } else if (fs::is_regular_file(status) && name.size() > 1 && name[0] == '.' &&
                   is_log_file_name(name.substr(1))) {
            warn("{}: a hidden log is not billed (remove the leading '.' from its name to bill it)",
                 it->path().string());
        }
    }
    if (ec) {
        fail(exit_code::k_io, "cannot walk {}: {}", input, ec.message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace wp
