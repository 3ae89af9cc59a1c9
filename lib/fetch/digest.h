#pragma once
// A remote file's size and SHA-256 as the host itself computes them: the
// commands that ask for them (beside an SFTP download, or inside a zstd
// stream) and the parsing of their answers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "remote/ssh.h"

namespace wp {

/// Size and SHA-256 as the remote host computed them.
struct RemoteDigest {
    std::uint64_t size = 0;
    std::string sha256;
};

/// The shell command whose output parse_remote_digest reads: the size of
/// path, then its SHA-256 by `openssl dgst` when the host has it, else by
/// `sha256sum`.
std::string digest_command(std::string_view path);

/// Parses digest_command's output: `wc -c`, then a line that starts with the
/// SHA-256 in hexadecimal (`sha256sum`, `openssl dgst -r`); nullopt when
/// malformed.
std::optional<RemoteDigest> parse_remote_digest(std::string_view output);

/// The shell command that sends path compressed (`zstd -1 -c`) on stdout and
/// meanwhile computes its size and SHA-256 as digest_command does, reported
/// on stderr in `wp-digest:` lines; exits with zstd's status.
std::string zstd_stream_command(std::string_view path);

/// Takes zstd_stream_command's two `wp-digest:` lines out of result.err and
/// parses them; nullopt when they are missing, more, or malformed.
std::optional<RemoteDigest> take_stream_digest(ExecResult& result);

} // namespace wp
