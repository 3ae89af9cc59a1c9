#pragma once
// Outputs of apt-get recorded on Debian 12 (bookworm), shared by the unit
// tests of the package rules and of wp-provision's plan.
#include <string>
#include <string_view>

/// What `apt-get -s -qq remove PKG` prints (with 2>&1) when apt refuses, the
/// same at -q after the explanation.
inline constexpr std::string_view k_bookworm_refusal =
    "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";

/// The start of `apt-get -s -q remove PKG`'s explanation of a refusal.
inline constexpr std::string_view k_bookworm_unmet_header =
    "Reading package lists...\n"
    "Building dependency tree...\n"
    "Some packages could not be installed. This may mean that you have\n"
    "requested an impossible situation or if you are using the unstable\n"
    "distribution that some required packages have not yet been created\n"
    "or been moved out of Incoming.\n"
    "The following information may help to resolve the situation:\n"
    "\n"
    "The following packages have unmet dependencies:\n";

/// Debian 12, remove libacl1: three Essential packages pre-depend on it.
inline std::string bookworm_libacl1_why() {
    return std::string(k_bookworm_unmet_header) +
           " coreutils : PreDepends: libacl1 (>= 2.2.23) but it is not going to be installed\n"
           " sed : PreDepends: libacl1 (>= 2.2.23) but it is not going to be installed\n"
           " tar : PreDepends: libacl1 (>= 2.2.23) but it is not going to be installed\n"
           "E: Error, pkgProblemResolver::Resolve generated breaks, this may be caused by held packages.\n";
}
