// libssh copies every byte it receives at least twice between its own
// buffers (packet to string, string to channel buffer), at offsets a few
// bytes apart. glibc 2.36 (Debian 12) copies blocks of 2 KiB and more with
// REP MOVSB when the CPU announces ERMS or FSRM, and AMD Zen 3/4 run REP
// MOVSB at about 3 GB/s instead of about 50 GB/s when the destination sits a
// few bytes past the source's alignment (measured on this project's EPYC
// build machine: 2.8 vs 49 GB/s for 32 KiB copies at +4 and +20 bytes). In
// wp-fetchlogs that made memcpy a quarter of the process's CPU time. Later
// glibc (the fix for its bug 30994, in 2024) no longer uses REP MOVSB below
// the L2 size on these CPUs, and glibc 2.40 and later are left alone here.
// On older glibc a threshold of 1 GiB (no copy here is that large) makes
// the same choice; glibc reads tunables only when a program starts, hence
// the second exec.
#include "base/memcpy_tuning.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

#if defined(__x86_64__) && defined(__GLIBC__)
#include <cpuid.h>
#include <gnu/libc-version.h>
#include <sys/auxv.h>
#endif

namespace wp {

#if defined(__x86_64__) && defined(__GLIBC__)
namespace {

constexpr const char* k_variable = "GLIBC_TUNABLES";
constexpr const char* k_vector_memcpy_tunables = "glibc.cpu.x86_rep_movsb_threshold=1073741824";

// True where glibc's memcpy would use REP MOVSB on a CPU that runs it slowly
// for misaligned copies.
bool rep_movsb_is_slow_here() noexcept {
    int major = 0;
    int minor = 0;
    if (std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2 || major != 2 || minor >= 40) {
        return false;
    }
    unsigned int eax = 0;
    unsigned int ebx = 0;
    unsigned int ecx = 0;
    unsigned int edx = 0;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    // "AuthenticAMD" in EBX, EDX, ECX.
    const bool amd = ebx == 0x68747541U && edx == 0x69746e65U && ecx == 0x444d4163U;
    if (!amd || eax < 7 || __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    const bool erms = (ebx & (1U << 9)) != 0;
    const bool fsrm = (edx & (1U << 4)) != 0;
    return erms || fsrm;
}

} // namespace
#endif

void prefer_vector_memcpy(char** argv) noexcept {
#if defined(__x86_64__) && defined(__GLIBC__)
    const char* current = std::getenv(k_variable);
    if (current != nullptr) {
        // Ours, from the exec below: gone again for what this process starts.
        // Anyone else's (even empty) is left alone.
        if (std::strcmp(current, k_vector_memcpy_tunables) == 0) {
            unsetenv(k_variable);
        }
        return;
    }
    // glibc ignores tunables in set-uid programs: nothing to gain there.
    if (argv == nullptr || argv[0] == nullptr || getauxval(AT_SECURE) != 0 || !rep_movsb_is_slow_here()) {
        return;
    }
    // Started by the dynamic loader by hand (`ld.so PROGRAM ARGS`): the
    // loader is the executable then, and running it again would take the
    // first argument for the program.
    if (getauxval(AT_BASE) == 0) {
        return;
    }
    // The path the program was started by (a symbolic link keeps its name
    // in ps and pgrep), else the binary's own; never /proc/self/exe itself,
    // which would name the process "exe".
    const char* path = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
    char self[PATH_MAX];
    if (path == nullptr || *path == '\0') {
        const ssize_t n = readlink("/proc/self/exe", self, sizeof self);
        if (n <= 0 || static_cast<std::size_t>(n) >= sizeof self) {
            return;
        }
        self[n] = '\0';
        path = self;
    }
    if (setenv(k_variable, k_vector_memcpy_tunables, 1) != 0) {
        return;
    }
    execv(path, argv);
    // The binary is gone or cannot be run again: run as we are.
    unsetenv(k_variable);
#else
    (void)argv;
#endif
}

} // namespace wp
