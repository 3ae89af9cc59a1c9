#pragma once
// Bulk copies on AMD Zen with glibc < 2.40: see memcpy_tuning.cpp.

namespace wp {

/// The GLIBC_TUNABLES value that keeps glibc's memcpy off REP MOVSB.
inline constexpr const char* k_vector_memcpy_tunables = "glibc.cpu.x86_rep_movsb_threshold=1073741824";

/// True where glibc's memcpy would use REP MOVSB on a CPU that runs it
/// slowly for misaligned copies (AMD with ERMS or FSRM, glibc < 2.40).
bool rep_movsb_is_slow_here() noexcept;

/// For the tools that move bulk data through libssh. Where
/// rep_movsb_is_slow_here() and GLIBC_TUNABLES is not set at all, executes
/// the program again with k_vector_memcpy_tunables (glibc reads tunables only
/// at start-up); returns only when it did not. In the new image, the variable
/// is removed again so that processes it starts see the caller's environment.
/// Call first in main, before any thread or open file.
void prefer_vector_memcpy(char** argv) noexcept;

} // namespace wp
