#pragma once
// What the fan-out tools (wp-fetchlogs, wp-runall, wp-provision) need from a
// host, and the one adapter that gives it over SSH. Unit tests put a local
// shell behind the same interface (tests/unit/support/local_host.h).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "remote/ssh.h"

namespace wp {

/// A host to work on: a shell, and files to read and write.
class RemoteHost {
public:
    virtual ~RemoteHost() = default;
    /// Runs a shell command (options: standard input, streamed standard
    /// output, timeouts). A non-zero exit is a result; a lost connection or
    /// an expired timeout is SshError.
    virtual ExecResult run(const std::string& command, const ExecOptions& options = {}) = 0;
    /// Starts command, runs meanwhile (which may use this host), then waits
    /// for the command at most as long as meanwhile returned and returns its
    /// result. If meanwhile throws, the command is ended.
    virtual ExecResult run_alongside(const std::string& command,
                                     const std::function<std::chrono::seconds()>& meanwhile) = 0;
    /// Reads a whole file into sink.
    virtual void download(const std::string& path, const std::function<void(std::string_view)>& sink) = 0;
    /// Writes local_path to remote_path under a temporary name, sets mode,
    /// then renames it into place.
    virtual void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) = 0;
};

/// An open SSH session as a RemoteHost (the session must outlive it).
class SshHost : public RemoteHost {
public:
    explicit SshHost(SshSession& session) : m_session(session) {}

    ExecResult run(const std::string& command, const ExecOptions& options = {}) override;
    ExecResult run_alongside(const std::string& command,
                             const std::function<std::chrono::seconds()>& meanwhile) override;
    void download(const std::string& path, const std::function<void(std::string_view)>& sink) override;
    void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) override;

private:
    SshSession& m_session;
};

} // namespace wp
