// A seeded hold-out split: the paper's protocol keeps 10% of the CIFAR-10
// training set for validation (the test accuracy is read at the best
// validation epoch).
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace taper {

// Splits `all` into train and val. val gets round(n * fraction) samples (at
// most n - 1, so train is never empty unless all is), chosen by a seeded
// permutation; both parts keep the original order of their samples.
// fraction in [0, 1); fraction 0 gives an empty val and train = all.
void split_validation(const Dataset& all, double fraction, uint64_t seed, Dataset& train,
                      Dataset& val);

}  // namespace taper
