// Limits before allocation: a file that declares absurd sizes is refused
// with a message before anything of that size is allocated
// (docs/reliability.md). Each case would otherwise ask for terabytes, so
// passing means the check ran first (an allocation that large throws
// std::bad_alloc, not taper::Error, or is killed).
#include <catch2/catch.hpp>

#include <cstring>

#include "data/cifar_png.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data_fixtures.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "models/model_spec.h"

using namespace taper;
using namespace taper::testing;

namespace {

// Writes a small valid PNG, then rewrites the width and height in its IHDR
// chunk (bytes 16..23, big-endian; stb_image does not check chunk CRCs), so
// the header claims a size the data cannot hold.
void write_png_claiming(const std::string& path, int comp, uint32_t claimed_w, uint32_t claimed_h) {
  write_png(path, 4, 4, comp, random_bytes(16 * comp, 5));
  Bytes b = read_bytes(path);
  REQUIRE(b.size() > 24);
  REQUIRE(std::memcmp(b.data() + 12, "IHDR", 4) == 0);
  for (int i = 0; i < 4; ++i) {
    b[16 + i] = static_cast<uint8_t>(claimed_w >> (24 - 8 * i));
    b[20 + i] = static_cast<uint8_t>(claimed_h >> (24 - 8 * i));
  }
  write_bytes(path, b);
}

std::string model(const std::string& input, const std::string& layers) {
  return R"({"name": "big", "input": )" + input + R"(, "classes": 2, "layers": [)" + layers +
         R"(, {"name": "g", "type": "globalavgpool"},
              {"name": "fc", "type": "linear", "out_features": "classes"}]})";
}

}  // namespace

TEST_CASE("limits: model JSON with absurd channel counts or sizes is refused") {
  // 10^12 channels: outside the key's range.
  CHECK_THROWS_WITH(
      parse_model_json(model("[3, 8, 8]", R"({"name": "c", "type": "conv", "out_channels": 1000000000000, "kernel": 3})"),
                       "big.json"),
      Catch::Contains("big.json: layer 'c'") && Catch::Contains("\"out_channels\" = 1000000000000 is out of range"));
  // Every key in range, but the weight tensor has 2^20 * 2^16 * 3 * 3 elements.
  CHECK_THROWS_WITH(
      parse_model_json(model("[65536, 8, 8]", R"({"name": "c", "type": "conv", "out_channels": 1048576, "kernel": 3, "padding": 1})"),
                       "big.json"),
      Catch::Contains("layer 'c'") && Catch::Contains("weight (1048576, 65536, 3, 3)") &&
          Catch::Contains("2^31"));
  // A per-sample activation of 2^16 * 2^16 * 2^16 elements.
  CHECK_THROWS_WITH(
      parse_model_json(model("[65536, 65536, 65536]", R"({"name": "r", "type": "relu"})"), "big.json"),
      Catch::Contains("layer 'r'") && Catch::Contains("output") && Catch::Contains("2^31"));
  // Kernel and padding products that overflow int64 if multiplied naively.
  CHECK_THROWS_WITH(
      parse_model_json(model("[1, 1, 1]", R"({"name": "c", "type": "conv", "out_channels": 1048576, "kernel": 1048576, "padding": 1048576})"),
                       "big.json"),
      Catch::Contains("layer 'c'") && Catch::Contains("2^31"));
  // Many layers each below the limit, too many weights in all.
  std::string layers;
  for (int i = 0; i < 9; ++i)
    layers += std::string(i ? ", " : "") + R"({"name": "c)" + std::to_string(i) +
              R"(", "type": "conv", "out_channels": 16384, "kernel": 1})";
  CHECK_THROWS_WITH(parse_model_json(model("[16384, 1, 1]", layers), "big.json"),
                    Catch::Contains("weights exceed 2^31 elements in all"));
}

TEST_CASE("limits: a safetensors header declaring a 2^62-byte tensor or offsets past the file") {
  TempDir dir;
  auto file = [&](const std::string& header) {
    std::string text = header;
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string bytes(8, '\0');
    const uint64_t n = text.size();
    std::memcpy(&bytes[0], &n, 8);
    bytes += text + std::string(8, '\0');  // 8 data bytes
    write_bytes(dir.file("t.safetensors"), Bytes(bytes.begin(), bytes.end()));
    return dir.file("t.safetensors");
  };
  // 2^60 F32 elements = 2^62 bytes, consistent offsets, 8 bytes of data.
  CHECK_THROWS_WITH(
      load_safetensors(file(R"({"w":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4611686018427387904]}})")),
      Catch::Contains("tensor 'w'") && Catch::Contains("past the end of the data buffer (8 bytes)"));
  // Offsets beyond the file for a small tensor.
  CHECK_THROWS_WITH(
      load_safetensors(file(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[1099511627776,1099511627784]}})")),
      Catch::Contains("past the end of the data buffer"));
  // A shape whose byte size overflows 64 bits.
  CHECK_THROWS_WITH(
      load_safetensors(file(R"({"w":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}})")),
      Catch::Contains("is too large"));
}

TEST_CASE("limits: an idx header claiming more images than the file holds") {
  TempDir dir;
  write_bytes(dir.file("lbl"), idx_labels(2, {1, 2}));
  // 2^31 - 1 images of 65535 x 65535: 2^63 bytes claimed, 10 present.
  const Bytes huge = idx_images(0x7fffffffu, 65535, 65535, random_bytes(10, 3));
  write_bytes(dir.file("img"), huge);
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl"), "x"),
                    Catch::Contains(dir.file("img")) && Catch::Contains("truncated") &&
                        Catch::Contains("the file holds 10"));
  write_gz(dir.file("img.gz"), huge);
  CHECK_THROWS_WITH(load_idx(dir.file("img.gz"), dir.file("lbl"), "x"),
                    Catch::Contains(dir.file("img.gz")) && Catch::Contains("more than a gzip file of"));
  // Labels: a label header for more labels than bytes.
  write_bytes(dir.file("img2"), idx_images(1000, 1, 1, random_bytes(1000, 4)));
  write_bytes(dir.file("lbl2"), idx_labels(1000, {1, 2}));
  CHECK_THROWS_WITH(load_idx(dir.file("img2"), dir.file("lbl2"), "x"),
                    Catch::Contains(dir.file("lbl2")) && Catch::Contains("the file holds 2"));
}

TEST_CASE("limits: PNG dimensions are checked before decoding") {
  TempDir dir;
  write_text(dir.file("l.json"), "[0]");
  // A CIFAR batch claiming 100000 rows of 1024 pixels (300 MB; stb_image's
  // own header check stops at 2^30 bytes) in a file of about 100 bytes.
  write_png_claiming(dir.file("b.png"), 3, 1024, 100000);
  CHECK_THROWS_WITH(load_cifar_png_files({dir.file("b.png")}, dir.file("l.json")),
                    Catch::Contains(dir.file("b.png")) && Catch::Contains("claims 100000 rows"));
  // An image folder image claiming 10000 x 10000 pixels (100 megapixels).
  write_png_claiming(dir.file("f/a/0.png"), 3, 10000, 10000);
  CHECK_THROWS_WITH(load_image_folder(dir.file("f"), 8),
                    Catch::Contains(dir.file("f/a/0.png")) && Catch::Contains("10000x10000") &&
                        Catch::Contains("above the limit of 67108864 pixels"));
}
