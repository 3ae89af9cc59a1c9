#pragma once
// Small helpers more than one test file needs.

#include <string>

#include "base/error.h"
#include "store/inventory.h"

/// A server row as the selection and the runners see it: a documentation
/// address, active unless told otherwise, retired when asked.
inline wp::Server server(const std::string& name, bool active = true, bool retired = false) {
    wp::Server s;
    s.name = name;
    s.address = "192.0.2.1";
    s.active = active;
    if (retired) {
        s.retired_at = 1;
    }
    return s;
}

/// The exit code of the wp::Error f throws, or 0 when it throws none.
template <typename F> int error_code_of(F&& f) {
    try {
        f();
    } catch (const wp::Error& e) {
        return e.code();
    }
    return 0;
}
