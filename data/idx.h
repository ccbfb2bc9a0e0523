// idx files: the MNIST / Fashion-MNIST format, gzip'd (.gz) or not.
//
// An idx file is a big-endian header and raw bytes:
//   images (idx3): magic 0x00000803, n, rows, cols (int32 each), then n*rows*cols pixels
//   labels (idx1): magic 0x00000801, n, then n label bytes
// "08" is the element type (unsigned byte), the last byte the number of dims.
#pragma once

#include <string>

#include "data/dataset.h"

namespace taper {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// Loads an image file and its label file into a Dataset (1, rows, cols) with
// `classes` classes. Either file may be gzip'd: zlib reads plain files too.
// Throws Error naming the file on a wrong magic, a truncated or over-long
// file, a label count that differs from the image count, or a label >= classes.
Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 const std::string& name, int64_t classes = 10);

}  // namespace taper
