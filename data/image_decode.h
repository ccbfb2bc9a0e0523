// The one place taper calls stb_image: PNG and JPEG files decoded from
// memory, with the checks that make it safe on files from anywhere.
//
// Before anything is decoded (docs/reliability.md):
//   - the header is read (stbi_info_from_memory) and the size refused when
//     width * height exceeds the caller's limit, so a hostile header never
//     makes the decoder allocate gigabytes;
//   - a JPEG's Huffman table definitions are checked: stb_image 2.27 (the
//     Debian version) writes past its 257-entry code-length array for a DHT
//     segment whose 16 counts sum to more than 256 (found by fuzzing
//     tests/fuzz/fuzz_image_folder.cpp; fixed upstream in 2.28 with the same
//     check).
// Only PNG and JPEG decoders are compiled in (data/stb_impl.cpp).
//
// Nothing here throws: failures come back as a message, which the loaders,
// decoding many files in parallel, keep per file and report in file order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace taper {

struct ImageHeader {
  int width = 0, height = 0;
  int channels = 0;      // in the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
  bool is_16_bit = false;
};

// Decoded pixels, (height, width, channels) interleaved, 8 bits each.
struct DecodedImage {
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> pixels{nullptr, [](void*) {}};
};

// Reads a whole file; "" or the reason it failed.
std::string read_file_bytes(const std::string& path, std::string& bytes);

// The header of a PNG or JPEG in memory, after the JPEG table check; "" or
// the reason (names `what`).
std::string peek_image(const std::string& bytes, const std::string& what, ImageHeader& header);

// Decodes to `channels` (1..4) 8-bit samples per pixel, after peek_image
// and the size limit (width * height <= max_pixels).
// "" or the reason (names `what`).
std::string decode_image(const std::string& bytes, const std::string& what, int channels,
                         int64_t max_pixels, DecodedImage& out);

// The JPEG Huffman table check alone: "" when every DHT segment stb_image
// would parse defines tables of at most 256 codes (also "" for non-JPEG data).
std::string check_jpeg_huffman_tables(const std::string& bytes);

}  // namespace taper
