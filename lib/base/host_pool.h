#pragma once
// A bounded pool of worker threads for fan-out over hosts (wp-fetchlogs, wp-runall).

#include <cstddef>
#include <functional>

namespace wp {

/// Runs one task per host on at most `workers` threads, in index order as
/// workers free up. Each task owns whatever it opens (one SSH session per
/// host per thread); results go wherever the caller's task writes them, by
/// index. Once stop() returns true no further task is started; running ones
/// finish (they watch interrupted() themselves).
class HostPool {
public:
    /// workers < 1 is taken as 1; stop defaults to wp::interrupted.
    explicit HostPool(int workers, std::function<bool()> stop = {});

    /// Calls task(i) for i in [0, count) and waits for all started tasks.
    /// Returns how many were started (fewer than count only when stopped).
    /// An exception escaping a task stops further launches and is rethrown
    /// here after every running task has finished.
    std::size_t run(std::size_t count, const std::function<void(std::size_t)>& task);

private:
    int m_workers;
    std::function<bool()> m_stop;
};

} // namespace wp
