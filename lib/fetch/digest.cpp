#include "fetch/digest.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace wp {

namespace {

constexpr std::string_view k_digest_marker = "wp-digest:";
// The host's SHA-256 of standard input: OpenSSL's when it is there (with the
// processor's SHA instructions it hashes about five times as fast as
// coreutils, CPU a proxy serving traffic meanwhile keeps), else sha256sum.
// Both print the sum first on a line (`-r`: "<hex> *stdin").
constexpr std::string_view k_sha256_of_stdin =
    "if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi";

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

} // namespace

std::string digest_command(std::string_view path) {
    const std::string q = shell_quote(path);
    return fmt::format("wc -c < {q} && {{ {sha}; }} < {q}", fmt::arg("q", q), fmt::arg("sha", k_sha256_of_stdin));
}

std::optional<RemoteDigest> parse_remote_digest(std::string_view output) {
    const auto nl = output.find('\n');
    if (nl == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view size = output.substr(0, nl);
    std::string_view rest = output.substr(nl + 1);
    while (!size.empty() && (size.front() == ' ' || size.front() == '\t')) {
        size.remove_prefix(1);
    }
    while (!size.empty() && (size.back() == ' ' || size.back() == '\r')) {
        size.remove_suffix(1);
    }
    if (size.empty() || size.size() > 19 || !std::all_of(size.begin(), size.end(), is_digit)) {
        return std::nullopt;
    }
    if (rest.size() < 64 ||
        !std::all_of(rest.begin(), rest.begin() + 64, [](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); })) {
        return std::nullopt;
    }
    if (rest.size() > 64 && rest[64] != ' ' && rest[64] != '\n') {
        return std::nullopt;
    }
    return RemoteDigest{std::stoull(std::string(size)), std::string(rest.substr(0, 64))};
}

std::string zstd_stream_command(std::string_view path) {
    // The checksum in the background, read from the page cache while zstd
    // reads the same file; on stderr, where only errors go otherwise.
    // Level 1: about twice as fast as the default 3 on a Squid log, for a
    // few per cent of size (both near 5x); compressing is what limits a
    // fast link, and the proxy serves traffic meanwhile.
    return fmt::format("f={}\n"
                       "(s=$(wc -c < \"$f\") && h=$({{ {sha}; }} < \"$f\") && "
                       "printf '{m}%s\\n{m}%s\\n' \"$s\" \"$h\" >&2) &\n"
                       "zstd -1 -q -c -- \"$f\"\n"
                       "z=$?\n"
                       "wait $!\n"
                       "exit $z\n",
                       shell_quote(path), fmt::arg("m", k_digest_marker), fmt::arg("sha", k_sha256_of_stdin));
}

std::optional<RemoteDigest> take_stream_digest(ExecResult& result) {
    std::vector<std::string> values;
    std::string rest;
    std::string_view err = result.err;
    while (!err.empty()) {
        const auto nl = err.find('\n');
        const std::string_view line = err.substr(0, nl == std::string_view::npos ? err.size() : nl + 1);
        err.remove_prefix(line.size());
        if (line.substr(0, k_digest_marker.size()) == k_digest_marker) {
            values.emplace_back(line.substr(k_digest_marker.size()));
        } else {
            rest.append(line);
        }
    }
    result.err = std::move(rest);
    if (values.size() != 2) {
        return std::nullopt;
    }
    std::string digest = values[0];
    if (digest.empty() || digest.back() != '\n') {
        return std::nullopt;
    }
    return parse_remote_digest(digest + values[1]);
}

} // namespace wp
