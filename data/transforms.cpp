#include "data/transforms.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/rng.h"

namespace taper {

// Keeps augmentation draws apart from other users of the same seed (the
// loader's shuffle uses Rng(seed, epoch)).
constexpr uint64_t kAugmentDomain = 0x6175676d656e7431ULL;  // "augment1"

ChannelStats channel_stats(const Dataset& d) {
  const int64_t C = d.channels, HW = d.height * d.width;
  // Exact integer sums of p and p^2 per channel (no rounding, no order
  // dependence); the division happens once, in double, at the end.
  std::vector<uint64_t> sum(C, 0), sum_sq(C, 0);
  for (int64_t i = 0; i < d.n; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* p = d.image(i) + c * HW;  // (H, W)
      uint64_t s = 0, s2 = 0;
      for (int64_t k = 0; k < HW; ++k) {
        s += p[k];
        s2 += uint64_t(p[k]) * p[k];
      }
      sum[c] += s;
      sum_sq[c] += s2;
    }
  ChannelStats st;
  st.mean.resize(C);
  st.std.resize(C);
  const double count = static_cast<double>(d.n) * HW;
  for (int64_t c = 0; c < C; ++c) {
    if (count == 0) continue;
    double mean = sum[c] / count / 255.0;
    double mean_sq = sum_sq[c] / count / (255.0 * 255.0);
    st.mean[c] = mean;
    st.std[c] = std::sqrt(std::max(0.0, mean_sq - mean * mean));
  }
  return st;
}

Augment parse_augment(const std::string& name) {
  if (name == "none") return Augment::none;
  if (name == "flip") return Augment::flip;
  if (name == "crop") return Augment::crop;
  if (name == "crop+flip") return Augment::crop_flip;
  fail("unknown augmentation '", name, "', expected none, flip, crop or crop+flip");
}

const char* augment_name(Augment a) {
  switch (a) {
    case Augment::none:
      return "none";
    case Augment::flip:
      return "flip";
    case Augment::crop:
      return "crop";
    case Augment::crop_flip:
      return "crop+flip";
  }
  return "?";
}

void check_transform(const Transform& t, const Dataset& d) {
  check(t.pad >= 0, d.name, ": crop padding ", t.pad, ", expected >= 0");
  check(t.mean.size() == t.std.size(), d.name, ": normalization has ", t.mean.size(), " means but ",
        t.std.size(), " standard deviations");
  if (t.mean.empty()) return;
  check(static_cast<int64_t>(t.mean.size()) == d.channels, d.name, ": normalization for ",
        t.mean.size(), " channels, the images have ", d.channels);
  for (size_t c = 0; c < t.std.size(); ++c)
    check(t.std[c] > 0, d.name, ": standard deviation of channel ", c, " is ", t.std[c],
          ", expected > 0");
}

SampleAugment draw_augment(const Transform& t, uint64_t seed, uint64_t epoch, int64_t index) {
  SampleAugment a;
  if (t.augment == Augment::none) return a;
  Rng rng(seed ^ kAugmentDomain, (epoch << 32) | static_cast<uint64_t>(index));
  if (t.augment == Augment::crop || t.augment == Augment::crop_flip) {
    const uint64_t span = 2 * t.pad + 1;
    a.dy = static_cast<int64_t>(rng.below(span)) - t.pad;
    a.dx = static_cast<int64_t>(rng.below(span)) - t.pad;
  }
  if (t.augment == Augment::flip || t.augment == Augment::crop_flip) a.flip = rng.uniform() < 0.5f;
  return a;
}

std::vector<float> pixel_table(const Transform& t, int64_t C) {
  std::vector<float> table(C * 256);  // (C, 256)
  for (int64_t c = 0; c < C; ++c)
    for (int p = 0; p < 256; ++p) {
      double v = p / 255.0;
      if (!t.mean.empty()) v = (v - t.mean[c]) / t.std[c];
      table[c * 256 + p] = static_cast<float>(v);
    }
  return table;
}

void write_sample(const Dataset& d, int64_t index, const SampleAugment& a, const float* table,
                  float* out) {
  const int64_t C = d.channels, H = d.height, W = d.width;
  const uint8_t* img = d.image(index);  // (C, H, W)
  for (int64_t c = 0; c < C; ++c) {
    const float* lut = table + c * 256;
    const float pad_value = lut[0];  // zero padding, converted like any pixel
    for (int64_t y = 0; y < H; ++y) {
      float* row = out + (c * H + y) * W;  // (W)
      const int64_t sy = y + a.dy;
      if (sy < 0 || sy >= H) {
        for (int64_t x = 0; x < W; ++x) row[x] = pad_value;
        continue;
      }
      const uint8_t* src = img + (c * H + sy) * W;  // (W)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = (a.flip ? W - 1 - x : x) + a.dx;
        row[x] = (sx >= 0 && sx < W) ? lut[src[sx]] : pad_value;
      }
    }
  }
}

}  // namespace taper
