#include "provision/answer_lists.h"

#include <string_view>
#include <sys/stat.h>

#include "base/diagnostics.h"
#include "base/fs.h"
#include "provision/packages.h"

namespace wp {

namespace {

constexpr std::string_view k_learned_header =
    "# Role: learned. Packages an operator chose to keep when wp-provision asked\n"
    "# (k at the prompt, or 'keep' in an --answers file with --learn).\n"
    "#\n"
    "# One Debian binary package name per line, sorted (LC_ALL=C sort).\n";

} // namespace

void AnswerLists::add(const std::string& package, Answer answer) {
    // One writer at a time, whatever the host: two hosts' answers must not
    // each rewrite the file from the same old content.
    std::lock_guard lock(m_mutex);
    const std::string path = answer == Answer::keep ? m_dir + "/packages/learned" : m_dir + "/packages-blacklist";
    std::string text;
    mode_t mode = 0644;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        text = read_file(path);
        mode = st.st_mode & 07777;
    } else {
        text = std::string(k_learned_header);
    }
    const std::string updated = add_to_list(text, package);
    if (updated != text) {
        atomic_write_file(path, updated, mode);
        info(1, "{}: added {}", path, package);
    }
}

} // namespace wp
