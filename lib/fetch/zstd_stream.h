#pragma once
// Streaming decompression of what `zstd -c` sends, as it arrives.

#include <functional>
#include <memory>
#include <string_view>

namespace wp {

/// Decompresses a zstd stream fed piece by piece, handing the bytes to a
/// sink in order. Corrupt input is Error(65).
class ZstdStream {
public:
    /// Error(74) when no decompressor can be had.
    explicit ZstdStream(std::function<void(std::string_view)> sink);
    ~ZstdStream();
    ZstdStream(const ZstdStream&) = delete;
    ZstdStream& operator=(const ZstdStream&) = delete;

    /// Decompresses data (any piece of the stream) into the sink.
    void feed(std::string_view data);
    /// Hands over what is still inside; Error(65) when the stream ended in
    /// the middle of a frame. An empty stream is no error.
    void finish();

private:
    struct Decoder;
    std::unique_ptr<Decoder> m_decoder;
};

} // namespace wp
