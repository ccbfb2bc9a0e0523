#include "data/image_decode.h"

#include <stb_image.h>

#include <climits>
#include <fstream>
#include <iterator>

namespace taper {

std::string read_file_bytes(const std::string& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot open";
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return path + ": read error";
  return "";
}

std::string peek_image(const std::string& bytes, const std::string& what, ImageHeader& header) {
  if (bytes.size() > size_t(INT_MAX))  // stb_image takes an int length
    return what + ": file of " + std::to_string(bytes.size()) + " bytes is too large";
  // stb_image parses a JPEG's tables while reading its header, so they are
  // checked before stb sees the file.
  std::string why = check_jpeg_huffman_tables(bytes);
  if (!why.empty()) return what + ": " + why;
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  if (stbi_info_from_memory(data, len, &header.width, &header.height, &header.channels) != 1)
    return what + ": not a readable image (" + stbi_failure_reason() + "); expected a PNG or JPEG";
  header.is_16_bit = stbi_is_16_bit_from_memory(data, len) == 1;
  return "";
}

// Walks the JPEG markers the way stb_image finds them: bytes that are not a
// marker are skipped up to the next 0xFF, 0xFF fill bytes are skipped, a
// segment with a length is stepped over, and after a start-of-scan the
// entropy-coded data runs to the next 0xFF that is not followed by 0x00
// (stuffing), a restart marker or another 0xFF. Every DHT (0xFFC4) segment
// met is read exactly as stb_image reads it (zeros past the end of the data)
// and each table's code count, the sum of its 16 counts, must be <= 256.
std::string check_jpeg_huffman_tables(const std::string& bytes) {
  const size_t n = bytes.size();
  auto at = [&](size_t i) -> unsigned { return i < n ? static_cast<uint8_t>(bytes[i]) : 0u; };
  if (n < 2 || at(0) != 0xFF || at(1) != 0xD8) return "";  // not a JPEG
  size_t pos = 2;
  while (pos < n) {
    while (pos < n && at(pos) != 0xFF) ++pos;  // stb skips to the next 0xFF
    while (pos < n && at(pos) == 0xFF) ++pos;  // fill bytes
    if (pos >= n) break;
    const unsigned marker = at(pos++);
    if (marker == 0xD9) break;                                        // end of image
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length
    const size_t length = (at(pos) << 8) | at(pos + 1);  // includes its own 2 bytes
    if (marker == 0xC4) {
      long left = static_cast<long>(length) - 2;
      size_t p = pos + 2;
      while (left > 0) {
        p += 1;  // table class and id
        unsigned codes = 0;
        for (int i = 0; i < 16; ++i) codes += at(p++);
        if (codes > 256)
          return "corrupt JPEG: a Huffman table defines " + std::to_string(codes) +
                 " codes, at most 256 are possible";
        p += codes;
        left -= 17 + static_cast<long>(codes);
      }
    }
    pos += length;
    if (marker == 0xDA) {  // entropy-coded data follows the scan header
      while (pos + 1 < n) {
        if (at(pos) == 0xFF) {
          const unsigned next = at(pos + 1);
          if (next != 0x00 && next != 0xFF && !(next >= 0xD0 && next <= 0xD7)) break;
        }
        ++pos;
      }
    }
  }
  return "";
}

std::string decode_image(const std::string& bytes, const std::string& what, int channels,
                         int64_t max_pixels, DecodedImage& out) {
  ImageHeader header;
  std::string why = peek_image(bytes, what, header);
  if (!why.empty()) return why;
  if (header.width < 1 || header.height < 1 || int64_t(header.width) * header.height > max_pixels)
    return what + ": image is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
           " pixels, above the limit of " + std::to_string(max_pixels) + " pixels (corrupt header?)";
  int w = 0, h = 0, comp = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                      static_cast<int>(bytes.size()), &w, &h, &comp, channels);
  if (!px) return what + ": image does not decode (" + stbi_failure_reason() + ")";
  out.pixels = std::unique_ptr<uint8_t, void (*)(void*)>(px, stbi_image_free);
  out.width = w;
  out.height = h;
  out.channels = channels;
  return "";
}

}  // namespace taper
