#pragma once
// Test support: a RemoteHost that is this machine. Commands run in /bin/sh
// on local files, downloads read a local file, uploads write one, so that
// the logic above RemoteHost is tested with the real shell commands it
// sends, without SSH. Failures of the "connection" are SshError, as over SSH.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/fd.h"
#include "remote/remote_host.h"
#include "remote/ssh.h"

/// A local shell behind RemoteHost, with what a test needs to watch it and
/// to break it.
class LocalHost : public wp::RemoteHost {
public:
    /// Runs command in `/bin/sh -c` in its own process group, with
    /// stdin_data on standard input (then EOF), standard output streamed to
    /// on_stdout or collected, standard error collected. On timeout or
    /// idle_timeout the group gets SIGTERM and SshError(answered) is thrown
    /// with SshSession's wording; if on_stdout throws, the group is killed
    /// and the exception passed on.
    wp::ExecResult run(const std::string& command, const wp::ExecOptions& options = {}) override {
        commands.push_back(command);
        Child child(path_preamble() + command);
        wp::ExecResult result;
        const auto started = std::chrono::steady_clock::now();
        auto last_data = started;
        std::string_view to_send = options.stdin_data;
        if (to_send.empty()) {
            child.in.reset();
        }
        while (child.out || child.err) {
            const auto now = std::chrono::steady_clock::now();
            if (options.timeout.count() > 0 && now >= started + options.timeout) {
                child.stop();
                throw wp::SshError(wp::FailureClass::answered, "",
                                   fmt::format("timed out after {} s", options.timeout.count()));
            }
            if (options.idle_timeout.count() > 0 && now >= last_data + options.idle_timeout) {
                child.stop();
                throw wp::SshError(wp::FailureClass::answered, "",
                                   fmt::format("timed out: no output for {} s", options.idle_timeout.count()));
            }
            std::vector<pollfd> fds;
            for (const wp::Fd* fd : {&child.out, &child.err}) {
                if (*fd) {
                    fds.push_back({fd->get(), POLLIN, 0});
                }
            }
            if (child.in) {
                fds.push_back({child.in.get(), POLLOUT, 0});
            }
            if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
                throw wp::SshError(wp::FailureClass::answered, "", fmt::format("poll: {}", std::strerror(errno)));
            }
            for (const pollfd& p : fds) {
                if (p.revents == 0) {
                    continue;
                }
                if (child.in && p.fd == child.in.get()) {
                    send_some(child.in, to_send);
                } else if (p.fd == child.out.get()) {
                    if (read_some(child.out, [&](std::string_view data) {
                            if (options.on_stdout) {
                                options.on_stdout(data);
                            } else {
                                result.out.append(data);
                            }
                        })) {
                        last_data = std::chrono::steady_clock::now();
                    }
                } else if (read_some(child.err, [&](std::string_view data) { result.err.append(data); })) {
                    last_data = std::chrono::steady_clock::now();
                }
            }
        }
        const int status = child.wait();
        if (WIFEXITED(status)) {
            result.exit_status = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            const char* name = ::sigabbrev_np(WTERMSIG(status));
            result.exit_signal = name != nullptr ? name : std::to_string(WTERMSIG(status));
        }
        return result;
    }

    /// Runs meanwhile first, then command with meanwhile's answer as its
    /// timeout: the command sees what meanwhile left (a checksum taken after
    /// the download sees a file changed during it).
    wp::ExecResult run_alongside(const std::string& command,
                                 const std::function<std::chrono::seconds()>& meanwhile) override {
        wp::ExecOptions options;
        options.timeout = meanwhile();
        return run(command, options);
    }

    /// Reads the file in 32 KiB pieces; fail_after_bytes and after_download
    /// apply.
    void download(const std::string& path, const std::function<void(std::string_view)>& sink) override {
        downloads.push_back(path);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw wp::SshError(wp::FailureClass::answered, "", fmt::format("open {}: {}", path, std::strerror(errno)));
        }
        std::vector<char> buf(32768);
        std::size_t sent = 0;
        while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
            if (fail_after_bytes && sent >= *fail_after_bytes) {
                throw wp::SshError(wp::FailureClass::answered, "", "read: Socket error: disconnected");
            }
            const auto n = static_cast<std::size_t>(in.gcount());
            sink(std::string_view(buf.data(), n));
            sent += n;
        }
        if (after_download) {
            after_download(path);
        }
    }

    /// Copies local_path to a temporary beside remote_path, sets mode, then
    /// renames it into place.
    void upload(const std::string& local_path, const std::string& remote_path, mode_t mode) override {
        uploads.emplace_back(local_path, remote_path);
        const std::string temp = remote_path + ".wp-upload.tmp";
        std::error_code ec;
        std::filesystem::copy_file(local_path, temp, std::filesystem::copy_options::overwrite_existing, ec);
        if (!ec && ::chmod(temp.c_str(), mode) != 0) {
            ec = std::error_code(errno, std::generic_category());
        }
        if (!ec && ::rename(temp.c_str(), remote_path.c_str()) != 0) {
            ec = std::error_code(errno, std::generic_category());
        }
        if (ec) {
            std::filesystem::remove(temp, ec);
            throw wp::SshError(wp::FailureClass::answered, "",
                               fmt::format("upload {} to {}: {}", local_path, remote_path, ec.message()));
        }
    }

    std::vector<std::string> commands;                        ///< every command run, in order
    std::vector<std::string> downloads;                       ///< every path downloaded
    std::vector<std::pair<std::string, std::string>> uploads; ///< (local, remote) of every upload
    std::string path_prefix;                                  ///< a directory put first in the commands' PATH
    std::string path_only;                                    ///< the commands' whole PATH
    std::optional<std::size_t> fail_after_bytes;              ///< a download breaks after this many bytes
    std::function<void(const std::string&)> after_download;   ///< runs after a whole download

private:
    // A shell and its three pipes; killed and reaped if left running.
    struct Child {
        explicit Child(const std::string& script) {
            int in_pair[2];
            int out_pipe[2];
            int err_pipe[2];
            // The command's stdin is a socket: send(MSG_NOSIGNAL) to a
            // command that stopped reading is EPIPE, not SIGPIPE.
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0 ||
                ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
                throw wp::SshError(wp::FailureClass::answered, "", fmt::format("pipe: {}", std::strerror(errno)));
            }
            wp::Fd child_in(in_pair[1]);
            wp::Fd child_out(out_pipe[1]);
            wp::Fd child_err(err_pipe[1]);
            in.reset(in_pair[0]);
            out.reset(out_pipe[0]);
            err.reset(err_pipe[0]);
            pid = ::fork();
            if (pid < 0) {
                throw wp::SshError(wp::FailureClass::answered, "", fmt::format("fork: {}", std::strerror(errno)));
            }
            if (pid == 0) {
                ::setpgid(0, 0);
                ::dup2(child_in.get(), 0);
                ::dup2(child_out.get(), 1);
                ::dup2(child_err.get(), 2);
                ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
                ::_exit(127);
            }
            ::setpgid(pid, pid); // also here: no race with a kill before the child's own call
        }
        ~Child() {
            if (pid > 0) {
                ::kill(-pid, SIGKILL);
                wait();
            }
        }
        Child(const Child&) = delete;
        Child& operator=(const Child&) = delete;

        // SIGTERM to the whole group as SshSession sends it, SIGKILL if it lingers.
        void stop() {
            ::kill(-pid, SIGTERM);
            for (int i = 0; i < 20; ++i) {
                int status = 0;
                if (::waitpid(pid, &status, WNOHANG) == pid) {
                    pid = 0;
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }

        int wait() {
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            pid = 0;
            return status;
        }

        pid_t pid = 0;
        wp::Fd in;
        wp::Fd out;
        wp::Fd err;
    };

    std::string path_preamble() const {
        if (!path_only.empty()) {
            return "PATH=" + wp::shell_quote(path_only) + "; export PATH\n";
        }
        if (!path_prefix.empty()) {
            return "PATH=" + wp::shell_quote(path_prefix) + ":\"$PATH\"; export PATH\n";
        }
        return "";
    }

    // Reads what is there into sink; at EOF (or an error) closes fd.
    // Returns whether data came.
    static bool read_some(wp::Fd& fd, const std::function<void(std::string_view)>& sink) {
        char buf[65536];
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            return false;
        }
        if (n <= 0) {
            fd.reset();
            return false;
        }
        sink(std::string_view(buf, static_cast<std::size_t>(n)));
        return true;
    }

    // Sends what the socket takes; closes it (EOF) when all is sent or the
    // command stopped reading.
    static void send_some(wp::Fd& fd, std::string_view& data) {
        const ssize_t n = ::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            return;
        }
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        if (n < 0 || data.empty()) {
            fd.reset();
        }
    }
};
