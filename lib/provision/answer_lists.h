#pragma once
// An operator's remembered answers (k/p at the prompt, --learn) written into
// the package lists, so that the next run does not ask again.

#include <mutex>
#include <string>

#include "provision/provision_facts.h"

namespace wp {

/// Adds packages to the lists under one directory (--lists): a kept one to
/// packages/learned, a purged one to packages-blacklist. Each file is
/// rewritten atomically, keeping its mode, and created with a header when
/// missing. Safe to call from one thread per host.
class AnswerLists {
public:
    explicit AnswerLists(std::string dir) : m_dir(std::move(dir)) {}

    /// Adds package to the list answer belongs to, unless it is there.
    void add(const std::string& package, Answer answer);

private:
    std::mutex m_mutex;
    std::string m_dir;
};

} // namespace wp
