#pragma once
// A first contact with a host by password, as a RemoteHost: what
// wp-provision bootstrap needs to install our key before any key works.

#include <memory>
#include <string>

#include "remote/remote_host.h"
#include "remote/ssh.h"

namespace wp {

/// An SSH session authenticated by password (SshSettings::password).
/// The host key is checked as with accept-new: an unknown key is recorded in
/// known_hosts, a changed one refused. Failures are SshError.
class PasswordSession : public RemoteHost {
public:
    PasswordSession(const SshTarget& target, const SshSettings& settings, const std::string& password);
    ~PasswordSession() override;
    PasswordSession(const PasswordSession&) = delete;
    PasswordSession& operator=(const PasswordSession&) = delete;

    /// As RemoteHost::run; a command given no timeout gets the settings'
    /// io_timeout, so that a host gone silent cannot hold a first contact.
    ExecResult run(const std::string& command, const ExecOptions& options = {}) override;
    ExecResult run_alongside(const std::string& command,
                             const std::function<std::chrono::seconds()>& meanwhile) override;
    /// Not needed for a first contact: Error(64).
    void download(const std::string& path, const std::function<void(std::string_view)>& sink) override;
    /// Not needed for a first contact: Error(64).
    void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) override;
    /// "known" or "recorded in FILE", and the key's type and fingerprint.
    const std::string& host_key_note() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace wp
