#include "remote/password_session.h"

#include "base/error.h"

namespace wp {

struct PasswordSession::Impl {
    Impl(const SshTarget& target, const SshSettings& settings)
        : session(target, settings), io_timeout(settings.io_timeout) {}
    SshSession session;
    std::chrono::seconds io_timeout;
};

PasswordSession::PasswordSession(const SshTarget& target, const SshSettings& settings, const std::string& password) {
    SshSettings by_password = settings;
    by_password.password = password;
    by_password.accept_new = true; // a first contact: the key is recorded, a changed one refused
    m_impl = std::make_unique<Impl>(target, by_password);
}

PasswordSession::~PasswordSession() = default;

const std::string& PasswordSession::host_key_note() const {
    return m_impl->session.host_key_note();
}

ExecResult PasswordSession::run(const std::string& command, const ExecOptions& options) {
    ExecOptions bounded = options;
    if (bounded.timeout.count() == 0) {
        bounded.timeout = m_impl->io_timeout;
    }
    return m_impl->session.exec(command, bounded);
}

ExecResult PasswordSession::run_alongside(const std::string& command,
                                          const std::function<std::chrono::seconds()>& meanwhile) {
    return m_impl->session.exec_alongside(command, meanwhile);
}

void PasswordSession::download(const std::string& path, const std::function<void(std::string_view)>& /*sink*/) {
    fail(exit_code::k_usage, "a first contact by password does not download files ({})", path);
}

void PasswordSession::upload(const std::string& /*local_path*/, const std::string& remote_path, mode_t /*mode*/) {
    fail(exit_code::k_usage, "a first contact by password does not upload files ({})", remote_path);
}

} // namespace wp
