#pragma once
// Bulk copies on AMD Zen with glibc < 2.40: see memcpy_tuning.cpp.

namespace wp {

/// For the tools that move bulk data through libssh. On an AMD CPU with ERMS
/// or FSRM under glibc < 2.40, where glibc's memcpy would use REP MOVSB, and
/// only when GLIBC_TUNABLES is not set at all, executes the program again
/// with glibc.cpu.x86_rep_movsb_threshold=1073741824 (glibc reads tunables
/// only at start-up); returns only when it did not. In the new image the
/// variable is removed again, so that what the program starts sees the
/// caller's environment. Call first in main, before any thread or open file.
void prefer_vector_memcpy(char** argv) noexcept;

} // namespace wp
