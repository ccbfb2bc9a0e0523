#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/rng.h"

namespace taper {

// Its own stream, so the split does not follow the loader's epoch-0 shuffle
// (Rng(seed, 0)) when both use the same seed.
constexpr uint64_t kSplitStream = 0x73706c6974ULL;  // "split"

void split_validation(const Dataset& all, double fraction, uint64_t seed, Dataset& train,
                      Dataset& val) {
  check(fraction >= 0.0 && fraction < 1.0, all.name, ": validation fraction ", fraction,
        ", expected in [0, 1)");
  const int64_t n = all.n;
  int64_t n_val = static_cast<int64_t>(std::llround(n * fraction));
  n_val = std::max<int64_t>(0, std::min(n_val, n - 1));

  std::vector<int64_t> order(n);  // (n) a seeded permutation of 0..n-1
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed, kSplitStream);
  rng.shuffle(order);
  // The first n_val of the permutation are validation, the rest training.
  std::vector<int64_t> val_idx(order.begin(), order.begin() + n_val);
  std::vector<int64_t> train_idx(order.begin() + n_val, order.end());
  std::sort(val_idx.begin(), val_idx.end());
  std::sort(train_idx.begin(), train_idx.end());
  // Build both before assigning, so `all` may be one of the outputs.
  Dataset t = subset(all, train_idx), v = subset(all, val_idx);
  train = std::move(t);
  val = std::move(v);
}

}  // namespace taper
