#pragma once
// SHA-256 over a stream of bytes (OpenSSL's libcrypto, already linked by libssh).

#include <memory>
#include <string>
#include <string_view>

namespace wp {

/// Incremental SHA-256; hex_digest() ends it.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view data);
    /// Lower-case hex of the digest (64 characters).
    std::string hex_digest();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

/// SHA-256 of a whole string, lower-case hex.
std::string sha256_hex(std::string_view data);

} // namespace wp
