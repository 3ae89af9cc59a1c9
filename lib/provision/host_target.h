#pragma once
// Where wp-provision reaches a host the inventory may not know yet:
// [USER@]ADDRESS[:PORT] as the operator types it.

#include <string>
#include <string_view>

namespace wp {

/// Where to reach a host given as [USER@]ADDRESS[:PORT] ([v6]:PORT for IPv6).
struct HostTarget {
    std::string user; ///< empty: not given
    std::string address;
    int port = 22;
};

/// Parses a target; Error(64) naming what is wrong.
HostTarget parse_host_target(std::string_view text);

} // namespace wp
