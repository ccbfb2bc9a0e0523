// Per-sample transforms: uint8 pixels -> float, normalization, augmentation.
//
// For one sample of a Dataset (C, H, W uint8) the output (C, H, W float) is
//
//   out[c][y][x] = norm_c( P[c][y + dy][x' + dx] / 255 ),  x' = flip ? W-1-x : x
//
// where P is the image zero-padded by `pad` on each side (0 outside it),
// (dy, dx) in [-pad, pad]^2 is the random crop offset (0 without cropping),
// and norm_c(v) = (v - mean[c]) / std[c] (identity without normalization).
// This is torchvision's RandomCrop(H, padding=pad) -> RandomHorizontalFlip ->
// ToTensor -> Normalize: padding happens on raw pixels, so a padded pixel
// becomes norm_c(0), not 0.
//
// The random choices of a sample come from its own generator,
// Rng(seed ^ kAugmentDomain, epoch << 32 | index), so they depend only on
// (seed, epoch, sample index), never on the thread or the batch that does
// the work.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace taper {

// Per-channel mean and standard deviation (population, divide by N) over
// every pixel of every image, in [0, 1] units.
struct ChannelStats {
  std::vector<double> mean, std;  // (C)
};
ChannelStats channel_stats(const Dataset& d);

enum class Augment { none, flip, crop, crop_flip };
Augment parse_augment(const std::string& name);  // "none" | "flip" | "crop" | "crop+flip"
const char* augment_name(Augment a);

struct Transform {
  Augment augment = Augment::none;
  int64_t pad = 4;                // crop: zero padding on each side, then crop back to H x W
  std::vector<double> mean, std;  // (C) normalize with these; both empty: no normalization
};

// Throws Error unless t fits d: mean/std empty or of size C with std > 0, pad >= 0.
void check_transform(const Transform& t, const Dataset& d);

// The random choices for one sample.
struct SampleAugment {
  int64_t dy = 0, dx = 0;  // crop offset, each in [-pad, pad]
  bool flip = false;       // mirror left-right
};

// Draws the crop offset (dy, then dx, each uniform over 2*pad+1 values) when
// t crops and the flip (probability 0.5) when t flips.
SampleAugment draw_augment(const Transform& t, uint64_t seed, uint64_t epoch, int64_t index);

// The (C, 256) table of norm_c(p / 255) for every byte value p: the whole
// conversion of a pixel is one lookup.
std::vector<float> pixel_table(const Transform& t, int64_t C);

// Writes sample `index` of d, augmented by a, into out (C, H, W).
// table is pixel_table(t, d.channels).
void write_sample(const Dataset& d, int64_t index, const SampleAugment& a, const float* table,
                  float* out);

}  // namespace taper
