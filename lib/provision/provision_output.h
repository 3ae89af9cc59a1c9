#pragma once
// The terminal of a wp-provision run shared by its hosts' threads: their
// lines on stdout, and the package questions asked one host at a time.

#include <mutex>
#include <string_view>

#include "provision/packages.h"
#include "provision/provision_steps.h"

namespace wp {

/// Safe to call from one thread per host.
class ProvisionOutput {
public:
    /// Prints `HOST: TEXT` (control characters escaped) as one whole line on
    /// stdout, flushed; nothing under -q.
    void line(std::string_view host, std::string_view text);
    /// Asks the operator on stderr about a package and reads the y/n/k/p
    /// reply from stdin, asking again until it is one of those; no lines of
    /// other hosts come in between. End of input: Answer::none.
    Reply ask(std::string_view host, const PackageDecision& decision);

private:
    std::mutex m_mutex;
};

} // namespace wp
