#pragma once
// wp-provision bootstrap: first contact with a new VPS by password, to
// install our public key (the seed's "HOWTO: Speedy Server Setup").

#include <memory>
#include <string>

#include "cmd/options.h"
#include "cmd/provision.h"
#include "provision/provision_steps.h"
#include "remote/ssh.h"

namespace wp {

/// An SSH session authenticated by password (SshSettings::password).
/// The host key is checked as with accept-new: an unknown key is recorded in
/// known_hosts, a changed one refused. Failures are SshError.
class PasswordSession : public ProvisionHost {
public:
    PasswordSession(const SshTarget& target, const SshSettings& settings, const std::string& password);
    ~PasswordSession() override;
    PasswordSession(const PasswordSession&) = delete;
    PasswordSession& operator=(const PasswordSession&) = delete;

    ExecResult run(const std::string& command, std::string_view input = {}) override;
    /// Not needed for a first contact: Error(64).
    void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) override;
    /// "known" or "recorded in FILE", and the key's type and fingerprint.
    const std::string& host_key_note() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// The password: the first line of password_file, else asked on the
/// terminal without echo; Error(64) when there is neither.
std::string read_password(const std::string& password_file, const std::string& prompt);

/// Runs `wp-provision bootstrap [USER@]ADDRESS[:PORT]`; returns the exit status.
int run_bootstrap(const ProvisionRequest& request, const CommonOptions& options);

} // namespace wp
