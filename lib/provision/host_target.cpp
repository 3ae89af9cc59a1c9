#include "provision/host_target.h"

#include <algorithm>

#include "base/error.h"
#include "store/inventory.h"

namespace wp {

HostTarget parse_host_target(std::string_view text) {
    HostTarget t;
    const std::string original(text);
    const auto at = text.rfind('@');
    if (at != std::string_view::npos) {
        t.user = std::string(text.substr(0, at));
        text.remove_prefix(at + 1);
        if (auto p = check_ssh_user(t.user); !p.empty()) {
            fail(exit_code::k_usage, "{}: user {}", original, p);
        }
    }
    std::string_view port;
    if (text.starts_with("[")) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            fail(exit_code::k_usage, "{}: unclosed '['", original);
        }
        t.address = std::string(text.substr(1, close - 1));
        text.remove_prefix(close + 1);
        if (!text.empty()) {
            if (text[0] != ':') {
                fail(exit_code::k_usage, "{}: expected ':PORT' after ']'", original);
            }
            port = text.substr(1);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        t.address = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
    } else {
        t.address = std::string(text); // a name, IPv4, or a bare IPv6 address
    }
    if (auto p = check_address(t.address); !p.empty()) {
        fail(exit_code::k_usage, "{}: address {}", original, p);
    }
    if (!port.empty() || text.ends_with(":")) {
        if (auto p = check_port(port, t.port); !p.empty()) {
            fail(exit_code::k_usage, "{}: port {}", original, p);
        }
    }
    return t;
}

} // namespace wp
