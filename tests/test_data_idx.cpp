#include <catch2/catch.hpp>

#include "data/idx.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

// 3 images of 4x5, labels 7, 0, 9.
struct TinyIdx {
  uint32_t n = 3, rows = 4, cols = 5;
  Bytes pixels = random_bytes(3 * 4 * 5, 11);
  Bytes labels = {7, 0, 9};
  Bytes images_file() const { return idx_images(n, rows, cols, pixels); }
  Bytes labels_file() const { return idx_labels(n, labels); }
};

void check_round_trip(const Dataset& d, const TinyIdx& t) {
  CHECK(d.name == "tiny");
  CHECK(d.n == 3);
  CHECK(d.channels == 1);
  CHECK(d.height == 4);
  CHECK(d.width == 5);
  CHECK(d.classes == 10);
  CHECK(d.pixels == t.pixels);
  CHECK(d.labels == std::vector<int64_t>{7, 0, 9});
}

}  // namespace

TEST_CASE("idx: plain files round-trip exactly") {
  TempDir dir;
  TinyIdx t;
  write_bytes(dir.file("img"), t.images_file());
  write_bytes(dir.file("lbl"), t.labels_file());
  check_round_trip(load_idx(dir.file("img"), dir.file("lbl"), "tiny"), t);
}

TEST_CASE("idx: gzip'd files round-trip exactly") {
  TempDir dir;
  TinyIdx t;
  write_gz(dir.file("img.gz"), t.images_file());
  write_gz(dir.file("lbl.gz"), t.labels_file());
  check_round_trip(load_idx(dir.file("img.gz"), dir.file("lbl.gz"), "tiny"), t);
  // One gzip'd, one plain.
  write_bytes(dir.file("lbl"), t.labels_file());
  check_round_trip(load_idx(dir.file("img.gz"), dir.file("lbl"), "tiny"), t);
}

TEST_CASE("idx: an empty set (n = 0) loads") {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(0, 28, 28, {}));
  write_bytes(dir.file("lbl"), idx_labels(0, {}));
  Dataset d = load_idx(dir.file("img"), dir.file("lbl"), "empty");
  CHECK(d.n == 0);
  CHECK(d.height == 28);
  CHECK(d.pixels.empty());
}

TEST_CASE("idx: truncated files are rejected, naming the file") {
  TempDir dir;
  TinyIdx t;
  write_bytes(dir.file("lbl"), t.labels_file());
  const std::string img = dir.file("img");

  SECTION("pixels cut short") {
    Bytes b = t.images_file();
    b.resize(b.size() - 1);
    write_bytes(img, b);
    CHECK_THROWS_WITH(load_idx(img, dir.file("lbl"), "tiny"),
                      Catch::Contains(img) && Catch::Contains("truncated") &&
                          Catch::Contains("60 bytes of pixels"));
  }
  SECTION("header cut short") {
    Bytes b = t.images_file();
    b.resize(10);
    write_bytes(img, b);
    CHECK_THROWS_WITH(load_idx(img, dir.file("lbl"), "tiny"), Catch::Contains(img) &&
                                                                  Catch::Contains("truncated") &&
                                                                  Catch::Contains("header"));
  }
  SECTION("gzip stream cut short") {
    write_gz(img + ".gz", t.images_file());
    Bytes gz = read_bytes(img + ".gz");
    gz.resize(gz.size() - 12);  // drop the gzip trailer and some deflate data
    write_bytes(img + ".gz", gz);
    CHECK_THROWS_WITH(load_idx(img + ".gz", dir.file("lbl"), "tiny"),
                      Catch::Contains(img + ".gz") && Catch::Contains("truncated"));
  }
  SECTION("labels cut short") {
    write_bytes(img, t.images_file());
    Bytes b = t.labels_file();
    b.pop_back();
    write_bytes(dir.file("lbl"), b);
    CHECK_THROWS_WITH(load_idx(img, dir.file("lbl"), "tiny"),
                      Catch::Contains(dir.file("lbl")) && Catch::Contains("truncated"));
  }
}

TEST_CASE("idx: a file longer than its header says is rejected") {
  TempDir dir;
  TinyIdx t;
  Bytes b = t.images_file();
  b.push_back(0);
  write_bytes(dir.file("img"), b);
  write_bytes(dir.file("lbl"), t.labels_file());
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl"), "tiny"),
                    Catch::Contains(dir.file("img")) && Catch::Contains("longer"));
}

TEST_CASE("idx: wrong magic numbers are rejected") {
  TempDir dir;
  TinyIdx t;
  // Image and label files swapped: each has the other's magic.
  write_bytes(dir.file("img"), t.images_file());
  write_bytes(dir.file("lbl"), t.labels_file());
  CHECK_THROWS_WITH(load_idx(dir.file("lbl"), dir.file("img"), "tiny"),
                    Catch::Contains(dir.file("lbl")) && Catch::Contains("wrong magic 0x00000801") &&
                        Catch::Contains("expected 0x00000803"));
  write_bytes(dir.file("lbl2"), idx_labels(3, t.labels, 0x00000803));
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl2"), "tiny"),
                    Catch::Contains(dir.file("lbl2")) && Catch::Contains("wrong magic"));
  // A float idx file (type 0x0d) is not unsigned bytes.
  write_bytes(dir.file("float"), idx_images(3, 4, 5, t.pixels, 0x00000d03));
  CHECK_THROWS_WITH(
      load_idx(dir.file("float"), dir.file("lbl"), "tiny"),
      Catch::Contains(dir.file("float")) && Catch::Contains("wrong magic 0x00000d03"));
}

TEST_CASE("idx: label and image counts must match") {
  TempDir dir;
  TinyIdx t;
  write_bytes(dir.file("img"), t.images_file());
  write_bytes(dir.file("lbl"), idx_labels(2, {7, 0}));
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl"), "tiny"),
                    Catch::Contains(dir.file("lbl")) && Catch::Contains("2 labels") &&
                        Catch::Contains("3 images"));
  // A header count larger than the pixels present is a truncated file.
  write_bytes(dir.file("img4"), idx_images(4, 4, 5, t.pixels));
  CHECK_THROWS_WITH(load_idx(dir.file("img4"), dir.file("lbl"), "tiny"),
                    Catch::Contains(dir.file("img4")) && Catch::Contains("truncated"));
}

TEST_CASE("idx: labels outside [0, classes) are rejected") {
  TempDir dir;
  TinyIdx t;
  write_bytes(dir.file("img"), t.images_file());
  write_bytes(dir.file("lbl"), idx_labels(3, {7, 10, 9}));
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl"), "tiny"),
                    Catch::Contains(dir.file("lbl")) && Catch::Contains("label 10 of item 1") &&
                        Catch::Contains("[0, 10)"));
  // With 5 classes, label 7 is out of range too.
  write_bytes(dir.file("lbl"), t.labels_file());
  CHECK_THROWS_WITH(load_idx(dir.file("img"), dir.file("lbl"), "tiny", 5),
                    Catch::Contains("label 7 of item 0"));
}

TEST_CASE("idx: a missing file is named") {
  TempDir dir;
  CHECK_THROWS_WITH(load_idx(dir.file("nope"), dir.file("lbl"), "tiny"),
                    Catch::Contains(dir.file("nope")) && Catch::Contains("cannot open"));
}
