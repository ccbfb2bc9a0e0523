// The original CIFAR-10 / CIFAR-100 binary format.
//
// A file is a run of fixed-size records, no header:
//   CIFAR-10  (data_batch_1..5.bin, test_batch.bin): 1 label byte, 3072 pixel bytes
//   CIFAR-100 (train.bin, test.bin): 1 coarse label byte (0..19), 1 fine label
//             byte (0..99), 3072 pixel bytes — taper uses the fine label
// The 3072 pixels are the 32x32 image as three planes, R then G then B, each
// row-major: already (C, H, W).
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace taper {

enum class CifarKind { cifar10, cifar100 };

// Loads and concatenates the given files. Throws Error naming the file when it
// is empty or not a whole number of records (truncated), or a label is out of
// range.
Dataset load_cifar_binary_files(const std::vector<std::string>& paths, CifarKind kind);

// dir/data_batch_1..5.bin or dir/test_batch.bin (split "train" | "test").
Dataset load_cifar10_binary(const std::string& dir, const std::string& split);
// dir/train.bin or dir/test.bin.
Dataset load_cifar100_binary(const std::string& dir, const std::string& split);

}  // namespace taper
