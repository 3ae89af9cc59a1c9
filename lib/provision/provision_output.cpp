#include "provision/provision_output.h"

#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "base/diagnostics.h"

namespace wp {

void ProvisionOutput::line(std::string_view host, std::string_view text) {
    if (verbosity() < 0) {
        return;
    }
    std::lock_guard lock(m_mutex);
    fmt::print("{}: {}\n", host, escape_control(text));
    std::fflush(stdout);
}

Reply ProvisionOutput::ask(std::string_view host, const PackageDecision& d) {
    std::lock_guard lock(m_mutex);
    for (;;) {
        fmt::print(stderr, "{}: {} -- purge it? [y]es, [n]o, [k]eep and whitelist, [p]urge and blacklist: ", host,
                   escape_control(d.describe()));
        std::fflush(stderr);
        std::string reply;
        if (!std::getline(std::cin, reply)) {
            return {};
        }
        if (reply == "y" || reply == "yes") return {Answer::purge, false};
        if (reply == "n" || reply == "no") return {Answer::keep, false};
        if (reply == "k") return {Answer::keep, true};
        if (reply == "p") return {Answer::purge, true};
    }
}

} // namespace wp
