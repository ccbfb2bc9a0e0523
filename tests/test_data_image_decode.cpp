// data/image_decode.h: the checks taper runs before stb_image decodes a file.
#include <catch2/catch.hpp>

#include <stb_image_write.h>

#include "data/image_decode.h"
#include "data_fixtures.h"

using namespace taper;
using namespace taper::testing;

namespace {

std::string jpeg_of(int w, int h, int comp, uint64_t seed) {
  const Bytes px = random_bytes(size_t(w) * h * comp, seed);
  std::string out;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
  };
  REQUIRE(stbi_write_jpg_to_func(sink, &out, w, h, comp, px.data(), 90) == 1);
  return out;
}

// SOI, then a DHT segment with one table whose 16 counts are `counts`
// (values zero), then whatever follows.
std::string dht_jpeg(const std::vector<int>& counts, const std::string& rest = "") {
  int n = 0;
  for (int c : counts) n += c;
  const int length = 2 + 17 + n;
  std::string s = "\xFF\xD8\xFF\xC4";
  s += static_cast<char>(length >> 8);
  s += static_cast<char>(length & 0xFF);
  s += '\x00';  // class 0 (DC), id 0
  for (int c : counts) s += static_cast<char>(c);
  s += std::string(n, '\0');
  return s + rest;
}

}  // namespace

TEST_CASE("image decode: a valid JPEG passes the Huffman table check and decodes") {
  const std::string jpg = jpeg_of(17, 9, 3, 3);
  CHECK(check_jpeg_huffman_tables(jpg).empty());
  DecodedImage img;
  REQUIRE(decode_image(jpg, "x.jpg", 3, 1 << 20, img).empty());
  CHECK(img.width == 17);
  CHECK(img.height == 9);
  CHECK(img.channels == 3);
}

TEST_CASE("image decode: a DHT table with more than 256 codes is refused before stb sees it") {
  // 16 counts of 17: 272 codes; stb_image 2.27 writes past its arrays.
  const std::vector<int> bad(16, 17);
  CHECK_THAT(check_jpeg_huffman_tables(dht_jpeg(bad)), Catch::Contains("defines 272 codes"));
  ImageHeader header;
  CHECK_THAT(peek_image(dht_jpeg(bad), "x.jpg", header),
             Catch::Contains("x.jpg") && Catch::Contains("Huffman table"));
  // Exactly 256 is allowed (16 counts of 16).
  CHECK(check_jpeg_huffman_tables(dht_jpeg(std::vector<int>(16, 16))).empty());
  // A bad table after a valid JPEG's scan data is found too.
  const std::string jpg = jpeg_of(8, 8, 1, 4);
  std::string tail = jpg.substr(0, jpg.size() - 2) + dht_jpeg(bad).substr(2) + "\xFF\xD9";
  CHECK_THAT(check_jpeg_huffman_tables(tail), Catch::Contains("272 codes"));
  // Not a JPEG: nothing to check.
  CHECK(check_jpeg_huffman_tables("\x89PNG....").empty());
}

TEST_CASE("image decode: the pixel limit is applied to the header before decoding") {
  const std::string jpg = jpeg_of(20, 10, 3, 5);
  DecodedImage img;
  CHECK_THAT(decode_image(jpg, "x.jpg", 3, 199, img),
             Catch::Contains("x.jpg") && Catch::Contains("20x10") && Catch::Contains("limit of 199"));
  CHECK(!img.pixels);
  CHECK(decode_image(jpg, "x.jpg", 3, 200, img).empty());
}
