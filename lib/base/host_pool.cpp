#include "base/host_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "base/diagnostics.h"

namespace wp {

HostPool::HostPool(int workers, std::function<bool()> stop)
    : m_workers(std::max(1, workers)), m_stop(stop ? std::move(stop) : std::function<bool()>(interrupted)) {}

std::size_t HostPool::run(std::size_t count, const std::function<void(std::size_t)>& task) {
    std::mutex mutex;
    std::size_t next = 0;
    std::size_t started = 0;
    std::exception_ptr error;

    // Each worker takes the next index under the lock; checking stop there
    // means nothing new begins after Ctrl-C or after a task threw.
    auto worker = [&] {
        for (;;) {
            std::size_t index = 0;
            {
                std::lock_guard lock(mutex);
                if (next >= count || error || m_stop()) {
                    return;
                }
                index = next++;
                ++started;
            }
            try {
                task(index);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!error) {
                    error = std::current_exception();
                }
            }
        }
    };
    const auto threads = std::min<std::size_t>(static_cast<std::size_t>(m_workers), count);
    if (threads <= 1) {
        worker();
    } else {
        std::vector<std::thread> pool;
        pool.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) {
            pool.emplace_back(worker);
        }
        for (auto& t : pool) {
            t.join();
        }
    }
    if (error) {
        std::rethrow_exception(error);
    }
    return started;
}

} // namespace wp
