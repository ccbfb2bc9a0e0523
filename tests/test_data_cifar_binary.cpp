#include <catch2/catch.hpp>

#include "data/cifar_binary.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

constexpr int64_t kImage = 3 * 32 * 32;

// Records of a CIFAR binary file: [coarse] label, 3072 pixels (R, G, B planes).
Bytes cifar_records(const std::vector<int>& labels, const Bytes& pixels, bool c100,
                    const std::vector<int>& coarse = {}) {
  Bytes b;
  for (size_t r = 0; r < labels.size(); ++r) {
    if (c100) b.push_back(static_cast<uint8_t>(coarse.empty() ? 19 : coarse[r]));
    b.push_back(static_cast<uint8_t>(labels[r]));
    b.insert(b.end(), pixels.begin() + r * kImage, pixels.begin() + (r + 1) * kImage);
  }
  return b;
}

}  // namespace

TEST_CASE("cifar binary: CIFAR-10 batches round-trip exactly") {
  TempDir dir;
  // Five train batches of 2, 1, 1, 1, 3 records and a test batch of 2.
  const std::vector<int> sizes = {2, 1, 1, 1, 3};
  Bytes all_pixels = random_bytes(8 * kImage, 21);
  std::vector<int64_t> all_labels;
  int64_t first = 0;
  for (int b = 0; b < 5; ++b) {
    std::vector<int> labels;
    for (int r = 0; r < sizes[b]; ++r) labels.push_back((first + r) % 10);
    Bytes px(all_pixels.begin() + first * kImage, all_pixels.begin() + (first + sizes[b]) * kImage);
    write_bytes(dir.file("data_batch_" + std::to_string(b + 1) + ".bin"),
                cifar_records(labels, px, false));
    for (int l : labels) all_labels.push_back(l);
    first += sizes[b];
  }
  Bytes test_px = random_bytes(2 * kImage, 22);
  write_bytes(dir.file("test_batch.bin"), cifar_records({9, 0}, test_px, false));

  Dataset train = load_cifar10_binary(dir.path(), "train");
  CHECK(train.name == "cifar10");
  CHECK(train.n == 8);
  CHECK(train.channels == 3);
  CHECK(train.height == 32);
  CHECK(train.width == 32);
  CHECK(train.classes == 10);
  CHECK(train.pixels == all_pixels);  // the records' planes are already (C, H, W)
  CHECK(train.labels == all_labels);

  Dataset test = load_cifar10_binary(dir.path(), "test");
  CHECK(test.n == 2);
  CHECK(test.pixels == test_px);
  CHECK(test.labels == std::vector<int64_t>{9, 0});
}

TEST_CASE("cifar binary: CIFAR-100 uses the fine label") {
  TempDir dir;
  Bytes px = random_bytes(3 * kImage, 23);
  write_bytes(dir.file("train.bin"), cifar_records({99, 0, 42}, px, true, {19, 0, 7}));
  write_bytes(dir.file("test.bin"),
              cifar_records({5}, Bytes(px.begin(), px.begin() + kImage), true));
  Dataset train = load_cifar100_binary(dir.path(), "train");
  CHECK(train.name == "cifar100");
  CHECK(train.classes == 100);
  CHECK(train.n == 3);
  CHECK(train.pixels == px);
  CHECK(train.labels == std::vector<int64_t>{99, 0, 42});
  Dataset test = load_cifar100_binary(dir.path(), "test");
  CHECK(test.n == 1);
  CHECK(test.labels == std::vector<int64_t>{5});
}

TEST_CASE("cifar binary: truncated and empty files are rejected, naming the file") {
  TempDir dir;
  Bytes px = random_bytes(2 * kImage, 24);
  const std::string f = dir.file("test_batch.bin");
  Bytes b = cifar_records({1, 2}, px, false);
  b.pop_back();
  write_bytes(f, b);
  CHECK_THROWS_WITH(load_cifar10_binary(dir.path(), "test"),
                    Catch::Contains(f) && Catch::Contains("truncated") &&
                        Catch::Contains("6145 bytes") && Catch::Contains("3073-byte"));
  write_bytes(f, {});
  CHECK_THROWS_WITH(load_cifar10_binary(dir.path(), "test"),
                    Catch::Contains(f) && Catch::Contains("empty"));
  // A CIFAR-10 file read as CIFAR-100: 2 x 3073 bytes is not a whole number of 3074-byte records.
  write_bytes(dir.file("test.bin"), cifar_records({1, 2}, px, false));
  CHECK_THROWS_WITH(load_cifar100_binary(dir.path(), "test"),
                    Catch::Contains(dir.file("test.bin")) && Catch::Contains("3074-byte"));
}

TEST_CASE("cifar binary: labels out of range are rejected") {
  TempDir dir;
  Bytes px = random_bytes(2 * kImage, 25);
  write_bytes(dir.file("test_batch.bin"), cifar_records({3, 10}, px, false));
  CHECK_THROWS_WITH(load_cifar10_binary(dir.path(), "test"),
                    Catch::Contains(dir.file("test_batch.bin")) &&
                        Catch::Contains("label 10 of record 1") && Catch::Contains("[0, 10)"));
  write_bytes(dir.file("test.bin"), cifar_records({3, 100}, px, true));
  CHECK_THROWS_WITH(
      load_cifar100_binary(dir.path(), "test"),
      Catch::Contains(dir.file("test.bin")) && Catch::Contains("label 100 of record 1"));
  write_bytes(dir.file("test.bin"), cifar_records({3, 4}, px, true, {20, 0}));
  CHECK_THROWS_WITH(
      load_cifar100_binary(dir.path(), "test"),
      Catch::Contains(dir.file("test.bin")) && Catch::Contains("coarse label 20 of record 0"));
}

TEST_CASE("cifar binary: a missing batch and a bad split are named") {
  TempDir dir;
  write_bytes(dir.file("data_batch_1.bin"), cifar_records({1}, random_bytes(kImage, 26), false));
  CHECK_THROWS_WITH(
      load_cifar10_binary(dir.path(), "train"),
      Catch::Contains(dir.file("data_batch_2.bin")) && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(load_cifar10_binary(dir.path(), "val"), Catch::Contains("unknown split 'val'"));
  CHECK_THROWS_WITH(load_cifar100_binary(dir.path(), "dev"),
                    Catch::Contains("unknown split 'dev'"));
}
