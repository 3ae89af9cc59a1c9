#pragma once
// A file descriptor that is closed when its owner goes away.

#include <unistd.h>
#include <utility>

namespace wp {

/// Owns one open file descriptor (or none: -1). Move-only. The destructor
/// closes it and ignores the result: where a close can report lost data
/// (a file just written), call close() and check it.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : m_fd(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : m_fd(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const noexcept { return m_fd; }
    explicit operator bool() const noexcept { return m_fd >= 0; }

    /// Gives up ownership without closing.
    int release() noexcept { return std::exchange(m_fd, -1); }

    /// Closes the descriptor held (if any) and takes fd.
    void reset(int fd = -1) noexcept {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        m_fd = fd;
    }

    /// Closes now and returns ::close's result (0, or -1 with errno set);
    /// 0 when nothing was held.
    int close() noexcept {
        const int fd = release();
        return fd >= 0 ? ::close(fd) : 0;
    }

private:
    int m_fd = -1;
};

} // namespace wp
