#include "fetch/zstd_stream.h"

#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "base/error.h"

namespace wp {

struct ZstdStream::Decoder {
    explicit Decoder(std::function<void(std::string_view)> to)
        : ctx(ZSTD_createDCtx()), out(ZSTD_DStreamOutSize()), sink(std::move(to)) {
        if (ctx == nullptr) {
            throw Error(exit_code::k_io, "cannot create a zstd decompressor: out of memory");
        }
    }
    ~Decoder() { ZSTD_freeDCtx(ctx); }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // One call of the decompressor; returns the bytes it handed over.
    std::size_t step(ZSTD_inBuffer& in) {
        ZSTD_outBuffer buffer{out.data(), out.size(), 0};
        const std::size_t ret = ZSTD_decompressStream(ctx, &buffer, &in);
        if (ZSTD_isError(ret) != 0) {
            fail(exit_code::k_data, "corrupt zstd stream: {}", ZSTD_getErrorName(ret));
        }
        last = ret;
        if (buffer.pos > 0) {
            sink(std::string_view(out.data(), buffer.pos));
        }
        return buffer.pos;
    }

    ZSTD_DCtx* ctx;
    std::vector<char> out;
    std::function<void(std::string_view)> sink;
    std::size_t last = 0; ///< the decompressor's last hint: 0 at the end of a frame
    bool any = false;
};

ZstdStream::ZstdStream(std::function<void(std::string_view)> sink)
    : m_decoder(std::make_unique<Decoder>(std::move(sink))) {}

ZstdStream::~ZstdStream() = default;

void ZstdStream::feed(std::string_view data) {
    m_decoder->any = m_decoder->any || !data.empty();
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
        m_decoder->step(in);
    }
}

void ZstdStream::finish() {
    ZSTD_inBuffer in{nullptr, 0, 0};
    // Output that did not fit the last buffer is still inside.
    for (int i = 0; m_decoder->last != 0 && i < 1000; ++i) {
        if (m_decoder->step(in) == 0) {
            break;
        }
    }
    if (m_decoder->any && m_decoder->last != 0) {
        fail(exit_code::k_data, "the zstd stream ends in the middle of a frame");
    }
}

} // namespace wp
