// A small MNIST-format data set of block images that CLI tests write
// themselves (TAPER_DATA points the data cache at it): a task a small CNN
// separates in a few epochs.
#pragma once

#include <stdlib.h>

#include <tuple>

#include "data_fixtures.h"
#include "engine/rng.h"
#include "support/temp_dir.h"

namespace taper::testing {

// Class c draws a bright 7x7 block in cell c of a 4x3 grid (plus noise): a
// task a small CNN separates in a few epochs.
inline Bytes block_images(int n, uint64_t seed, Bytes& labels) {
  Rng rng(seed);
  Bytes px(static_cast<size_t>(n) * 28 * 28);
  labels.resize(n);
  for (int i = 0; i < n; ++i) {
    int c = static_cast<int>(rng.below(10));
    labels[i] = static_cast<uint8_t>(c);
    uint8_t* img = &px[static_cast<size_t>(i) * 784];
    for (int k = 0; k < 784; ++k) img[k] = static_cast<uint8_t>(rng.below(60));
    int r0 = (c / 4) * 9 + 1, c0 = (c % 4) * 7;
    for (int y = r0; y < r0 + 7; ++y)
      for (int x = c0; x < c0 + 7; ++x) img[y * 28 + x] = static_cast<uint8_t>(180 + rng.below(70));
  }
  return px;
}

// A data cache holding "mnist" made of block images; TAPER_DATA points at it.
struct BlockData {
  TempDir dir;
  BlockData() {
    for (auto [prefix, n, seed] : {std::tuple{"train", 480, 1}, std::tuple{"t10k", 160, 2}}) {
      Bytes labels;
      Bytes px = block_images(n, seed, labels);
      write_bytes(dir / ("mnist/" + std::string(prefix) + "-images-idx3-ubyte"), idx_images(n, 28, 28, px));
      write_bytes(dir / ("mnist/" + std::string(prefix) + "-labels-idx1-ubyte"), idx_labels(n, labels));
    }
    setenv("TAPER_DATA", dir.path().c_str(), 1);
  }
};

}  // namespace taper::testing
