#include <catch2/catch.hpp>
#include <set>

#include "data/transforms.h"
#include "data_fixtures.h"
#include "engine/error.h"

using namespace taper;
using namespace taper::testing;

namespace {

// float(p / 255) as the pixel table computes it.
float unit(int p) { return static_cast<float>(p / 255.0); }

// Normalized values are computed in double and stored as float.
constexpr double kNormTolerance = 1e-6;

}  // namespace

TEST_CASE("channel_stats: per-channel mean and population std in [0, 1] units") {
  // 2 images, 2 channels, 1x2 pixels. Channel 0 holds {0, 255, 0, 255}: mean 0.5, std 0.5.
  // Channel 1 holds {51, 51, 51, 51}: mean 0.2, std 0.
  Dataset d;
  d.name = "stats";
  d.n = 2;
  d.channels = 2;
  d.height = 1;
  d.width = 2;
  d.classes = 1;
  d.pixels = {0, 255, 51, 51, 255, 0, 51, 51};
  d.labels = {0, 0};
  ChannelStats s = channel_stats(d);
  REQUIRE(s.mean.size() == 2);
  CHECK(s.mean[0] == Approx(0.5).margin(1e-12));
  CHECK(s.std[0] == Approx(0.5).margin(1e-12));
  CHECK(s.mean[1] == Approx(0.2).margin(1e-12));
  CHECK(s.std[1] == Approx(0.0).margin(1e-7));
}

TEST_CASE("channel_stats matches a direct two-pass computation") {
  Dataset d = random_dataset(7, 3, 5, 4, 2, 60);
  ChannelStats s = channel_stats(d);
  const int64_t HW = 20;
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < d.n; ++i)
      for (int64_t k = 0; k < HW; ++k) sum += d.image(i)[c * HW + k] / 255.0;
    const double mean = sum / (d.n * HW);
    double var = 0;
    for (int64_t i = 0; i < d.n; ++i)
      for (int64_t k = 0; k < HW; ++k) var += std::pow(d.image(i)[c * HW + k] / 255.0 - mean, 2);
    var /= d.n * HW;
    CHECK(s.mean[c] == Approx(mean).epsilon(1e-12));
    CHECK(s.std[c] == Approx(std::sqrt(var)).epsilon(1e-10));
  }
}

TEST_CASE("write_sample without augmentation: pixels / 255, then normalization") {
  Dataset d = random_dataset(2, 3, 4, 5, 2, 61);
  const int64_t S = d.sample_size();
  std::vector<float> out(S);
  Transform plain;
  write_sample(d, 1, SampleAugment{}, pixel_table(plain, 3).data(), out.data());
  for (int64_t k = 0; k < S; ++k) CHECK(out[k] == unit(d.image(1)[k]));

  Transform norm;
  norm.mean = {0.1, 0.5, 0.9};
  norm.std = {0.2, 0.25, 2.0};
  check_transform(norm, d);
  write_sample(d, 1, SampleAugment{}, pixel_table(norm, 3).data(), out.data());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t k = 0; k < 20; ++k) {
      double expect = (d.image(1)[c * 20 + k] / 255.0 - norm.mean[c]) / norm.std[c];
      CHECK(out[c * 20 + k] == Approx(expect).margin(kNormTolerance));
    }
}

TEST_CASE("write_sample: crop offsets shift the image, zero padding outside") {
  // One 1-channel 4x4 image with pixel (y, x) = 10 * (y + 1) + x.
  Dataset d;
  d.name = "grid";
  d.n = 1;
  d.channels = 1;
  d.height = 4;
  d.width = 4;
  d.classes = 1;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) d.pixels.push_back(static_cast<uint8_t>(10 * (y + 1) + x));
  d.labels = {0};
  std::vector<float> out(16);
  auto at = [&](int y, int x) { return out[y * 4 + x]; };
  Transform plain;
  const std::vector<float> table = pixel_table(plain, 1);

  // dy = 1, dx = -2: out(y, x) = in(y + 1, x - 2); row 3 and columns 0-1 come from padding.
  write_sample(d, 0, SampleAugment{1, -2, false}, table.data(), out.data());
  CHECK(at(0, 0) == 0.0f);
  CHECK(at(0, 1) == 0.0f);
  CHECK(at(0, 2) == unit(20));  // in(1, 0)
  CHECK(at(0, 3) == unit(21));  // in(1, 1)
  CHECK(at(2, 3) == unit(41));  // in(3, 1)
  for (int x = 0; x < 4; ++x) CHECK(at(3, x) == 0.0f);

  // Flip only: out(y, x) = in(y, 3 - x).
  write_sample(d, 0, SampleAugment{0, 0, true}, table.data(), out.data());
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) CHECK(at(y, x) == unit(10 * (y + 1) + 3 - x));

  // Crop then flip: out(y, x) = cropped(y, 3 - x) = in(y + dy, 3 - x + dx), dy = -1, dx = 1.
  write_sample(d, 0, SampleAugment{-1, 1, true}, table.data(), out.data());
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      const int sy = y - 1, sx = 3 - x + 1;
      const float expect = (sy >= 0 && sx < 4) ? unit(10 * (sy + 1) + sx) : 0.0f;
      INFO("y " << y << " x " << x);
      CHECK(at(y, x) == expect);
    }

  // With normalization the padding is normalized zero: (0 - mean) / std.
  Transform norm;
  norm.mean = {0.5};
  norm.std = {0.25};
  write_sample(d, 0, SampleAugment{4, 0, false}, pixel_table(norm, 1).data(), out.data());
  for (float v : out) CHECK(v == Approx(-2.0).margin(kNormTolerance));
}

TEST_CASE("draw_augment: ranges, modes and determinism") {
  Transform t;
  t.augment = Augment::crop_flip;
  std::set<int64_t> dys, dxs;
  int flips = 0;
  const int kSamples = 4000;
  for (int i = 0; i < kSamples; ++i) {
    SampleAugment a = draw_augment(t, 7, 3, i);
    CHECK(a.dy >= -4);
    CHECK(a.dy <= 4);
    CHECK(a.dx >= -4);
    CHECK(a.dx <= 4);
    dys.insert(a.dy);
    dxs.insert(a.dx);
    flips += a.flip;
  }
  CHECK(dys.size() == 9);  // every offset -4..4 occurs
  CHECK(dxs.size() == 9);
  // p = 0.5: 4000 fair coins land within 2000 +- 150 (5 standard deviations).
  CHECK(flips > 1850);
  CHECK(flips < 2150);

  // Same (seed, epoch, index) -> same draw; another epoch or seed -> other draws.
  int same_epoch = 0, other_epoch = 0, other_seed = 0;
  for (int i = 0; i < 100; ++i) {
    SampleAugment a = draw_augment(t, 7, 3, i), b = draw_augment(t, 7, 3, i);
    SampleAugment c = draw_augment(t, 7, 4, i), e = draw_augment(t, 8, 3, i);
    same_epoch += a.dy == b.dy && a.dx == b.dx && a.flip == b.flip;
    other_epoch += a.dy == c.dy && a.dx == c.dx && a.flip == c.flip;
    other_seed += a.dy == e.dy && a.dx == e.dx && a.flip == e.flip;
  }
  CHECK(same_epoch == 100);
  CHECK(other_epoch < 10);  // 1 in 162 chance per sample of an equal draw
  CHECK(other_seed < 10);

  t.augment = Augment::none;
  SampleAugment n = draw_augment(t, 7, 3, 5);
  CHECK((n.dy == 0 && n.dx == 0 && !n.flip));
  t.augment = Augment::flip;
  int flip_only = 0;
  for (int i = 0; i < 200; ++i) {
    SampleAugment a = draw_augment(t, 7, 3, i);
    CHECK((a.dy == 0 && a.dx == 0));
    flip_only += a.flip;
  }
  CHECK(flip_only > 50);
  CHECK(flip_only < 150);
  t.augment = Augment::crop;
  t.pad = 2;
  bool shifted = false;
  for (int i = 0; i < 200; ++i) {
    SampleAugment a = draw_augment(t, 7, 3, i);
    CHECK(!a.flip);
    CHECK(std::abs(a.dy) <= 2);
    CHECK(std::abs(a.dx) <= 2);
    shifted |= a.dy != 0 || a.dx != 0;
  }
  CHECK(shifted);
}

TEST_CASE("augment names and transform checks") {
  CHECK(parse_augment("none") == Augment::none);
  CHECK(parse_augment("flip") == Augment::flip);
  CHECK(parse_augment("crop") == Augment::crop);
  CHECK(parse_augment("crop+flip") == Augment::crop_flip);
  for (Augment a : {Augment::none, Augment::flip, Augment::crop, Augment::crop_flip})
    CHECK(parse_augment(augment_name(a)) == a);
  CHECK_THROWS_WITH(
      parse_augment("flip+crop"),
      Catch::Contains("'flip+crop'") && Catch::Contains("none, flip, crop or crop+flip"));

  Dataset d = random_dataset(1, 3, 2, 2, 1, 62);
  Transform t;
  t.mean = {0.5, 0.5};
  t.std = {0.2, 0.2};
  CHECK_THROWS_WITH(check_transform(t, d),
                    Catch::Contains("2 channels") && Catch::Contains("have 3"));
  t.mean = {0.5, 0.5, 0.5};
  CHECK_THROWS_WITH(check_transform(t, d), Catch::Contains("3 means but 2 standard deviations"));
  t.std = {0.2, 0.0, 0.2};
  CHECK_THROWS_WITH(check_transform(t, d), Catch::Contains("channel 1 is 0"));
  t.std = {0.2, 0.2, 0.2};
  t.pad = -1;
  CHECK_THROWS_WITH(check_transform(t, d), Catch::Contains("padding -1"));
  t.pad = 4;
  CHECK_NOTHROW(check_transform(t, d));
}
