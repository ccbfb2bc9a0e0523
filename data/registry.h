// Data set names -> loaders. One string (a "spec") picks a data set:
//
//   mnist | fashion-mnist | cifar10     from the data cache (data_dir()),
//                                       installed by scripts/get-data.sh NAME
//   cifar10-bin:DIR                     original CIFAR-10 binary batches in DIR
//   cifar100-bin:DIR                    CIFAR-100 binary train.bin/test.bin in DIR
//   folder:DIR  or  folder:DIR@SIZE     image folders DIR/train and DIR/val
//                                       (or DIR/test), images SIZE x SIZE
//                                       (default 224)
#pragma once

#include <string>

#include "data/dataset.h"

namespace taper {

// The data cache: $TAPER_DATA, else $HOME/.cache/taper.
std::string data_dir();

// Loads split "train" or "test" of the data set named by spec. A cached data
// set that is not installed throws Error with the command that installs it; an
// unknown spec throws Error listing the valid ones.
Dataset load_dataset(const std::string& spec, const std::string& split);

}  // namespace taper
