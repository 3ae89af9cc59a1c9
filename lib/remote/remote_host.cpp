#include "remote/remote_host.h"

namespace wp {

ExecResult SshHost::run(const std::string& command, const ExecOptions& options) {
    return m_session.exec(command, options);
}

ExecResult SshHost::run_alongside(const std::string& command, const std::function<std::chrono::seconds()>& meanwhile) {
    return m_session.exec_alongside(command, meanwhile);
}

void SshHost::download(const std::string& path, const std::function<void(std::string_view)>& sink) {
    m_session.sftp_download(path, 0, sink);
}

void SshHost::upload(const std::string& local_path, const std::string& remote_path, mode_t mode) {
    m_session.sftp_upload(local_path, remote_path, mode);
}

} // namespace wp
