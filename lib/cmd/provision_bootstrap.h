#pragma once
// wp-provision bootstrap: first contact with a new VPS by password, to
// install our public key (the seed's "HOWTO: Speedy Server Setup").

#include <string>

#include "cmd/options.h"
#include "cmd/provision.h"

namespace wp {

/// The password: the first line of password_file, else asked on the
/// terminal without echo; Error(64) when there is neither.
std::string read_password(const std::string& password_file, const std::string& prompt);

/// Runs `wp-provision bootstrap [USER@]ADDRESS[:PORT]`; returns the exit status.
int run_bootstrap(const ProvisionRequest& request, const CommonOptions& options);

} // namespace wp
