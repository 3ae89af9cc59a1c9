#include "base/sha256.h"

#include <openssl/evp.h>

#include <fmt/format.h>

#include "base/error.h"

namespace wp {

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {
    m_impl->ctx = EVP_MD_CTX_new();
    if (m_impl->ctx == nullptr || EVP_DigestInit_ex(m_impl->ctx, EVP_sha256(), nullptr) != 1) {
        throw Error(exit_code::k_io, "cannot initialise SHA-256");
    }
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(m_impl->ctx);
}

void Sha256::update(std::string_view data) {
    EVP_DigestUpdate(m_impl->ctx, data.data(), data.size());
}

std::string Sha256::hex_digest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_impl->ctx, digest, &len);
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        fmt::format_to(std::back_inserter(out), "{:02x}", digest[i]);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex_digest();
}

} // namespace wp
