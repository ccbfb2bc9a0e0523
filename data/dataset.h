// Dataset — a whole image data set in memory, as the files store it.
//
// Images stay uint8: CIFAR-10's 50,000 training images are 150 MB as bytes
// and would be 600 MB as float. The loader converts one batch at a time
// (data/transforms.h, data/loader.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taper {

struct Dataset {
  std::string name;  // "mnist", "cifar10", "folder:/data/imagenet", ...
  int64_t n = 0, channels = 0, height = 0, width = 0;
  int64_t classes = 0;
  std::vector<uint8_t> pixels;  // (n, C, H, W) uint8
  std::vector<int64_t> labels;  // (n), each in [0, classes)

  int64_t sample_size() const { return channels * height * width; }  // C * H * W
  const uint8_t* image(int64_t i) const { return pixels.data() + i * sample_size(); }
};

// Throws Error (naming `what`) unless the buffers have the sizes n, C, H, W
// say and every label is in [0, classes).
void check_dataset(const Dataset& d, const std::string& what);

// The samples at `indices`, in that order (same name, shape and classes).
Dataset subset(const Dataset& d, const std::vector<int64_t>& indices);

}  // namespace taper
