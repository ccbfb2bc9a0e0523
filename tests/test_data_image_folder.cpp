#include <catch2/catch.hpp>

#include "data/image_folder.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

TEST_CASE("resize_center_crop: a square image of the target size is copied to planar") {
  // (H, W, C) = (2, 2, 3) interleaved.
  Bytes src = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  Bytes dst(12);
  resize_center_crop(src.data(), 2, 2, 3, 2, dst.data());
  CHECK(dst == Bytes{1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12});  // (C, H, W)
}

TEST_CASE("resize_center_crop: a wide image keeps its height and is cropped in the middle") {
  // (2, 6, 1): shorter side already 2, so no resampling; the centre 2 columns are 2 and 3.
  Bytes src = {10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25};
  Bytes dst(4);
  resize_center_crop(src.data(), 2, 6, 1, 2, dst.data());
  CHECK(dst == Bytes{12, 13, 22, 23});
  // Tall (5, 2, 1): rows 1 and 2 ((5 - 2) / 2 = 1 row cut at the top).
  Bytes tall = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  resize_center_crop(tall.data(), 5, 2, 1, 2, dst.data());
  CHECK(dst == Bytes{3, 4, 5, 6});
}

TEST_CASE("resize_center_crop: bilinear upscaling with aligned pixel centres") {
  // (1, 2, 1) = [0, 100] to height 4: the width becomes 2 * 4 / 1 = 8, crop columns 2..5.
  // Output column X of the resized row samples source x = (X + 0.5) / 4 - 0.5:
  //   X = 2 -> 0.125 -> 12.5, X = 3 -> 0.375 -> 37.5, X = 4 -> 0.625 -> 62.5, X = 5 -> 87.5
  // rounded half up: 13, 38, 63, 88. Every row is the same (one source row).
  Bytes src = {0, 100};
  Bytes dst(16);
  resize_center_crop(src.data(), 1, 2, 1, 4, dst.data());
  for (int y = 0; y < 4; ++y) {
    INFO("row " << y);
    CHECK(dst[y * 4 + 0] == 13);
    CHECK(dst[y * 4 + 1] == 38);
    CHECK(dst[y * 4 + 2] == 63);
    CHECK(dst[y * 4 + 3] == 88);
  }
  // (2, 2, 1) = [[0, 100], [200, 40]] to 4 x 4: coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25
  // (clamped to 1).
  Bytes sq = {0, 100, 200, 40};
  resize_center_crop(sq.data(), 2, 2, 1, 4, dst.data());
  CHECK(dst[0] == 0);  // corner copies the corner
  CHECK(dst[3] == 100);
  CHECK(dst[15] == 40);
  CHECK(dst[1] == 25);  // row 0, x = 0.25: 0 + 0.25 * 100
  CHECK(dst[4] == 50);  // y = 0.25, x = 0: 0 + 0.25 * 200
  // y = 0.25, x = 0.25: top 25, bottom 200 + 0.25 * (40 - 200) = 160, 25 + 0.25 * 135 = 58.75 -> 59
  CHECK(dst[5] == 59);
}

TEST_CASE("resize_center_crop: downscaling by 2 averages pixel pairs") {
  // (4, 4, 1) to 2 x 2: source coordinates (X + 0.5) * 2 - 0.5 = 0.5 and 2.5.
  Bytes src(16);
  for (int i = 0; i < 16; ++i) src[i] = static_cast<uint8_t>(i * 10);
  Bytes dst(4);
  resize_center_crop(src.data(), 4, 4, 1, 2, dst.data());
  // Output (0, 0) = mean of rows 0-1, cols 0-1 = (0 + 10 + 40 + 50) / 4 = 25.
  CHECK(dst == Bytes{25, 45, 105, 125});
}

TEST_CASE("image folder: classes sorted by name, images in name order, pixels exact") {
  TempDir dir;
  const std::string root = dir.file("train");
  // 4x4 RGB PNGs loaded at size 4 are copied exactly (no resampling).
  Bytes a1 = random_bytes(4 * 4 * 3, 50), a2 = random_bytes(4 * 4 * 3, 51),
        b1 = random_bytes(4 * 4 * 3, 52);
  write_png(root + "/zebra/x.png", 4, 4, 3, a1);
  write_png(root + "/zebra/a.PNG", 4, 4, 3, a2);
  write_png(root + "/ant/only.png", 4, 4, 3, b1);
  write_text(root + "/ant/notes.txt", "not an image: ignored");
  // A grey PNG becomes three equal planes.
  Bytes grey = random_bytes(4 * 4, 53);
  write_png(root + "/moth/g.png", 4, 4, 1, grey);
  // A JPEG (lossy, so only its presence and size are checked).
  REQUIRE(stbi_write_jpg((root + "/moth/h.jpg").c_str(), 8, 6, 3,
                         random_bytes(8 * 6 * 3, 54).data(), 90));

  CHECK(list_classes(root) == std::vector<std::string>{"ant", "moth", "zebra"});
  Dataset d = load_image_folder(root, 4);
  CHECK(d.name == "folder:" + root);
  CHECK(d.n == 5);
  CHECK(d.channels == 3);
  CHECK(d.height == 4);
  CHECK(d.width == 4);
  CHECK(d.classes == 3);
  CHECK(d.labels ==
        std::vector<int64_t>{0, 1, 1, 2, 2});  // ant/only, moth/g, moth/h, zebra/a, zebra/x

  auto planar = [](const Bytes& hwc) {
    Bytes chw(hwc.size());
    for (int p = 0; p < 16; ++p)
      for (int c = 0; c < 3; ++c) chw[c * 16 + p] = hwc[p * 3 + c];
    return chw;
  };
  auto image = [&](int64_t i) { return Bytes(d.image(i), d.image(i) + d.sample_size()); };
  CHECK(image(0) == planar(b1));
  CHECK(image(3) == planar(a2));  // "a.PNG" sorts before "x.png"
  CHECK(image(4) == planar(a1));
  Bytes g3 = image(1);
  for (int p = 0; p < 16; ++p) {
    CHECK(g3[p] == grey[p]);
    CHECK(g3[16 + p] == grey[p]);
    CHECK(g3[32 + p] == grey[p]);
  }
}

TEST_CASE("image folder: images of other sizes are resized and centre-cropped") {
  TempDir dir;
  Bytes px = random_bytes(6 * 10 * 3, 55);  // (6, 10, 3)
  write_png(dir.file("r/c/a.png"), 10, 6, 3, px);
  Dataset d = load_image_folder(dir.file("r"), 3);
  Bytes expect(27);
  resize_center_crop(px.data(), 6, 10, 3, 3, expect.data());
  CHECK(Bytes(d.pixels.begin(), d.pixels.end()) == expect);
}

TEST_CASE("image folder: errors name the folder or file") {
  TempDir dir;
  const std::string root = dir.file("r");
  SECTION("missing root") {
    CHECK_THROWS_WITH(load_image_folder(root, 4),
                      Catch::Contains(root) && Catch::Contains("not a directory"));
  }
  SECTION("no class folders") {
    write_text(root + "/stray.png", "x");
    CHECK_THROWS_WITH(load_image_folder(root, 4),
                      Catch::Contains(root) && Catch::Contains("no class folders"));
  }
  SECTION("empty class folder") {
    write_png(root + "/a/1.png", 4, 4, 3, random_bytes(48, 56));
    write_text(root + "/b/readme.txt", "no images here");
    CHECK_THROWS_WITH(
        load_image_folder(root, 4),
        Catch::Contains(root + "/b") && Catch::Contains("holds no .jpg, .jpeg or .png image"));
  }
  SECTION("undecodable image") {
    write_png(root + "/a/1.png", 4, 4, 3, random_bytes(48, 57));
    write_text(root + "/a/2.jpg", "this is not a JPEG");
    CHECK_THROWS_WITH(load_image_folder(root, 4),
                      Catch::Contains(root + "/a/2.jpg") && Catch::Contains("not a readable image"));
  }
  SECTION("bad size") {
    write_png(root + "/a/1.png", 4, 4, 3, random_bytes(48, 58));
    CHECK_THROWS_WITH(load_image_folder(root, 0),
                      Catch::Contains(root) && Catch::Contains("image size 0"));
  }
}
